//! The long-run check (outside the default test command): `prefopt train` with 10,000 S-DPO
//! updates of the `tiny` model, its resident memory sampled every half second. After the first
//! epoch (40 updates) the memory must stay flat: a leak of a few hundred bytes per update
//! would show as megabytes over the run.
//!
//! ```sh
//! cargo test --workspace --test load -- --ignored --nocapture
//! ```
//!
//! It writes `memory.csv` (seconds, update, resident MB) to `$PREFOPT_LOAD_OUT` (default: a
//! temporary folder, deleted afterwards) and prints the figures docs/reliability.md reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UPDATES: usize = 10_000;
/// 640 training prompts in micro-batches of 16.
const PER_EPOCH: usize = 40;

/// Resident memory of process `pid` in MB (`VmRSS` of /proc).
fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The last update logged in `log` (0 before the first).
fn last_update(log: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(log) else {
        return 0;
    };
    text.lines()
        .rev()
        .filter(|l| !l.contains("\"eval\""))
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("step")?
                .as_u64()
        })
        .map_or(0, |s| s as usize)
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    sxy / sxx
}

#[test]
#[ignore = "about 4 minutes: run with --ignored (docs/reliability.md, \"Load\")"]
fn ten_thousand_updates_in_flat_memory() {
    let (out, keep) = match std::env::var_os("PREFOPT_LOAD_OUT") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (
            std::env::temp_dir().join(format!("prefopt-load-{}", std::process::id())),
            false,
        ),
    };
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let config = out.join("load.toml");
    let datasets = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/rec-small");
    std::fs::write(
        &config,
        format!(
            "seed = 0\nmodel = \"tiny\"\n[data]\ndir = \"{datasets}\"\nmax_train = 640\n\
             max_valid = 40\nmax_test = 40\n[sft]\nepochs = 1\nbatch_size = 16\nlr = 5e-3\n\
             [preference]\nobjective = {{ loss = \"sdpo\", beta = 1.0 }}\nnegatives = 3\n\
             [preference.train]\nepochs = {}\nbatch_size = 16\nlr = 1e-4\neval_every = 500\n\
             [eval]\nmax_tokens = 2\n",
            UPDATES / PER_EPOCH
        ),
    )
    .unwrap();
    let run = out.join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_prefopt"))
        .args(["train", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = run.join("logs/sdpo.jsonl");
    let start = Instant::now();
    let mut samples: Vec<(f64, usize, f64)> = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(mb) = resident_mb(child.id()) {
            samples.push((start.elapsed().as_secs_f64(), last_update(&log), mb));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(status.success(), "prefopt train failed: {status}");
    let mut csv = String::from("seconds,update,resident_mb\n");
    for (t, step, mb) in &samples {
        csv.push_str(&format!("{t:.1},{step},{mb:.1}\n"));
    }
    std::fs::write(out.join("memory.csv"), csv).unwrap();
    assert_eq!(last_update(&log), UPDATES, "the run did every update");

    let after_first_epoch: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(_, step, _)| *step >= PER_EPOCH && *step < UPDATES)
        .map(|(_, step, mb)| (*step as f64, *mb))
        .collect();
    assert!(
        after_first_epoch.len() >= 20,
        "too few samples: {samples:?}"
    );
    let at_epoch = after_first_epoch[0].1;
    let peak = after_first_epoch
        .iter()
        .map(|p| p.1)
        .fold(f64::MIN, f64::max);
    let last = after_first_epoch[after_first_epoch.len() - 1].1;
    let per_10k = slope(&after_first_epoch) * 10_000.0;
    let overall_peak = samples.iter().map(|s| s.2).fold(f64::MIN, f64::max);
    eprintln!(
        "{UPDATES} updates in {:.0} s; {} samples; resident memory after the first epoch \
         {at_epoch:.1} MB, peak {peak:.1} MB, at the end {last:.1} MB, trend {per_10k:+.2} MB \
         per 10,000 updates; peak of the whole process {overall_peak:.1} MB",
        start.elapsed().as_secs_f64(),
        samples.len()
    );
    assert!(
        per_10k.abs() < 8.0,
        "resident memory grows {per_10k:.2} MB per 10,000 updates"
    );
    assert!(
        peak < at_epoch + 16.0,
        "resident memory rose from {at_epoch:.1} MB to {peak:.1} MB after the first epoch"
    );
    if !keep {
        std::fs::remove_dir_all(&out).unwrap();
    }
}
