//! Runs the `losses` demo binary end to end, as the README tells a new user to.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_losses"))
        .args(args)
        .output()
        .expect("the losses binary runs")
}

#[test]
fn prints_one_row_per_loss_with_correct_gradient_signs() {
    let output = run(&["--batch", "16", "--negatives", "3", "--seed", "7"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| loss"))
        .collect();
    assert_eq!(rows.len(), 31, "{table}");
    for name in [
        "dpo/sigmoid",
        "sdpo",
        "dmpo",
        "rosepo",
        "rpo/paired",
        "lipo/lambda",
        "kto/kto",
        "orpo",
        "cpo/simpo",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("| {name} |"))),
            "{name} missing:\n{table}"
        );
    }
    // The generated policy prefers the chosen responses: DPO's reward accuracy is high, and its
    // gradient lowers the loss by raising chosen and lowering rejected log-probs.
    let dpo: Vec<&str> = rows
        .iter()
        .find(|r| r.starts_with("| dpo/sigmoid |"))
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    let accuracy: f64 = dpo[3].parse().unwrap();
    let chosen_gradient: f64 = dpo[5].parse().unwrap();
    let rejected_gradient: f64 = dpo[6].parse().unwrap();
    assert!(accuracy > 0.6, "{table}");
    assert!(chosen_gradient < 0.0 && rejected_gradient > 0.0, "{table}");
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message() {
    let output = run(&["--negatives", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--negatives"));
    let output = run(&["--losses", "not_a_loss"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown loss"));
}
