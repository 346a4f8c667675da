//! The output folder of every experiment: `results.md` (the report), `results.csv` (long
//! format), `results.json` (everything, machine-readable), `config.toml` (to repeat the run),
//! SVG plots and the JSONL training logs.

pub mod seeds;
pub mod table;

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use table::{Row, Table};

use crate::config::ExperimentConfig;
use crate::error::{ExperimentError, Result};

/// Whether a paper's claim holds at this scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The direction holds and the 95% interval of the difference excludes 0.
    Holds,
    /// The direction holds but the interval includes 0.
    NotSignificant,
    /// The opposite direction.
    DoesNotHold,
}

impl Verdict {
    /// From a difference that the claim says is positive, with its 95% interval.
    pub fn of_difference(mean: f64, low: f64) -> Self {
        if mean > 0.0 && low > 0.0 {
            Self::Holds
        } else if mean > 0.0 {
            Self::NotSignificant
        } else {
            Self::DoesNotHold
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::NotSignificant => "same direction, not significant",
            Self::DoesNotHold => "does not hold",
        }
    }
}

/// A paper claim checked against this run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub statement: String,
    pub verdict: Verdict,
    pub evidence: String,
    /// The difference the claim says is positive (its sign oriented so), when the claim is a
    /// difference: what a report over seeds tests across them.
    pub difference: Option<f64>,
}

/// A plot file of the output folder and its caption.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plot {
    pub file: String,
    pub caption: String,
}

/// One paper table with its text, claims and plots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Section {
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub table: Table,
    /// Further tables (sweeps).
    pub extra_tables: Vec<Table>,
    pub claims: Vec<Claim>,
    pub plots: Vec<Plot>,
}

/// What a reader needs to trust and repeat the numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    pub title: String,
    pub command: String,
    pub seed: u64,
    /// Every seed of a report over seeds (empty for one run).
    pub seeds: Vec<u64>,
    pub git_revision: String,
    pub data: String,
    pub data_rows: String,
    pub model: String,
    pub device: String,
    pub elapsed_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub meta: Meta,
    pub sections: Vec<Section>,
    /// Held-out metrics after training under TRL's names (`rewards/accuracies`, …), for runs
    /// that have one evaluation split (the text pipeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<std::collections::BTreeMap<String, f64>>,
}

/// `git rev-parse HEAD` of the working directory, with `-dirty` when files changed; `unknown`
/// outside a git checkout.
pub fn git_revision() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        None => "unknown".into(),
    }
}

/// Every report file appears whole or not at all.
fn write_file(path: &Path, text: &str) -> Result<()> {
    Ok(prefopt_data::atomic::write(path, text)?)
}

impl Report {
    pub fn markdown(&self) -> String {
        let m = &self.meta;
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", m.title);
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| command | `{}` |", m.command);
        let _ = writeln!(out, "| git revision | `{}` |", m.git_revision);
        if m.seeds.is_empty() {
            let _ = writeln!(out, "| seed | {} |", m.seed);
        } else {
            let seeds: Vec<String> = m.seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "| seeds | {} (each seed's own report: `seed-<s>/results.md`) |",
                seeds.join(", ")
            );
        }
        let _ = writeln!(out, "| data | `{}` ({}) |", m.data, m.data_rows);
        let _ = writeln!(out, "| model | {} |", m.model);
        let _ = writeln!(out, "| device | {} |", m.device);
        let _ = writeln!(out, "| elapsed | {:.1} s |\n", m.elapsed_seconds);
        if m.seeds.is_empty() {
            let _ = writeln!(
                out,
                "Metrics are means over the test examples (prompts, or users for per-user accuracies) \
                 with the half-width of their 95% t interval; the Δ column is a paired t-test against \
                 the baseline row on the same examples. Every number \
                 comes from the training runs of this command; `config.toml` repeats it.\n"
            );
        } else {
            let _ = writeln!(
                out,
                "Each seed trains every model anew (initialisation, negatives, label noise, example \
                 order). Metrics are the mean over the {} seeds of each seed's test mean, with the \
                 half-width of the 95% t interval over seeds; the Δ column is a paired t-test over \
                 seeds against the baseline row. The per-seed tables give each seed's mean with its \
                 interval over test examples. A claim is judged on the seeds: its verdict comes \
                 from the interval over seeds of its difference, and the evidence lists each seed's \
                 own verdict. Every number comes from the training runs of this command; \
                 `config.toml` repeats it.\n",
                m.seeds.len()
            );
        }
        for section in &self.sections {
            let _ = writeln!(out, "## {}\n", section.heading);
            for paragraph in &section.paragraphs {
                let _ = writeln!(out, "{paragraph}\n");
            }
            let _ = writeln!(out, "{}", section.table.markdown());
            for table in &section.extra_tables {
                let _ = writeln!(out, "**{}**\n\n{}", table.title, table.markdown());
            }
            if !section.claims.is_empty() {
                let _ = writeln!(out, "| paper's claim | here | evidence |\n|---|---|---|");
                for claim in &section.claims {
                    let _ = writeln!(
                        out,
                        "| {} | **{}** | {} |",
                        claim.statement,
                        claim.verdict.label(),
                        claim.evidence
                    );
                }
                let _ = writeln!(out);
            }
            for plot in &section.plots {
                let _ = writeln!(out, "![{}]({})\n", plot.caption, plot.file);
            }
        }
        out
    }

    /// Writes results.md, results.csv, results.json and config.toml into `dir`.
    pub fn write(&self, dir: &Path, config: &ExperimentConfig) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        write_file(&dir.join("results.md"), &self.markdown())?;
        let mut csv = vec![table::CSV_HEADER.to_string()];
        for section in &self.sections {
            for t in std::iter::once(&section.table).chain(&section.extra_tables) {
                csv.extend(t.csv_lines());
            }
        }
        write_file(&dir.join("results.csv"), &(csv.join("\n") + "\n"))?;
        let json = serde_json::to_string_pretty(self)?;
        write_file(&dir.join("results.json"), &json)?;
        write_file(&dir.join("config.toml"), &config.to_toml()?)?;
        Ok(())
    }
}
