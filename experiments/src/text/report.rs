//! The report of a text run: held-out metrics before and after training (intervals over the
//! evaluation comparisons), per-user accuracies, training curves, and `results.json` whose
//! `eval` object holds the final held-out metrics under TRL's names.

use std::collections::BTreeMap;
use std::path::Path;

use prefopt_eval::stats::{mean_ci, paired_test};

use super::data::TextPipeline;
use super::evaluate::HeldOut;
use super::stage::Trained;
use crate::common::logs::smooth;
use crate::common::plots::{Series, line_plot};
use crate::error::Result;
use crate::report::{Meta, Plot, Report, Row, Section, Table};
use crate::runner::command_line;

/// Everything the report is written from.
pub struct TextOutcome<'a> {
    pub pipeline: &'a TextPipeline,
    pub trained: &'a Trained,
    pub revision: String,
    pub elapsed: f64,
}

const INTERVAL_COLUMNS: [&str; 2] = ["rewards/accuracies", "logps/accuracies"];
const VALUE_COLUMNS: [&str; 7] = [
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
    "logps/chosen",
    "logps/rejected",
    "loss",
    "s/update",
];

fn row(
    method: &str,
    settings: String,
    held: &HeldOut,
    seconds_per_update: Option<f64>,
) -> Result<Row> {
    let mut metrics = BTreeMap::new();
    for (name, values) in [
        (INTERVAL_COLUMNS[0], &held.reward_accuracy),
        (INTERVAL_COLUMNS[1], &held.logp_accuracy),
    ] {
        if !values.is_empty() {
            metrics.insert(name.to_string(), mean_ci(values)?);
        }
    }
    let mut values: BTreeMap<String, f64> = VALUE_COLUMNS
        .iter()
        .filter_map(|c| held.metrics.get(*c).map(|v| (c.to_string(), *v)))
        .collect();
    if let Some(kl) = held.metrics.get("kl") {
        values.insert("kl".into(), *kl);
    }
    if let Some(s) = seconds_per_update {
        values.insert("s/update".into(), s);
    }
    Ok(Row {
        method: method.into(),
        settings,
        metrics,
        values,
        versus_baseline: None,
    })
}

fn mean_of(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| crate::common::mean(values))
}

fn plots(out: &Path, trained: &Trained) -> Result<Vec<Plot>> {
    let points: Vec<(f64, f64)> = trained
        .run
        .losses
        .iter()
        .enumerate()
        .map(|(i, &l)| ((i + 1) as f64, l))
        .collect();
    let window = (points.len() / 20).clamp(1, 10);
    line_plot(
        &out.join("train_loss.svg"),
        &format!("Training loss (moving average of {window} updates)"),
        "update",
        "loss",
        &[Series {
            name: "loss".into(),
            points: smooth(&points, window),
        }],
    )?;
    let curve = |metric: fn(&HeldOut) -> Option<f64>| -> Vec<(f64, f64)> {
        std::iter::once((0.0, metric(&trained.run.before)))
            .chain(
                trained
                    .run
                    .curve
                    .iter()
                    .map(|(s, h)| (*s as f64, metric(h))),
            )
            .filter_map(|(s, v)| v.map(|v| (s, v)))
            .collect()
    };
    line_plot(
        &out.join("eval_accuracy.svg"),
        "Held-out accuracy during training",
        "update",
        "accuracy",
        &[
            Series {
                name: "rewards/accuracies".into(),
                points: curve(|h| mean_of(&h.reward_accuracy)),
            },
            Series {
                name: "logps/accuracies".into(),
                points: curve(|h| mean_of(&h.logp_accuracy)),
            },
        ],
    )?;
    Ok(vec![
        Plot {
            file: "train_loss.svg".into(),
            caption: "training loss".into(),
        },
        Plot {
            file: "eval_accuracy.svg".into(),
            caption: "held-out reward and log-prob accuracy (update 0: before training)".into(),
        },
    ])
}

fn per_user_table(before: &HeldOut, after: &HeldOut) -> Result<Option<Table>> {
    if after.per_user.is_empty() {
        return Ok(None);
    }
    let rows = after
        .per_user
        .iter()
        .map(|(user, accuracies)| {
            let mut metrics = BTreeMap::new();
            metrics.insert("rewards/accuracies".to_string(), mean_ci(accuracies)?);
            Ok(Row {
                method: format!("user {user}"),
                settings: format!("{} comparisons", accuracies.len()),
                metrics,
                values: before
                    .per_user
                    .get(user)
                    .map(|b| BTreeMap::from([("before".to_string(), crate::common::mean(b))]))
                    .unwrap_or_default(),
                versus_baseline: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Table {
        id: "per_user".into(),
        title: "held-out reward accuracy per user, after training".into(),
        columns: vec!["rewards/accuracies".into()],
        baseline: String::new(),
        compared: String::new(),
        rows,
    }))
}

pub fn write_report(outcome: &TextOutcome<'_>, out: &Path) -> Result<()> {
    let TextOutcome {
        pipeline, trained, ..
    } = outcome;
    let config = &pipeline.config;
    let objective = config.preference.objective.name();
    let per_update = (trained.run.timed_updates > 0)
        .then(|| trained.run.update_seconds / trained.run.timed_updates as f64);
    let before = row(
        "before",
        "the starting model".into(),
        &trained.run.before,
        None,
    )?;
    let mut after = row(
        &objective,
        format!(
            "{} updates{}",
            trained.run.updates,
            config
                .lora
                .as_ref()
                .map_or(", full fine-tuning".into(), |l| format!(
                    ", LoRA r{}",
                    l.rank
                ))
        ),
        &trained.run.after,
        per_update,
    )?;
    if trained.run.before.logp_accuracy.len() == trained.run.after.logp_accuracy.len()
        && trained.run.after.logp_accuracy.len() > 1
    {
        after.versus_baseline = Some(paired_test(
            &trained.run.after.logp_accuracy,
            &trained.run.before.logp_accuracy,
        )?);
    }
    let columns = INTERVAL_COLUMNS
        .iter()
        .chain(VALUE_COLUMNS.iter())
        .map(|c| c.to_string())
        .chain(
            trained
                .run
                .after
                .metrics
                .contains_key("kl")
                .then(|| "kl".to_string()),
        )
        .collect();
    let table = Table {
        id: "text".into(),
        title: "held-out split".into(),
        columns,
        baseline: "before".into(),
        compared: "logps/accuracies".into(),
        rows: vec![before, after],
    };
    let mut paragraphs = vec![format!(
        "Held-out metrics are the objective's own, as TRL evaluates: `rewards/*` are the \
         implicit rewards of `{objective}` (0 for every completion before training, so \
         `rewards/accuracies` starts at 0: ties count as wrong), `logps/accuracies` is the \
         share of comparisons where the policy gives the chosen completion the higher \
         sequence log-prob (meaningful before training too). Intervals are over the {} \
         held-out comparisons; Δ is a paired t-test on them.",
        trained.run.after.logp_accuracy.len()
    )];
    let resumed = if trained.run.timed_updates < trained.run.updates {
        format!(
            " (the run was resumed: times are of the process that did the last {})",
            trained.run.timed_updates
        )
    } else {
        String::new()
    };
    paragraphs.push(format!(
        "Preference stage: {:.1} s, of which {:.1} s in its {} updates (`s/update`: forward, \
         backward and optimizer step of {} rows){resumed}; the rest is the reference's \
         log-probs and the evaluations.",
        trained.seconds,
        trained.run.update_seconds,
        trained.run.timed_updates,
        config.preference.train.batch_size * config.preference.train.grad_accum
    ));
    if let Some(s) = trained.sft_seconds {
        paragraphs.push(format!("SFT on the chosen completions first: {s:.1} s."));
    }
    let section = Section {
        heading: format!("objective `{objective}`"),
        paragraphs,
        table,
        extra_tables: per_user_table(&trained.run.before, &trained.run.after)?
            .into_iter()
            .collect(),
        claims: vec![],
        plots: plots(out, trained)?,
    };
    let report = Report {
        meta: Meta {
            title: "prefopt text preference training".into(),
            command: command_line(),
            seed: config.seed,
            seeds: Vec::new(),
            git_revision: outcome.revision.clone(),
            data: config
                .data
                .train
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string()),
            data_rows: pipeline.describe_data(),
            model: format!(
                "`{}`, {} parameters",
                config
                    .model
                    .checkpoint
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
                pipeline.base.config.parameter_count()
            ),
            device: config.device.clone(),
            elapsed_seconds: outcome.elapsed,
        },
        sections: vec![section],
        eval: Some(trained.run.after.logged().into_iter().collect()),
    };
    report.write(out, config)
}
