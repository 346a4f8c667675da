//! The experiment binaries end to end on a tiny config: `reproduce` writes every output file
//! with every table row, `prefopt train|eval|score` round-trips a saved model, and bad input is
//! an error message, not a panic.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("prefopt-experiments-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary)
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

/// `prefopt train` into `out/train`, then `prefopt eval` of the saved policy into `out/eval`;
/// returns both reports.
fn train_then_eval(config: &str, out: &Path) -> (String, String) {
    let prefopt = env!("CARGO_BIN_EXE_prefopt");
    let train_dir = out.join("train");
    ok(&run(
        prefopt,
        &[
            "train",
            "--config",
            config,
            "--out",
            train_dir.to_str().unwrap(),
        ],
    ));
    let eval_dir = out.join("eval");
    let policy = train_dir.join("policy.safetensors");
    ok(&run(
        prefopt,
        &[
            "eval",
            "--config",
            config,
            "--checkpoint",
            policy.to_str().unwrap(),
            "--out",
            eval_dir.to_str().unwrap(),
        ],
    ));
    (
        read(&train_dir.join("results.md")),
        read(&eval_dir.join("results.md")),
    )
}

/// The first metric column (HR@1) of a method's row in a report.
fn first_metric(report: &str, method: &str) -> String {
    report
        .lines()
        .find(|l| l.starts_with(&format!("| {method} |")))
        .map(|l| l.split('|').nth(3).unwrap().trim().to_string())
        .unwrap_or_else(|| panic!("no row `{method}` in\n{report}"))
}

#[test]
fn reproduce_writes_the_report_of_every_table() {
    let out = scratch("reproduce");
    let output = run(
        env!("CARGO_BIN_EXE_reproduce"),
        &[
            "--config",
            "tests/tiny.toml",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&output);
    let report = read(&out.join("results.md"));
    for expected in [
        "| SFT |",
        "| DPO | K=1, β=1 |",
        "| S-DPO | K=3, β=1 |",
        "| DMPO | K=3, β=1 |",
        "| DMPO (official pairwise) |",
        "| DynamicPO |",
        "| LiPO-λ |",
        "| S-DPO | K=3, β=0.5 |",
        "| Popularity |",
        "| Item-kNN |",
        "| RosePO self-hard |",
        "| RosePO semantic |",
        "| RosePO popularity |",
        "| RosePO all three |",
        "| cDPO (constant ε) |",
        "| RosePO (oracle ε) |",
        "git revision",
        "seed | 3",
        "paper's claim",
        "| DPO | β 0.5, no user tokens |",
        "| P-DPO individual | α 0.5, T_u 1 |",
        "| P-DPO cluster 2 | α 0.5, T_u 1 |",
        "| shared BT | rank 1 |",
        "| LoRe | rank 2 |",
        "| per-user rewards |",
        "Principal angles",
        "Personalized re-ranking",
        "| DPO | B 4 |",
        "| RPO paired | τ 0.5, B 4 |",
        "| RPO uniform |",
        "| RPO diagonal |",
        "| RPO unpaired |",
        "| RPO paired | τ 0.5, B 8 |",
        "| τ 0.5 | B 2 |",
    ] {
        assert!(
            report.contains(expected),
            "`{expected}` missing from results.md:\n{report}"
        );
    }
    // Every plot the report links exists and is an SVG.
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let file = &line[line.find("](").unwrap() + 2..line.len() - 1];
        assert!(read(&out.join(file)).starts_with("<svg"), "{file}");
    }
    // CSV: numbers in range, one HR@1 line per row of every table.
    let csv = read(&out.join("results.csv"));
    let hr_lines: Vec<&str> = csv.lines().filter(|l| l.contains(",HR@1,")).collect();
    assert!(hr_lines.len() >= 17, "{csv}");
    for line in &hr_lines {
        let mean: f64 = line.rsplit(',').nth(3).unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&mean), "{line}");
    }
    let json: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(json["meta"]["seed"], 3);
    assert_eq!(json["sections"].as_array().unwrap().len(), 5);
    // The personalization data were written and read back through the Parquet readers.
    for file in [
        "prlhf/train.parquet",
        "lore/test.parquet",
        "rpo/train.parquet",
    ] {
        assert!(out.join("data").join(file).is_file(), "{file}");
    }
    // The written config repeats the run.
    let config = read(&out.join("config.toml"));
    assert!(config.contains("max_train = 160"), "{config}");
    // One JSONL log per training run: SFT and 15 preference runs (recommendation); SFT, DPO
    // and 2 P-DPO runs (P-RLHF, each with its saved user model); SFT and 9 runs (RPO).
    let logs: Vec<String> = out
        .join("logs")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |suffix: &str| logs.iter().filter(|f| f.ends_with(suffix)).count();
    // Beside each recommendation run's log, its greedy test answers.
    assert_eq!(count(".answers.jsonl"), 16, "{logs:?}");
    assert_eq!(
        count(".jsonl") - count(".answers.jsonl"),
        16 + 4 + 10,
        "{logs:?}"
    );
    assert_eq!(count(".users.safetensors"), 2, "{logs:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn prefopt_train_eval_and_score_round_trip_a_model() {
    let out = scratch("pipeline");
    let config = out.with_extension("toml");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        &config,
        read(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tiny.toml")))
            .replace("../datasets", concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets"))
            + "\n[preference]\nobjective = { loss = \"dmpo\", beta = 1.0 }\nnegatives = 2\nrejected = [\"popularity\"]\n",
    )
    .unwrap();
    let prefopt = env!("CARGO_BIN_EXE_prefopt");
    let config = config.to_str().unwrap();
    let (report, evaluated) = train_then_eval(config, &out);
    assert!(report.contains("| dmpo | K=2 |"), "{report}");
    let policy = out.join("train/policy.safetensors");
    // The saved policy evaluates to the numbers `train` reported for it.
    assert_eq!(
        first_metric(&evaluated, "policy"),
        first_metric(&report, "dmpo")
    );
    // Ranking batches and greedy answers computed on threads: the same results with 1 thread
    // and with 3.
    let evaluated_on = |threads: usize| {
        let with_threads = out.join(format!("threads-{threads}.toml"));
        std::fs::write(
            &with_threads,
            read(Path::new(config)).replace(
                "[eval]\n",
                &format!("[eval]\nthreads = {threads}\nbatch_size = 8\n"),
            ),
        )
        .unwrap();
        let dir = out.join(format!("eval-{threads}"));
        ok(&run(
            prefopt,
            &[
                "eval",
                "--config",
                with_threads.to_str().unwrap(),
                "--checkpoint",
                policy.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
            ],
        ));
        let json: serde_json::Value =
            serde_json::from_str(&read(&dir.join("results.json"))).unwrap();
        (read(&dir.join("results.csv")), json["sections"].clone())
    };
    let (one, three) = (evaluated_on(1), evaluated_on(3));
    assert!(one.0.contains("ValidRatio"), "{}", one.0);
    assert_eq!(one, three);
    let scores = out.join("scores.csv");
    ok(&run(
        prefopt,
        &[
            "score",
            "--config",
            config,
            "--checkpoint",
            policy.to_str().unwrap(),
            "--output",
            scores.to_str().unwrap(),
        ],
    ));
    let text = read(&scores);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "example,user_id,item,is_target,logp");
    assert_eq!(lines.len(), 1 + 40 * 20, "40 test prompts × 20 candidates");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.split(',').nth(3) == Some("1"))
            .count(),
        40
    );
    // Errors: a message and a non-zero exit, never a panic.
    let bad = run(
        prefopt,
        &[
            "eval",
            "--config",
            config,
            "--checkpoint",
            "/nonexistent.safetensors",
            "--out",
            "/tmp/x",
        ],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.starts_with("error:") && stderr.contains("nonexistent"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::write(out.join("bad.toml"), "[preference]\nnegatvies = 3\n").unwrap();
    let bad = run(
        prefopt,
        &[
            "train",
            "--config",
            out.join("bad.toml").to_str().unwrap(),
            "--out",
            "/tmp/x",
        ],
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("negatvies"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&out).unwrap();
    let _ = std::fs::remove_file(out.with_extension("toml"));
}

#[test]
fn every_binary_has_help() {
    for binary in [
        env!("CARGO_BIN_EXE_reproduce"),
        env!("CARGO_BIN_EXE_sdpo"),
        env!("CARGO_BIN_EXE_rosepo"),
    ] {
        let output = run(binary, &["--help"]);
        ok(&output);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("--config") && text.contains("--out") && text.contains("--device"),
            "{text}"
        );
    }
    for command in ["train", "eval", "score"] {
        let output = run(env!("CARGO_BIN_EXE_prefopt"), &[command, "--help"]);
        ok(&output);
        assert!(String::from_utf8_lossy(&output.stdout).contains("--config"));
    }
}

/// A copy of the models crate's Llama fixture under `out` with a longer nominal context: the
/// catalog prompts run past its 512 positions, and rotary positions have no table to outgrow.
fn llama_fixture(out: &Path) -> PathBuf {
    let checkpoint = support::llama_copy(out);
    let config_json = read(&checkpoint.join("config.json")).replace(
        "\"max_position_embeddings\": 512",
        "\"max_position_embeddings\": 2048",
    );
    std::fs::write(checkpoint.join("config.json"), config_json).unwrap();
    checkpoint
}

/// `model = "<checkpoint folder>"` with `lora = {…}`: SFT and S-DPO run on a Hugging Face
/// checkpoint (the models crate's Llama fixture) through the same binary, the preference
/// adapter is written as PEFT files, and the saved policy evaluates to the reported numbers.
#[test]
fn a_pretrained_checkpoint_with_lora_runs_sft_and_sdpo() {
    let out = scratch("pretrained");
    let checkpoint = llama_fixture(&out);
    let config = out.join("pretrained.toml");
    std::fs::write(
        &config,
        format!(
            "seed = 3\nworkers = 1\nmodel = \"{}\"\nlora = {{ rank = 4, alpha = 8.0 }}\n\
             [data]\ndir = \"{}/../datasets/rec-small\"\nmax_train = 32\nmax_valid = 8\nmax_test = 8\n\
             [sft]\nepochs = 1\nbatch_size = 16\nlr = 5e-3\n\
             [preference]\nobjective = {{ loss = \"sdpo\", beta = 1.0 }}\nnegatives = 3\n\
             [preference.train]\nepochs = 1\nbatch_size = 16\nlr = 1e-3\n\
             [eval]\nmax_tokens = 6\n",
            checkpoint.display(),
            env!("CARGO_MANIFEST_DIR"),
        ),
    )
    .unwrap();
    let (report, evaluated) = train_then_eval(config.to_str().unwrap(), &out);
    assert!(report.contains("| sdpo | K=3 |"), "{report}");
    let train_dir = out.join("train");
    let adapter: serde_json::Value =
        serde_json::from_str(&read(&train_dir.join("adapter/adapter_config.json"))).unwrap();
    assert_eq!(adapter["r"], 4);
    assert_eq!(
        adapter["target_modules"],
        serde_json::json!(["q_proj", "v_proj"])
    );
    assert!(
        train_dir
            .join("adapter/adapter_model.safetensors")
            .is_file()
    );
    assert_eq!(
        first_metric(&evaluated, "policy"),
        first_metric(&report, "sdpo")
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// The text-policy experiments (P-RLHF, RPO) take the same `model` / `lora` keys: they run on
/// the Qwen2 fixture's weights and tokenizer and say so in their reports.
#[test]
fn text_policy_experiments_run_on_a_checkpoint_with_lora() {
    let out = scratch("text-policy-checkpoint");
    std::fs::create_dir_all(&out).unwrap();
    let config = out.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"{}/../crates/models/tests/fixtures/hf/qwen2-tiny\"\n\
             lora = {{ rank = 4, alpha = 8.0 }}\n{}",
            env!("CARGO_MANIFEST_DIR"),
            read(Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tiny.toml"
            )))
        ),
    )
    .unwrap();
    for (binary, row) in [
        (env!("CARGO_BIN_EXE_rpo"), "| RPO paired |"),
        (env!("CARGO_BIN_EXE_prlhf"), "| P-DPO individual |"),
    ] {
        let dir = out.join(Path::new(binary).file_name().unwrap());
        ok(&run(
            binary,
            &[
                "--config",
                config.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
            ],
        ));
        let report = read(&dir.join("results.md"));
        assert!(report.contains(row), "{report}");
        assert!(
            report.contains("qwen2-tiny` with its tokenizer, LoRA r = 4"),
            "{report}"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// `reproduce --track llm` runs the recommendation tables on a pretrained checkpoint whose
/// prompts go through its chat template, once per seed with `--seeds 2`: each seed's report in
/// its folder, every greedy answer written beside the logs, and the report over seeds with its
/// per-seed tables and claims judged on the seeds.
#[test]
fn the_llm_track_runs_over_seeds_on_a_chat_checkpoint() {
    let out = scratch("llm-track");
    let checkpoint = llama_fixture(&out);
    support::write_chat_template(&checkpoint);
    let config = out.join("llm.toml");
    std::fs::write(
        &config,
        "[data]\nmax_train = 8\nmax_valid = 4\nmax_test = 6\n\
         [sft]\nepochs = 1\nbatch_size = 8\n\
         [preference.train]\nbatch_size = 8\n\
         [eval]\nmax_tokens = 4\n\
         [sdpo]\nnegatives = [1, 3]\n",
    )
    .unwrap();
    let report_dir = out.join("report");
    let output = run(
        env!("CARGO_BIN_EXE_reproduce"),
        &[
            "--track",
            "llm",
            "--model",
            checkpoint.to_str().unwrap(),
            "--data",
            "../datasets/rec-small",
            "--config",
            config.to_str().unwrap(),
            "--seeds",
            "2",
            "--out",
            report_dir.to_str().unwrap(),
        ],
    );
    ok(&output);
    let report = read(&report_dir.join("results.md"));
    assert!(report.contains("| seeds | 0, 1 "), "{report}");
    assert!(report.contains("prompts in its chat template"), "{report}");
    assert!(report.contains("training prompts") && report.contains("tokens on average"));
    assert!(report.contains("(mean over 2 seeds)"), "{report}");
    assert!(report.contains("of each seed (95% CI over its test examples)"));
    assert!(report.contains("| seed 0 | seed 1 |"), "{report}");
    assert!(report.contains("seed 0: ") && report.contains("seed 1: "));
    assert!(
        !report.contains("P-RLHF"),
        "the LLM track runs the recommendation tables"
    );
    assert!(report_dir.join("sdpo_seeds.svg").is_file());
    for seed in ["seed-0", "seed-1"] {
        let seed_report = read(&report_dir.join(seed).join("results.md"));
        assert!(seed_report.contains("| S-DPO | K=3"), "{seed_report}");
        let answers = read(&report_dir.join(seed).join("logs/sft.answers.jsonl"));
        assert_eq!(answers.lines().count(), 6, "{answers}");
        let line: serde_json::Value =
            serde_json::from_str(answers.lines().next().unwrap()).unwrap();
        assert!(
            line["answer"].is_string() && line["target"].is_string(),
            "{line}"
        );
    }
    // The seeds train different models: their SFT rows differ somewhere.
    assert_ne!(
        read(&report_dir.join("seed-0/results.csv")),
        read(&report_dir.join("seed-1/results.csv"))
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// The default track takes `--seeds` too, and the track without a model says what to pass.
#[test]
fn reproduce_reports_over_seeds_and_the_llm_track_needs_a_model() {
    let out = scratch("seeds");
    let output = run(
        env!("CARGO_BIN_EXE_reproduce"),
        &[
            "--config",
            "tests/tiny.toml",
            "--seeds",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&output);
    let report = read(&out.join("results.md"));
    assert!(report.contains("| seeds | 3, 4 "), "{report}");
    for heading in ["P-RLHF", "LoRe", "RPO", "S-DPO", "RosePO"] {
        assert!(report.contains(heading), "{heading}: {report}");
    }
    assert!(out.join("seed-3/results.md").is_file() && out.join("seed-4/results.md").is_file());
    let csv = read(&out.join("results.csv"));
    assert!(csv.lines().any(|l| l.starts_with("sdpo,SFT,")), "{csv}");

    let output = run(
        env!("CARGO_BIN_EXE_reproduce"),
        &["--track", "llm", "--out", out.join("llm").to_str().unwrap()],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--model") && !stderr.contains("panicked"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
