//! `prefopt train` on TRL-format datasets end to end, against the Llama fixture checkpoint with
//! a chat template: DPO with LoRA on conversational pairs, KTO on unpaired rows, S-DPO with
//! three rejected completions and full fine-tuning; what each run writes (TRL's metric names
//! in the logs and in `results.json`, the adapter, the merged checkpoint); bad rows refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{chat_checkpoint, generate};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prefopt-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn prefopt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prefopt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(out: &Path, name: &str, model: &Path, data: &Path, body: &str) -> PathBuf {
    config_with_epochs(out, name, model, data, body, 3)
}

fn config_with_epochs(
    out: &Path,
    name: &str,
    model: &Path,
    data: &Path,
    body: &str,
    epochs: usize,
) -> PathBuf {
    let path = out.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "seed = 1\nmodel = \"{}\"\n{body}\n[data]\ntrain = \"{}\"\neval = \"{}\"\n\
             [preference.train]\nepochs = {epochs}\nbatch_size = 8\nlr = 5e-3\n[eval]\nbatch_size = 16\n",
            model.display(),
            data.display(),
            data.display()
        ),
    )
    .unwrap();
    path
}

fn train(config: &Path, out: &Path) -> serde_json::Value {
    ok(&prefopt(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    serde_json::from_str(&read(&out.join("results.json"))).unwrap()
}

fn held_out(results: &serde_json::Value, metric: &str) -> f64 {
    results["eval"][metric].as_f64().unwrap_or_else(|| {
        panic!(
            "results.json has no eval[\"{metric}\"]: {}",
            results["eval"]
        )
    })
}

/// One JSON object per line of a training log.
fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    read(path)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn dpo_with_lora_learns_a_conversational_preference_and_writes_trl_metrics() {
    let out = scratch("dpo");
    let checkpoint = chat_checkpoint(&out);
    let data = generate(&out, "pairs", &[]);
    let config = config(
        &out,
        "dpo",
        &checkpoint,
        &data,
        "lora = { rank = 8, alpha = 16.0 }\n[preference]\nobjective = { loss = \"dpo\", beta = 0.1 }",
    );
    let run = out.join("run");
    let results = train(&config, &run);
    let accuracy = held_out(&results, "rewards/accuracies");
    assert!(accuracy > 0.75, "held-out reward accuracy {accuracy}");
    assert!(held_out(&results, "rewards/margins") > 0.0);
    let report = read(&run.join("results.md"));
    assert!(
        report.contains("| before | the starting model | 0.000 ± 0.000 |"),
        "{report}"
    );
    assert!(
        report.contains("| dpo/sigmoid | 18 updates, LoRA r8 |"),
        "{report}"
    );
    assert!(report.contains("conversational pairs"), "{report}");
    let lines = log_lines(&run.join("logs/preference.jsonl"));
    let update = &lines[0];
    for name in [
        "loss",
        "grad_norm",
        "learning_rate",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "logps/chosen",
        "logps/rejected",
    ] {
        assert!(update.get(name).is_some(), "no `{name}` in {update}");
    }
    let evaluations: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("eval").is_some()).collect();
    assert_eq!(evaluations.len(), 6, "twice per epoch");
    assert!(evaluations[0].get("eval_rewards/accuracies").is_some());
    assert!(evaluations[0].get("eval_loss").is_some());
    for file in [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "policy-hf/model.safetensors",
        "policy-hf/config.json",
        "train_loss.svg",
        "eval_accuracy.svg",
        "config.toml",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    // The merged checkpoint is the trained policy: a run starting from it measures, before
    // training, the log-prob accuracy this run measured after.
    let again = config_from(&out, &run.join("policy-hf"), &data);
    let second = train(&again, &out.join("again"));
    let before: serde_json::Value = second["sections"][0]["table"]["rows"][0].clone();
    let after: serde_json::Value = results["sections"][0]["table"]["rows"][1].clone();
    let mean =
        |row: &serde_json::Value| row["metrics"]["logps/accuracies"]["mean"].as_f64().unwrap();
    assert!(
        (mean(&before) - mean(&after)).abs() < 1e-9,
        "{before} vs {after}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

fn config_from(out: &Path, model: &Path, data: &Path) -> PathBuf {
    config(
        out,
        "again",
        model,
        data,
        "[preference]\nobjective = { loss = \"dpo\", beta = 0.1 }",
    )
}

#[test]
fn kto_learns_from_unpaired_rows_after_sft_on_the_desirable_ones() {
    let out = scratch("kto");
    let checkpoint = chat_checkpoint(&out);
    let data = generate(&out, "unpaired", &["--unpaired"]);
    let config = config(
        &out,
        "kto",
        &checkpoint,
        &data,
        "lora = { rank = 8, alpha = 16.0 }\n[preference]\nobjective = { loss = \"kto\", beta = 0.1 }\n\
         [text]\nsft_first = true\n[sft]\nepochs = 1\nbatch_size = 8\nlr = 1e-3",
    );
    let run = out.join("run");
    let results = train(&config, &run);
    let accuracy = held_out(&results, "rewards/accuracies");
    assert!(accuracy > 0.75, "held-out reward accuracy {accuracy}");
    assert!(held_out(&results, "kl") >= 0.0);
    let report = read(&run.join("results.md"));
    assert!(
        report.contains("conversational unpaired completions: 96 train / 48 eval"),
        "{report}"
    );
    let lines = log_lines(&run.join("logs/preference.jsonl"));
    assert!(lines[0].get("kl").is_some() && lines[0].get("rewards/margins").is_some());
    // SFT first, on the desirable completions only (48 rows: 6 updates of 8).
    assert!(
        report.contains("SFT on the chosen completions first"),
        "{report}"
    );
    assert_eq!(log_lines(&run.join("logs/sft.jsonl")).len(), 6);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn sdpo_with_three_rejected_learns_with_full_fine_tuning() {
    let out = scratch("sdpo");
    let checkpoint = chat_checkpoint(&out);
    let data = generate(
        &out,
        "k3",
        &["--negatives", "3", "--text-format", "standard"],
    );
    let config = config(
        &out,
        "sdpo",
        &checkpoint,
        &data,
        "[preference]\nobjective = { loss = \"sdpo\", beta = 0.1 }",
    );
    let run = out.join("run");
    let results = train(&config, &run);
    let accuracy = held_out(&results, "rewards/accuracies");
    assert!(accuracy > 0.75, "held-out reward accuracy {accuracy}");
    let report = read(&run.join("results.md"));
    assert!(report.contains("standard pairs"), "{report}");
    assert!(report.contains("full fine-tuning"), "{report}");
    assert!(!run.join("adapter").exists(), "no adapter without LoRA");
    assert!(run.join("policy-hf/model.safetensors").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_rows_and_mismatched_losses_are_errors_that_name_them() {
    let out = scratch("bad");
    let checkpoint = chat_checkpoint(&out);
    let mixed = out.join("mixed.jsonl");
    std::fs::write(
        &mixed,
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"Yes\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"No\"}]}\n\
         {\"prompt\": \"Hi\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n",
    )
    .unwrap();
    let bad = config(&out, "mixed", &checkpoint, &mixed, "");
    let output = prefopt(&[
        "train",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        out.join("x").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("mixed.jsonl: row 1, column `row`: this row is standard paired"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let data = generate(&out, "unpaired", &["--unpaired"]);
    let dpo = config(
        &out,
        "dpo-on-unpaired",
        &checkpoint,
        &data,
        "[preference]\nobjective = { loss = \"dpo\" }",
    );
    let output = prefopt(&[
        "train",
        "--config",
        dpo.to_str().unwrap(),
        "--out",
        out.join("y").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("unpaired rows (prompt/completion/label) train only KTO-family losses"),
        "{stderr}"
    );
    assert!(
        stderr.contains("train-00000-of-00001.parquet: row 0"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// Rows with `user_id` whose prompts do not say which style the user wants: P-DPO's user model
/// learns each user's style, reported per user.
#[test]
fn pdpo_learns_each_users_unstated_preference_with_a_user_model() {
    let out = scratch("pdpo");
    let checkpoint = chat_checkpoint(&out);
    let dir = out.join("users");
    ok(&prefopt(&[
        "data",
        "generate",
        "stated-style",
        "--output",
        dir.to_str().unwrap(),
        "--rows",
        "128",
        "--test-rows",
        "48",
        "--users",
        "2",
        "--styles",
        "capitals,lowercase",
    ]));
    let config = config_with_epochs(
        &out,
        "pdpo",
        &checkpoint,
        &dir,
        "lora = { rank = 8, alpha = 16.0 }\n[preference]\nobjective = { loss = \"pdpo\", beta = 0.1 }",
        4,
    );
    let run = out.join("run");
    let results = train(&config, &run);
    let accuracy = held_out(&results, "rewards/accuracies");
    assert!(accuracy > 0.8, "held-out reward accuracy {accuracy}");
    for user in ["rewards/accuracies/user_1", "rewards/accuracies/user_2"] {
        assert!(
            held_out(&results, user) > 0.75,
            "{user}: {}",
            results["eval"]
        );
    }
    let report = read(&run.join("results.md"));
    assert!(
        report.contains("| user 1 |") && report.contains("| user 2 |"),
        "{report}"
    );
    let users: serde_json::Value = serde_json::from_str(&read(&run.join("users.json"))).unwrap();
    assert_eq!(users["dataset_user_ids"], serde_json::json!([1, 2]));
    assert!(run.join("users.safetensors").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

/// Every loss of `LOSS_NAMES` trains on TRL rows through the same pipeline, on pairs and on
/// three rejected completions: pairwise, K-negative, reference-free, listwise (LiPO-λ reads
/// chosen-first labels), RPO (prompt embeddings from the starting model), KTO (the pairs
/// unpaired), RosePO (the rows' `smoothing`), P-DPO (rows with `user_id`).
#[test]
fn every_loss_trains_on_trl_rows() {
    use prefopt_data::synthetic::{StatedStyleSpec, Style};
    use prefopt_data::trl::{Format, TrlDataset, TrlRows, write_parquet};
    use prefopt_experiments::config::ExperimentConfig;
    use prefopt_objectives::{LOSS_NAMES, ObjectiveConfig};

    let out = scratch("every-loss");
    let checkpoint =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/models/tests/fixtures/hf/llama-tiny");
    let write = |name: &str, negatives: usize, users: Option<usize>| -> PathBuf {
        let dir = out.join(name);
        StatedStyleSpec {
            train_rows: 12,
            test_rows: 6,
            negatives,
            format: Format::Standard,
            styles: vec![
                Style::Capitals,
                Style::Lowercase,
                Style::OneWord,
                Style::Polite,
            ],
            users,
            ..StatedStyleSpec::default()
        }
        .write(&dir)
        .unwrap();
        // Every row with a smoothing factor (RosePO's oracle output).
        for split in ["train", "test"] {
            let mut data = TrlDataset::read(&dir, split).unwrap();
            if let TrlRows::Paired(rows) = &mut data.rows {
                for row in rows.iter_mut() {
                    row.extras.smoothing = Some(0.1);
                }
            }
            write_parquet(&data.rows, data.format, &data.files[0]).unwrap();
        }
        dir
    };
    let datasets = [
        (
            "pairs",
            write("pairs", 1, None),
            write("pairs-users", 1, Some(3)),
        ),
        (
            "three rejected",
            write("k3", 3, None),
            write("k3-users", 3, Some(4)),
        ),
    ];
    for (shape, data, with_users) in &datasets {
        for name in LOSS_NAMES {
            let objective = ObjectiveConfig::from_name(name).unwrap();
            let mut config = ExperimentConfig::default();
            config.model.checkpoint = Some(checkpoint.clone());
            let data = if name == "pdpo" { with_users } else { data };
            config.data.train = Some(data.clone());
            config.data.eval = Some(data.clone());
            config.preference.objective = objective;
            config.preference.train.batch_size = 4;
            config.eval.batch_size = 8;
            let run = out.join(format!("run-{}", name.replace(['/', '+'], "-")));
            prefopt_experiments::text::train_text(config, &run, false)
                .unwrap_or_else(|e| panic!("{name} on {shape}: {e}"));
            let results: serde_json::Value =
                serde_json::from_str(&read(&run.join("results.json"))).unwrap();
            let loss = results["eval"]["loss"].as_f64();
            assert!(
                loss.is_some_and(f64::is_finite),
                "{name} on {shape}: eval {}",
                results["eval"]
            );
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// A run stopped after a few updates and resumed from its checkpoint ends where an
/// uninterrupted run ends: the same held-out metrics, bit for bit.
#[test]
fn a_stopped_and_resumed_text_run_ends_as_an_uninterrupted_one() {
    let out = scratch("resume");
    let checkpoint = chat_checkpoint(&out);
    let data = generate(&out, "pairs", &[]);
    let body = |extra: &str| {
        format!(
            "lora = {{ rank = 8, alpha = 16.0 }}\n[preference]\nobjective = {{ loss = \"dpo\", beta = 0.1 }}\n\
             [preference.train]\nepochs = 2\nbatch_size = 8\nlr = 5e-3\ncheckpoint_dir = \"{}\"\n{extra}\n\
             [data]\ntrain = \"{}\"\neval = \"{}\"\n",
            out.join("checkpoints").display(),
            data.display(),
            data.display()
        )
    };
    let write = |name: &str, extra: &str| {
        let path = out.join(name);
        std::fs::write(
            &path,
            format!(
                "seed = 1\nmodel = \"{}\"\n{}",
                checkpoint.display(),
                body(extra)
            ),
        )
        .unwrap();
        path
    };
    let whole = train(&write("whole.toml", ""), &out.join("whole"));
    std::fs::remove_dir_all(out.join("checkpoints")).unwrap();
    let stopped = train(&write("stop.toml", "stop_after = 5"), &out.join("stopped"));
    let resumed = train(&write("resume.toml", "resume = true"), &out.join("resumed"));
    let settings = |r: &serde_json::Value| r["sections"][0]["table"]["rows"][1]["settings"].clone();
    assert_eq!(settings(&stopped), "5 updates, LoRA r8");
    assert_eq!(settings(&resumed), "12 updates, LoRA r8");
    // The resumed process ran updates 6 to 12 only.
    let steps: Vec<u64> = log_lines(&out.join("resumed/logs/preference.jsonl"))
        .iter()
        .filter(|l| l.get("eval").is_none())
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (6..=12).collect::<Vec<_>>());
    assert_ne!(stopped["eval"], whole["eval"]);
    assert_eq!(whole["eval"], resumed["eval"]);
    std::fs::remove_dir_all(&out).unwrap();
}
