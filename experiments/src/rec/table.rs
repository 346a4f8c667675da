//! What the recommendation tables share: one SFT model and its evaluation, preference runs on
//! the worker pool, table rows and the paired claims between two runs, and training curves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prefopt_eval::stats::{mean_ci, paired_test};
use serde::{Deserialize, Serialize};

use crate::common::checkpoints::Checkpoints;
use crate::common::claims::claim_from_values;
use crate::common::logs::{log_series, smooth};
use crate::common::plots::{Series, line_plot};
use crate::config::PreferenceConfig;
use crate::error::{ExperimentError, Result};
use crate::rec::evaluate::Metric;
use crate::rec::{Evaluation, RecPipeline, Run, SftStage, Trained};
use crate::report::{Claim, Plot, Row};
use prefopt_models::pool::run_in_order;

/// The file of a run's greedy test answers, beside its training log.
pub fn answers_file(run: &str) -> String {
    format!("{}.answers.jsonl", crate::common::logs::file_stem(run))
}

/// What every table shares: the pipeline, the SFT model and its test evaluation, the output
/// folder.
pub struct TableContext<'a> {
    pub pipeline: &'a RecPipeline,
    pub sft: &'a SftStage,
    pub sft_evaluation: &'a Evaluation,
    pub out: &'a Path,
    /// Print one line per finished run on stderr.
    pub verbose: bool,
    /// Where runs keep checkpoints and, once finished, their outcomes (a resumed table
    /// re-runs only the runs without one).
    pub checkpoints: Option<&'a Checkpoints>,
}

/// Where a row's model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Scored without a language model (popularity, item-kNN): no run.
    ScoreOnly,
    /// The supervised model every preference run starts from.
    Sft,
    /// A preference run.
    Preference,
    /// A saved model evaluated as it is (no run).
    Checkpoint,
}

/// A method's evaluated run (no run for score-only baselines).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub method: String,
    pub settings: String,
    pub stage: Stage,
    pub run: Option<Run>,
    pub evaluation: Evaluation,
}

/// A preference run a table asks for.
pub struct Job {
    pub method: String,
    pub settings: String,
    pub preference: PreferenceConfig,
}

impl Job {
    pub fn new(method: &str, settings: &str, preference: PreferenceConfig) -> Self {
        Self {
            method: method.into(),
            settings: settings.into(),
            preference,
        }
    }
}

impl TableContext<'_> {
    /// Runs every job on the worker pool (`workers` runs at once; each run is seeded on its
    /// own, so the results do not depend on the number of workers) and returns the outcomes
    /// in job order. The first error stops the remaining jobs.
    pub fn run_all(&self, jobs: &[Job]) -> Result<Vec<Outcome>> {
        let results = run_in_order(jobs.len(), self.pipeline.config.workers, |i| {
            let job = &jobs[i];
            self.run(&job.method, &job.settings, &job.preference)
        });
        results
            .into_iter()
            .zip(jobs)
            .map(|(result, job)| {
                result.unwrap_or_else(|| {
                    Err(ExperimentError::Invalid(format!(
                        "run `{} {}` was not started: an earlier run failed",
                        job.method, job.settings
                    )))
                })
            })
            .collect()
    }

    pub fn logs(&self) -> PathBuf {
        self.out.join("logs")
    }

    /// Trains and evaluates one preference run.
    pub fn run(
        &self,
        method: &str,
        settings: &str,
        preference: &PreferenceConfig,
    ) -> Result<Outcome> {
        let name = format!("{method} {settings}");
        if let Some(checkpoints) = self.checkpoints
            && let Some(outcome) = checkpoints.finished::<Outcome>(&name)?
        {
            if self.verbose {
                eprintln!("  {name:<40} finished before (kept)");
            }
            return Ok(outcome);
        }
        let Trained { run, model } = self.pipeline.preference(
            &name,
            self.sft,
            preference,
            Some(&self.logs()),
            self.checkpoints,
        )?;
        let evaluation = self.pipeline.evaluate_test(&model)?;
        evaluation.write_answers(
            &self.logs().join(answers_file(&name)),
            &self.pipeline.dataset.items.titles,
        )?;
        if self.verbose {
            eprintln!(
                "  {name:<40} HR@1 {:.3}   ({} rows, {:.1} s)",
                evaluation.hit_ratio_at_1(),
                run.rows,
                run.seconds
            );
        }
        let outcome = Outcome {
            method: method.into(),
            settings: settings.into(),
            stage: Stage::Preference,
            run: Some(run),
            evaluation,
        };
        if let Some(checkpoints) = self.checkpoints {
            checkpoints.finish(&name, &outcome)?;
        }
        Ok(outcome)
    }

    /// The SFT row (the baseline of every table).
    pub fn sft_outcome(&self) -> Outcome {
        Outcome {
            method: "SFT".into(),
            settings: format!("{} epochs", self.pipeline.config.sft.epochs),
            stage: Stage::Sft,
            run: Some(self.sft.run.clone()),
            evaluation: self.sft_evaluation.clone(),
        }
    }
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
    columns: &[&str],
    popularity: &[u64],
    baseline: Option<&Evaluation>,
) -> Result<Row> {
    let e = &outcome.evaluation;
    let mut interval = BTreeMap::new();
    let mut values = BTreeMap::new();
    for &column in columns {
        if let Some(v) = Metric::from_label(column).and_then(|m| e.values(m)) {
            interval.insert(column.to_string(), mean_ci(&v)?);
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
            &e.values(Metric::HitRatio(1)).unwrap_or_default(),
            &b.values(Metric::HitRatio(1)).unwrap_or_default(),
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

/// A table of `rows` with `columns`, each row tested on HR@1 against the SFT model.
pub fn sft_baseline_table(
    context: &TableContext<'_>,
    id: &str,
    title: String,
    columns: &[&str],
    rows: Vec<&Outcome>,
) -> Result<crate::report::Table> {
    let popularity = context.pipeline.dataset.popularity();
    Ok(crate::report::Table {
        id: id.into(),
        title,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        baseline: "SFT".into(),
        compared: "HR@1".into(),
        rows: rows
            .into_iter()
            .map(|o| row(o, columns, popularity, Some(context.sft_evaluation)))
            .collect::<Result<_>>()?,
    })
}

/// "`a` beats `b` on `metric`" as a paired test on the test prompts.
pub fn claim_greater(
    statement: &str,
    a: &Outcome,
    b: &Outcome,
    metric: Metric,
    lower_is_better: bool,
) -> Result<Claim> {
    let label = metric.label();
    let (Some(x), Some(y)) = (a.evaluation.values(metric), b.evaluation.values(metric)) else {
        return Err(ExperimentError::Invalid(format!(
            "claim `{statement}`: no {label} values"
        )));
    };
    claim_from_values(
        statement,
        &x,
        &y,
        &describe(a),
        &describe(b),
        &label,
        lower_is_better,
    )
}

/// "method (settings)", the name of a run in claims and legends.
pub fn describe(o: &Outcome) -> String {
    if o.settings.is_empty() {
        o.method.clone()
    } else {
        format!("{} ({})", o.method, o.settings)
    }
}

/// Training-loss curves of the preference runs and validation curves of every run with one.
pub fn curves(out: &Path, outcomes: &[Outcome], prefix: &str) -> Result<Vec<Plot>> {
    let mut loss_series = Vec::new();
    let mut valid_series = Vec::new();
    for o in outcomes {
        let Some(run) = &o.run else { continue };
        if o.stage == Stage::Preference {
            let points: Vec<(f64, f64)> = run
                .losses
                .iter()
                .enumerate()
                .map(|(i, &l)| ((i + 1) as f64, l))
                .collect();
            loss_series.push(Series {
                name: describe(o),
                points: smooth(&points, 10),
            });
        }
        valid_series.push(Series {
            name: describe(o),
            points: run
                .evaluations
                .iter()
                .map(|&(s, v)| (s as f64, v))
                .collect(),
        });
    }
    let file = format!("{prefix}_loss.svg");
    line_plot(
        &out.join(&file),
        "Training loss (moving average of 10 updates)",
        "update",
        "loss",
        &loss_series,
    )?;
    let loss = Plot {
        file,
        caption: "training loss of the preference runs".into(),
    };
    let file = format!("{prefix}_valid.svg");
    line_plot(
        &out.join(&file),
        "Validation HitRatio@1 during training",
        "update",
        "HR@1",
        &valid_series,
    )?;
    let valid = Plot {
        file,
        caption: "validation HitRatio@1 during training".into(),
    };
    Ok(vec![loss, valid])
}

/// The chosen reward β·(log π − log π_ref) on the training batches of `runs` (the likelihood
/// decline of DPO-style losses), when their logs carry it.
pub fn chosen_reward_curves(out: &Path, runs: &[&Outcome], prefix: &str) -> Result<Option<Plot>> {
    let mut series = Vec::new();
    for o in runs {
        let Some(log) = o.run.as_ref().and_then(|r| r.log.as_ref()) else {
            continue;
        };
        let chosen = log_series(log, "rewards/chosen")?;
        if !chosen.is_empty() {
            series.push(Series {
                name: describe(o),
                points: smooth(&chosen, 10),
            });
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = format!("{prefix}_chosen.svg");
    line_plot(
        &out.join(&file),
        "Chosen reward β·(log π − log π_ref) on training batches",
        "update",
        "chosen reward",
        &series,
    )?;
    Ok(Some(Plot {
        file,
        caption: "chosen rewards of DPO and S-DPO (likelihood decline)".into(),
    }))
}
