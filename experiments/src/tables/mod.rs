//! The paper tables: each runs its methods through the shared pipeline from one SFT model,
//! evaluates them on the test split, and returns a report section (table, claims, plots).

pub mod rosepo;
pub mod sdpo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prefopt_eval::stats::{mean_ci, paired_test};

use crate::error::{ExperimentError, Result};
use crate::rec::{Evaluation, RecPipeline, Run, SftStage};
use crate::report::plots::{Series, line_plot};
use crate::report::{Claim, Plot, Row, Verdict};

/// What every table shares: the pipeline, the SFT model and its test evaluation, the output
/// folder.
pub struct TableContext<'a> {
    pub pipeline: &'a RecPipeline,
    pub sft: &'a SftStage,
    pub sft_evaluation: &'a Evaluation,
    pub out: &'a Path,
    /// Print one line per finished run on stderr.
    pub verbose: bool,
}

/// A method's evaluated run (no run for score-only baselines).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub method: String,
    pub settings: String,
    pub run: Option<Run>,
    pub evaluation: Evaluation,
}

/// A preference run a table asks for.
pub struct Job {
    pub method: String,
    pub settings: String,
    pub preference: crate::config::PreferenceConfig,
    /// A row of the table's main part (else of a sub-table: sweeps, ablations).
    pub main: bool,
}

impl Job {
    pub fn new(
        method: &str,
        settings: &str,
        preference: crate::config::PreferenceConfig,
        main: bool,
    ) -> Self {
        Self {
            method: method.into(),
            settings: settings.into(),
            preference,
            main,
        }
    }
}

impl TableContext<'_> {
    /// Runs every job, `workers` at a time on separate threads (each run is seeded on its own,
    /// so the results do not depend on the number of workers), and returns the outcomes in
    /// job order. The first error stops the remaining jobs.
    pub fn run_all(&self, jobs: Vec<Job>) -> Result<Vec<Outcome>> {
        let workers = self.pipeline.config.workers.clamp(1, jobs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let slots: Vec<std::sync::Mutex<Option<Result<Outcome>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= jobs.len() || failed.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        let job = &jobs[i];
                        let result = self.run(&job.method, &job.settings, &job.preference);
                        if result.is_err() {
                            failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    }
                });
            }
        });
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (slot, job) in slots.into_iter().zip(&jobs) {
            match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(result) => outcomes.push(result?),
                None => {
                    return Err(ExperimentError::Invalid(format!(
                        "run `{} {}` was not started: an earlier run failed",
                        job.method, job.settings
                    )));
                }
            }
        }
        Ok(outcomes)
    }

    pub fn logs(&self) -> PathBuf {
        self.out.join("logs")
    }

    /// Trains and evaluates one preference run.
    pub fn run(
        &self,
        method: &str,
        settings: &str,
        preference: &crate::config::PreferenceConfig,
    ) -> Result<Outcome> {
        let name = format!("{method} {settings}");
        let run = self
            .pipeline
            .preference(&name, self.sft, preference, Some(&self.logs()))?;
        let evaluation = self.pipeline.evaluate_test(&run.model)?;
        if self.verbose {
            let hr = evaluation.values("HR@1").map_or(f64::NAN, |v| mean(&v));
            eprintln!(
                "  {name:<40} HR@1 {hr:.3}   ({} rows, {:.1} s)",
                run.rows, run.seconds
            );
        }
        Ok(Outcome {
            method: method.into(),
            settings: settings.into(),
            run: Some(run),
            evaluation,
        })
    }

    /// The SFT row (the baseline of every table).
    pub fn sft_outcome(&self) -> Outcome {
        Outcome {
            method: "SFT".into(),
            settings: format!("{} epochs", self.pipeline.config.sft.epochs),
            run: Some(self.sft.run.clone()),
            evaluation: self.sft_evaluation.clone(),
        }
    }
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Per-example popularity of the top-ranked candidate and whether it is in the head (most
/// popular 20% of the catalog), for paired tests of popularity bias.
pub fn top_popularity(evaluation: &Evaluation, popularity: &[u64]) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
    let mut head = vec![false; popularity.len()];
    for &i in &order[..popularity.len().div_ceil(5)] {
        head[i] = true;
    }
    evaluation
        .top_items
        .iter()
        .map(|&i| (popularity[i] as f64, f64::from(u8::from(head[i]))))
        .unzip()
}

/// Builds a table row: interval metrics from per-example values, single values, a paired
/// HR@1 test against `baseline`.
pub fn row(
    outcome: &Outcome,
    metrics: &[&str],
    popularity: &[u64],
    baseline: Option<&Evaluation>,
) -> Result<Row> {
    let e = &outcome.evaluation;
    let mut interval = BTreeMap::new();
    let mut values = BTreeMap::new();
    for &metric in metrics {
        if let Some(v) = e.values(metric) {
            interval.insert(metric.to_string(), mean_ci(&v)?);
        }
    }
    if let Some(generation) = e.generation()? {
        values.insert(
            "HR@1 given valid".into(),
            generation.hit_ratio_at_1_given_valid,
        );
        values.insert("halluc. rate".into(), 1.0 - generation.valid_ratio);
        values.insert("not-in-catalog".into(), generation.not_in_catalog_rate);
    }
    let bias = e.popularity(popularity)?;
    let (pops, heads) = top_popularity(e, popularity);
    interval.insert("top-1 pop".into(), mean_ci(&pops)?);
    interval.insert("head share".into(), mean_ci(&heads)?);
    values.insert("pop ratio".into(), bias.relative_popularity);
    values.insert("gini".into(), bias.gini);
    values.insert("coverage".into(), bias.coverage);
    if let Some(run) = &outcome.run {
        values.insert("train s".into(), run.seconds);
    }
    let versus_baseline = match baseline {
        Some(b) => Some(paired_test(
            &e.values("HR@1").unwrap_or_default(),
            &b.values("HR@1").unwrap_or_default(),
        )?),
        None => None,
    };
    Ok(Row {
        method: outcome.method.clone(),
        settings: outcome.settings.clone(),
        metrics: interval,
        values,
        versus_baseline,
    })
}

/// "`a` beats `b` on `metric`" as a paired test on the test prompts.
pub fn claim_greater(
    statement: &str,
    a: &Outcome,
    b: &Outcome,
    metric: &str,
    lower_is_better: bool,
) -> Result<Claim> {
    let (Some(x), Some(y)) = (a.evaluation.values(metric), b.evaluation.values(metric)) else {
        return Err(ExperimentError::Invalid(format!(
            "claim `{statement}`: no {metric} values"
        )));
    };
    claim_from_values(
        statement,
        &x,
        &y,
        &describe(a),
        &describe(b),
        metric,
        lower_is_better,
    )
}

pub fn describe(o: &Outcome) -> String {
    if o.settings.is_empty() {
        o.method.clone()
    } else {
        format!("{} ({})", o.method, o.settings)
    }
}

pub fn claim_from_values(
    statement: &str,
    a: &[f64],
    b: &[f64],
    a_name: &str,
    b_name: &str,
    metric: &str,
    lower_is_better: bool,
) -> Result<Claim> {
    let test = paired_test(a, b)?;
    let d = test.difference;
    let (oriented_mean, oriented_low) = if lower_is_better {
        (-d.mean, -d.high)
    } else {
        (d.mean, d.low)
    };
    Ok(Claim {
        statement: statement.into(),
        verdict: Verdict::of_difference(oriented_mean, oriented_low),
        evidence: format!(
            "{metric}: {a_name} {:.3} vs {b_name} {:.3}; Δ {:+.3} [{:+.3}, {:+.3}], p = {}",
            mean(a),
            mean(b),
            d.mean,
            d.low,
            d.high,
            crate::report::table::format_p(test.p_value)
        ),
    })
}

/// Mean of a JSONL log's metric over the last `fraction` of the updates.
pub fn late_metric(log: &Path, metric: &str, fraction: f64) -> Result<f64> {
    let series = log_series(log, metric)?;
    let keep = ((series.len() as f64 * fraction).ceil() as usize).clamp(1, series.len().max(1));
    let tail = &series[series.len().saturating_sub(keep)..];
    Ok(mean(&tail.iter().map(|p| p.1).collect::<Vec<_>>()))
}

/// `(step, value)` of a metric in a training log (update lines only).
pub fn log_series(log: &Path, metric: &str) -> Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(log).map_err(|e| ExperimentError::io(log, e))?;
    let mut out = Vec::new();
    for (line_number, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            ExperimentError::Invalid(format!("{}: line {}: {e}", log.display(), line_number + 1))
        })?;
        if let (Some(step), Some(v)) = (
            value.get("step").and_then(serde_json::Value::as_f64),
            value.get(metric).and_then(serde_json::Value::as_f64),
        ) && value.get("eval").is_none()
        {
            out.push((step, v));
        }
    }
    Ok(out)
}

/// A moving average over `window` points (for readable loss curves).
pub fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let from = i.saturating_sub(window - 1);
            let slice = &points[from..=i];
            (
                x,
                slice.iter().map(|p| p.1).sum::<f64>() / slice.len() as f64,
            )
        })
        .collect()
}

/// Training-loss and validation curves of the runs of a table.
pub fn curves(out: &std::path::Path, outcomes: &[Outcome], prefix: &str) -> Result<Vec<Plot>> {
    let mut loss_series = Vec::new();
    let mut valid_series = Vec::new();
    let mut chosen_series = Vec::new();
    for o in outcomes {
        let Some(run) = &o.run else { continue };
        let name = describe(o);
        if o.method != "SFT" {
            let points: Vec<(f64, f64)> = run
                .losses
                .iter()
                .enumerate()
                .map(|(i, &l)| ((i + 1) as f64, l))
                .collect();
            loss_series.push(Series {
                name: name.clone(),
                points: smooth(&points, 10),
            });
            if let Some(log) = &run.log {
                let chosen = log_series(log, "rewards/chosen")?;
                if !chosen.is_empty() && (o.method == "DPO" || o.method == "S-DPO") {
                    chosen_series.push(Series {
                        name: name.clone(),
                        points: smooth(&chosen, 10),
                    });
                }
            }
        }
        valid_series.push(Series {
            name,
            points: run
                .evaluations
                .iter()
                .map(|&(s, v)| (s as f64, v))
                .collect(),
        });
    }
    let mut plots = Vec::new();
    let file = format!("{prefix}_loss.svg");
    line_plot(
        &out.join(&file),
        "Training loss (moving average of 10 updates)",
        "update",
        "loss",
        &loss_series,
    )?;
    plots.push(Plot {
        file,
        caption: "training loss of the preference runs".into(),
    });
    let file = format!("{prefix}_valid.svg");
    line_plot(
        &out.join(&file),
        "Validation HitRatio@1 during training",
        "update",
        "HR@1",
        &valid_series,
    )?;
    plots.push(Plot {
        file,
        caption: "validation HitRatio@1 during training".into(),
    });
    if !chosen_series.is_empty() {
        let file = format!("{prefix}_chosen.svg");
        line_plot(
            &out.join(&file),
            "Chosen reward β·(log π − log π_ref) on training batches",
            "update",
            "chosen reward",
            &chosen_series,
        )?;
        plots.push(Plot {
            file,
            caption: "chosen rewards of DPO and S-DPO (likelihood decline)".into(),
        });
    }
    Ok(plots)
}
