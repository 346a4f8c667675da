//! `prefopt data generate | convert | inspect` end to end, as docs/data.md shows them.

use std::path::PathBuf;
use std::process::{Command, Output};

fn prefopt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prefopt"))
        .args(args)
        .output()
        .expect("the prefopt binary runs")
}

/// A fresh temporary folder, removed when dropped (also when the test fails).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("prefopt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn generate_then_inspect_a_sequential_dataset() {
    let out = scratch("generate");
    let path = out.to_str().unwrap();
    let result = prefopt(&[
        "data",
        "generate",
        "sequential",
        "--output",
        path,
        "--users",
        "40",
        "--items",
        "150",
        "--negatives",
        "3",
        "--seed",
        "4",
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let summary = text(&result.stdout);
    assert!(
        summary.contains("test") && summary.contains("40 rows"),
        "{summary}"
    );
    let train = out.join("train.parquet");
    let result = prefopt(&["data", "inspect", train.to_str().unwrap()]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let report = text(&result.stdout);
    assert!(report.contains("rejected_items: List"), "{report}");
    assert!(
        report.contains("rejected per row: min 3 / mean 3.00 / max 3"),
        "{report}"
    );
    assert!(
        report.contains("candidates:       min 20 / mean 20.00 / max 20"),
        "{report}"
    );
    assert!(report.contains("every row passed validation"), "{report}");
    for kind in ["conflicting", "basis-rewards"] {
        let folder = scratch(kind);
        let result = prefopt(&[
            "data",
            "generate",
            kind,
            "--output",
            folder.to_str().unwrap(),
            "--users",
            "10",
        ]);
        assert!(result.status.success(), "{kind}: {}", text(&result.stderr));
        assert!(folder.join("train.parquet").is_file());
    }
}

#[test]
fn convert_movielens_100k_folder() {
    let input = scratch("ml100k-in");
    let mut data = String::new();
    for user in 1..=5 {
        for step in 0..10 {
            data += &format!(
                "{user}\t{}\t4\t{}\n",
                1 + (user * 3 + step * 7) % 40,
                1000 + step * 60 + user
            );
        }
    }
    std::fs::write(input.join("u.data"), data).unwrap();
    let mut items = Vec::new();
    for item in 1..=40 {
        items.extend(format!("{item}|Film {item}, The (1995)|01-Jan-1995||http://x|0|1\n").bytes());
    }
    items.extend(b"41|Caf\xe9 au lait (1993)|01-Jan-1993||http://x|0|1\n");
    std::fs::write(input.join("u.item"), items).unwrap();
    let output = scratch("ml100k-out");
    let result = prefopt(&[
        "data",
        "convert",
        "--format",
        "movielens-100k",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--negatives",
        "2",
        "--candidates",
        "8",
        "--history",
        "5",
        "--clean-titles",
        "--split",
        "leave-last-out",
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let summary = text(&result.stdout);
    assert!(
        summary.contains("train") && summary.contains("items         41"),
        "{summary}"
    );
    for file in ["train", "valid", "test", "items", "users"] {
        assert!(output.join(format!("{file}.parquet")).is_file(), "{file}");
    }
    let result = prefopt(&[
        "data",
        "inspect",
        output.join("test.parquet").to_str().unwrap(),
        "--num-items",
        "41",
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(
        text(&result.stdout).contains("rows:             5"),
        "{}",
        text(&result.stdout)
    );
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let missing = scratch("missing");
    let output = scratch("missing-out");
    let result = prefopt(&[
        "data",
        "convert",
        "--format",
        "movielens-1m",
        "--input",
        missing.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let message = text(&result.stderr);
    assert!(
        message.starts_with("error: ") && message.contains("ratings.dat"),
        "{message}"
    );
    assert!(
        !message.contains("panicked") && !message.contains("backtrace"),
        "{message}"
    );

    let result = prefopt(&[
        "data",
        "convert",
        "--format",
        "movielens-1m",
        "--input",
        missing.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--negatives",
        "20",
    ]);
    assert!(!result.status.success());
    assert!(
        text(&result.stderr).contains("negatives"),
        "{}",
        text(&result.stderr)
    );

    let not_parquet = missing.join("x.parquet");
    std::fs::write(&not_parquet, "nope").unwrap();
    let result = prefopt(&["data", "inspect", not_parquet.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(
        text(&result.stderr).contains("x.parquet"),
        "{}",
        text(&result.stderr)
    );
}
