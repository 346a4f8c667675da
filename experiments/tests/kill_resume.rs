//! `kill -9` at several points of `prefopt train` and `reproduce`, then `--resume`: the final
//! models are the same bytes, the reports and logs the same text (timing columns aside) as an
//! uninterrupted run, and after every kill each file in the output folder is complete.
//!
//! Two ways to stop the real binary: a SIGKILL from this test when the output folder shows the
//! process is in a phase (SFT updates logged, the SFT model written, preference updates logged),
//! and the atomic writer's fault hook (`PREFOPT_KILL_BEFORE_RENAME`) for the instant between a
//! checkpoint's temporary being on disk and its rename, which no outside poll can hit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

const PREFOPT: &str = env!("CARGO_BIN_EXE_prefopt");
const REPRODUCE: &str = env!("CARGO_BIN_EXE_reproduce");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prefopt-kill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The item pipeline on 160 prompts: 20 SFT updates and 20 DPO updates, a checkpoint every
/// 2 updates.
fn item_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    let datasets = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/rec-small");
    std::fs::write(
        &path,
        format!(
            "seed = 5\n[data]\ndir = \"{datasets}\"\nmax_train = 160\nmax_valid = 24\nmax_test = 24\n\
             [sft]\nepochs = 2\nbatch_size = 16\nlr = 5e-3\ncheckpoint_every = 2\n\
             [preference]\nobjective = {{ loss = \"sdpo\", beta = 1.0 }}\nnegatives = 2\n\
             [preference.train]\nepochs = 2\nbatch_size = 16\nlr = 1e-3\ncheckpoint_every = 2\n\
             [eval]\nmax_tokens = 2\n"
        ),
    )
    .unwrap();
    path
}

fn train_args(config: &Path, out: &Path) -> Vec<String> {
    strings(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Runs to the end, checks success and returns what it printed on stderr.
fn complete(binary: &str, args: &[String]) -> String {
    let output = Command::new(binary).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{binary} {args:?}: {stderr}");
    stderr
}

/// Runs with the fault hook set and checks that SIGKILL ended it.
fn killed_by_hook(binary: &str, args: &[String], file: &str, nth: usize) {
    let output = Command::new(binary)
        .args(args)
        .env("PREFOPT_KILL_BEFORE_RENAME", format!("{file}:{nth}"))
        .output()
        .unwrap();
    assert_killed(output.status, &format!("hook {file}:{nth}"), &output.stderr);
}

fn assert_killed(status: std::process::ExitStatus, when: &str, stderr: &[u8]) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "{when}: the run was not killed ({status}): {}",
        String::from_utf8_lossy(stderr)
    );
}

/// Starts the binary and sends SIGKILL as soon as `ready` holds for its output folder `out`.
/// A poll can miss a short phase on a loaded machine (the run ends first): then `out` is
/// cleared and the run started again, three times at most.
fn killed_when(binary: &str, args: &[String], out: &Path, when: &str, ready: impl Fn() -> bool) {
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(out);
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let killed = loop {
            if ready() {
                child.kill().unwrap();
                break true;
            }
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "{when}: timed out"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let output = child.wait_with_output().unwrap();
        if killed {
            assert_killed(output.status, when, &output.stderr);
            return;
        }
        assert!(
            output.status.success(),
            "{when}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    panic!("{when}: the run ended three times before the point to kill it");
}

/// Update lines in a JSONL training log (0 when it does not exist yet).
fn logged_updates(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| {
        text.lines()
            .filter(|l| l.ends_with('}') && !l.contains("\"eval\""))
            .count()
    })
}

/// Every non-hidden file under `dir` is complete: safetensors files parse whole, JSON and
/// CBOR files parse, every JSONL line parses, SVG files end their document.
fn assert_complete_files(dir: &Path, when: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            assert_complete_files(&path, when);
            continue;
        }
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let what = format!("{when}: {}", path.display());
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => {
                safetensors::SafeTensors::deserialize(&bytes)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            Some("json") => {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            Some("cbor") => {
                ciborium::from_reader::<ciborium::Value, _>(bytes.as_slice())
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            Some("jsonl") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    text.is_empty() || text.ends_with('\n'),
                    "{what}: a cut line"
                );
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .unwrap_or_else(|e| panic!("{what}: {e}: {line}"));
                }
            }
            Some("svg") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.trim_end().ends_with("</svg>"), "{what}: a cut plot");
            }
            Some("parquet") => {
                // A Parquet file starts and ends with its magic; a cut one lacks the footer.
                assert!(
                    bytes.len() > 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
                    "{what}: not a whole Parquet file"
                );
            }
            _ => assert!(!bytes.is_empty(), "{what}: empty"),
        }
    }
}

/// results.csv without its rows of seconds (`train s`, `s/update`: they differ between any
/// two runs).
fn results_without_timing(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("results.csv"))
        .unwrap()
        .lines()
        .filter(|line| !line.contains(",train s,") && !line.contains(",s/update,"))
        .map(str::to_string)
        .collect()
}

/// Fails on the first line where two texts differ (whole files are too long to print).
fn assert_same_lines(a: &[String], b: &[String], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x, y, "{what}: line {}", i + 1);
    }
    assert_eq!(a.len(), b.len(), "{what}: line count");
}

/// A text file's lines; any other file as one line of its bytes in hex (logs/ also holds
/// the personalization tables' user models).
fn lines(path: &Path) -> Vec<String> {
    let bytes = read(path);
    match String::from_utf8(bytes) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) => vec![e.as_bytes().iter().map(|b| format!("{b:02x}")).collect()],
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What must be identical between an uninterrupted run and a killed-then-resumed one.
fn assert_same_run(whole: &Path, resumed: &Path, when: &str) {
    assert_same_run_with(
        whole,
        resumed,
        when,
        &["sft.safetensors", "policy.safetensors"],
    );
}

fn assert_same_run_with(whole: &Path, resumed: &Path, when: &str, models: &[&str]) {
    for file in models {
        assert!(
            read(&whole.join(file)) == read(&resumed.join(file)),
            "{when}: {file} differs"
        );
    }
    assert_same_lines(
        &results_without_timing(whole),
        &results_without_timing(resumed),
        &format!("{when}: results.csv"),
    );
    for entry in std::fs::read_dir(whole.join("logs")).unwrap().flatten() {
        let name = entry.file_name();
        assert_same_lines(
            &lines(&entry.path()),
            &lines(&resumed.join("logs").join(&name)),
            &format!("{when}: logs/{}", name.to_string_lossy()),
        );
    }
    assert_complete_files(resumed, when);
}

#[test]
fn prefopt_train_killed_anywhere_resumes_to_the_same_run() {
    let dir = scratch("train");
    let config = item_config(&dir);
    let whole = dir.join("whole");
    complete(PREFOPT, &train_args(&config, &whole));

    let resume = |out: &Path, when: &str| {
        assert_complete_files(out, when);
        let mut args = train_args(&config, out);
        args.push("--resume".into());
        complete(PREFOPT, &args);
        assert_same_run(&whole, out, when);
    };

    // During SFT, with updates logged after the last checkpoint.
    let out = dir.join("during-sft");
    let log = out.join("logs/sft.jsonl");
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "during SFT",
        || logged_updates(&log) >= 7,
    );
    assert!(logged_updates(&log) < 20, "killed before SFT ended");
    resume(&out, "during SFT");

    // Between the stages: the SFT model written, no preference update yet.
    let out = dir.join("between");
    let sft = out.join("sft.safetensors");
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "between stages",
        || sft.exists(),
    );
    resume(&out, "between stages");

    // During the preference stage.
    let out = dir.join("during-preference");
    let log = out.join("logs/sdpo.jsonl");
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "during preference",
        || logged_updates(&log) >= 5,
    );
    assert!(logged_updates(&log) < 20, "killed before the stage ended");
    resume(&out, "during preference");

    // While checkpoints are written: the 3rd SFT checkpoint and the 14th checkpoint overall
    // (the preference stage's 4th), each killed with its temporary complete but not renamed.
    for (file, nth) in [
        ("checkpoint.safetensors", 3),
        ("checkpoint.safetensors", 14),
        ("best.safetensors", 2),
        ("policy.safetensors", 1),
        ("results.csv", 1),
    ] {
        let when = format!("writing {file} #{nth}");
        let out = dir.join(format!("hook-{}-{nth}", file.replace('.', "-")));
        killed_by_hook(PREFOPT, &train_args(&config, &out), file, nth);
        resume(&out, &when);
    }

    // A resume with another config is refused, naming what differs.
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("seed = 5", "seed = 6"),
    )
    .unwrap();
    let output = Command::new(PREFOPT)
        .args(train_args(&other, &dir.join("during-sft")))
        .arg("--resume")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("another config"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The text pipeline: SFT on the chosen completions (12 updates), then DPO with LoRA (12
/// updates), on the Llama fixture; a checkpoint every 2 updates.
#[test]
fn a_killed_text_run_resumes_to_the_same_run() {
    let dir = scratch("text");
    let model = support::chat_checkpoint(&dir);
    let data = support::generate(&dir, "pairs", &[]);
    let config = dir.join("text.toml");
    std::fs::write(
        &config,
        format!(
            "seed = 2\nmodel = \"{}\"\nlora = {{ rank = 8, alpha = 16.0 }}\n\
             [text]\nsft_first = true\n\
             [sft]\nepochs = 2\nbatch_size = 8\nlr = 5e-3\ncheckpoint_every = 2\n\
             [preference]\nobjective = {{ loss = \"dpo\", beta = 0.1 }}\n\
             [preference.train]\nepochs = 2\nbatch_size = 8\nlr = 5e-3\ncheckpoint_every = 2\n\
             [data]\ntrain = \"{}\"\neval = \"{}\"\n[eval]\nbatch_size = 16\n",
            model.display(),
            data.display(),
            data.display()
        ),
    )
    .unwrap();
    let whole = dir.join("whole");
    complete(PREFOPT, &train_args(&config, &whole));
    let models = [
        "policy-hf/model.safetensors",
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
    ];
    let resume = |out: &Path, when: &str| {
        assert_complete_files(out, when);
        let mut args = train_args(&config, out);
        args.push("--resume".into());
        complete(PREFOPT, &args);
        assert_same_run_with(&whole, out, when, &models);
        let eval = |d: &Path| {
            serde_json::from_slice::<serde_json::Value>(&read(&d.join("results.json"))).unwrap()
                ["eval"]
                .clone()
        };
        assert_eq!(eval(&whole), eval(out), "{when}: held-out metrics");
    };

    let out = dir.join("during-sft");
    let sft_log = out.join("logs/sft.jsonl");
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "text SFT",
        || logged_updates(&sft_log) >= 5,
    );
    assert!(logged_updates(&sft_log) < 12, "killed before SFT ended");
    resume(&out, "text SFT");

    let out = dir.join("between");
    let (sft_log, log) = (
        out.join("logs/sft.jsonl"),
        out.join("logs/preference.jsonl"),
    );
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "text between stages",
        || logged_updates(&sft_log) == 12 && logged_updates(&log) == 0,
    );
    resume(&out, "text between stages");

    let out = dir.join("during-preference");
    let log = out.join("logs/preference.jsonl");
    killed_when(
        PREFOPT,
        &train_args(&config, &out),
        &out,
        "text preference",
        || logged_updates(&log) >= 5,
    );
    assert!(logged_updates(&log) < 12, "killed before the stage ended");
    resume(&out, "text preference");

    // The 9th checkpoint is the preference stage's 3rd; curve.cbor keeps its evaluations.
    for (file, nth) in [("checkpoint.safetensors", 9), ("curve.cbor", 2)] {
        let out = dir.join(format!("hook-{}-{nth}", file.replace('.', "-")));
        killed_by_hook(PREFOPT, &train_args(&config, &out), file, nth);
        resume(&out, &format!("text: writing {file} #{nth}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reproduce_resumed_keeps_finished_runs_and_ends_as_an_uninterrupted_one() {
    let dir = scratch("reproduce");
    let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tiny.toml");
    let args = |out: &Path| -> Vec<String> {
        vec![
            "--config".into(),
            tiny.into(),
            "--data".into(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/rec-small").into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let whole = dir.join("whole");
    complete(REPRODUCE, &args(&whole));

    // Killed while the 4th preference run's `finished.cbor` is renamed into place: three
    // runs (and SFT) are finished, the 4th's checkpoints are there, the rest never started.
    let out = dir.join("killed");
    let killed_args = args(&out);
    killed_by_hook(REPRODUCE, &killed_args, "finished.cbor", 5);
    assert_complete_files(&out, "reproduce killed");
    let finished_before: Vec<PathBuf> = finished_records(&out.join("checkpoints"));
    assert_eq!(
        finished_before.len(),
        4,
        "SFT and three runs: {finished_before:?}"
    );
    let mut resumed_args = killed_args.clone();
    resumed_args.push("--resume".into());
    let stderr = complete(REPRODUCE, &resumed_args);
    assert_eq!(
        stderr.matches("finished before (kept)").count(),
        3,
        "three preference runs kept: {stderr}"
    );
    assert_same_lines(
        &results_without_timing(&whole),
        &results_without_timing(&out),
        "reproduce's results.csv",
    );
    for entry in std::fs::read_dir(whole.join("logs")).unwrap().flatten() {
        let name = entry.file_name();
        assert_same_lines(
            &lines(&entry.path()),
            &lines(&out.join("logs").join(&name)),
            &format!("reproduce: logs/{}", name.to_string_lossy()),
        );
    }
    assert_complete_files(&out, "reproduce resumed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `finished.cbor` files under a checkpoints folder.
fn finished_records(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path().join("finished.cbor");
        if path.exists() {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_killed_conversion_leaves_whole_files_or_none() {
    let input = scratch("convert-in");
    let mut data = String::new();
    for user in 1..=30 {
        for step in 0..12 {
            data += &format!(
                "{user}\t{}\t4\t{}\n",
                1 + (user * 3 + step * 7) % 40,
                1000 + step * 60 + user
            );
        }
    }
    std::fs::write(input.join("u.data"), data).unwrap();
    let items: String = (1..=40)
        .map(|i| format!("{i}|Film {i} (1995)|01-Jan-1995||http://x|0|1\n"))
        .collect();
    std::fs::write(input.join("u.item"), items).unwrap();
    let output = input.join("out");
    let args = strings(&[
        "data",
        "convert",
        "--format",
        "movielens-100k",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    for file in ["valid.parquet", "test.parquet", "items.parquet"] {
        killed_by_hook(PREFOPT, &args, file, 1);
        assert!(!output.join(file).exists(), "{file} was being written");
        assert!(output.join("train.parquet").exists());
        assert_complete_files(&output, &format!("convert killed writing {file}"));
    }
    complete(PREFOPT, &args);
    for file in ["train", "valid", "test", "items", "users"] {
        assert!(output.join(format!("{file}.parquet")).is_file(), "{file}");
    }
    assert_complete_files(&output, "convert");
    std::fs::remove_dir_all(&input).unwrap();
}

#[test]
fn an_unwritable_out_is_refused_before_any_training() {
    let dir = scratch("unwritable");
    let config = item_config(&dir);
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    for binary in [PREFOPT, REPRODUCE] {
        let out = blocker.join("out");
        let mut args = train_args(&config, &out);
        if binary == REPRODUCE {
            args.remove(0);
        }
        let started = Instant::now();
        let output = Command::new(binary).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{binary}: {stderr}");
        assert!(
            stderr.contains("cannot be written") && stderr.contains("a-file/out"),
            "{binary}: {stderr}"
        );
        assert!(
            !stderr.contains("SFT"),
            "{binary} started training: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A write that fails half-way — here a file-size limit (`RLIMIT_FSIZE`, with SIGXFSZ ignored,
/// so the write returns EFBIG: the same failure path as a full disk's ENOSPC, which needs a
/// small file system to provoke) smaller than a checkpoint — is an error naming the file; the
/// folder keeps no partial file, and `--resume` without the limit ends as an uninterrupted run.
#[test]
fn a_failed_write_is_an_error_that_leaves_no_partial_file() {
    use std::os::unix::process::CommandExt;
    let dir = scratch("failed-write");
    let config = item_config(&dir);
    let whole = dir.join("whole");
    complete(PREFOPT, &train_args(&config, &whole));
    // Weights only; a trainer checkpoint adds two AdamW moments, three times the size.
    let weights = std::fs::metadata(whole.join("sft.safetensors"))
        .unwrap()
        .len();
    let limit = 2 * weights;
    let out = dir.join("limited");
    let mut command = Command::new(PREFOPT);
    command.args(train_args(&config, &out));
    // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal).
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the limited run succeeded");
    assert!(
        stderr.lines().any(|l| l.starts_with("error:")
            && l.ends_with("checkpoint.safetensors: File too large (os error 27)")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_complete_files(&out, "after a failed write");
    let temporaries = std::fs::read_dir(out.join("checkpoints/sft"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(temporaries, 0, "the failed write's temporary was removed");
    let mut args = train_args(&config, &out);
    args.push("--resume".into());
    complete(PREFOPT, &args);
    assert_same_run(&whole, &out, "after a failed write");
    std::fs::remove_dir_all(&dir).unwrap();
}
