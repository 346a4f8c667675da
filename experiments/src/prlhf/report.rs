//! The P-RLHF section: per-group accuracy and generated length of every row, the paper's
//! claims, and the accuracy bars.

use std::collections::BTreeMap;

use prefopt_eval::stats::{mean_ci, paired_test};
use prefopt_models::tokenizer::Tokenizer;

use super::train::{Evaluated, Experiment, PrlhfRuns};
use crate::common::claims::claim_from_values;
use crate::common::plots::{Bar, bar_chart};
use crate::error::Result;
use crate::personal::text_policy::describe_policy;
use crate::report::{Claim, Row, Section, Table};

const COLUMNS: [&str; 8] = [
    "acc long group",
    "acc short group",
    "acc all",
    "as user 0: long",
    "as user 0: short",
    "words long users",
    "words short users",
    "train s",
];

/// Test rows of the two user groups.
struct Groups {
    long: Vec<usize>,
    short: Vec<usize>,
}

impl Groups {
    fn of(experiment: &Experiment<'_>) -> Self {
        let (long, short) = experiment.groups();
        Self { long, short }
    }
}

fn pick(values: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&i| values[i]).collect()
}

/// The section of the P-RLHF experiment.
pub fn section(experiment: &Experiment<'_>, runs: &PrlhfRuns) -> Result<Section> {
    let groups = Groups::of(experiment);
    let rows = runs
        .all()
        .map(|run| row(run, &runs.dpo, &groups))
        .collect::<Result<Vec<_>>>()?;
    let table = Table {
        id: "prlhf".into(),
        title: "P-RLHF: preference accuracy on held-out pairs per user group, and generated \
                length per group"
            .into(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        baseline: "DPO".into(),
        compared: "acc all".into(),
        rows,
    };
    let plot = bar_chart(
        experiment.context.out,
        "prlhf_accuracy.svg",
        "P-RLHF: held-out accuracy per user group",
        "accuracy",
        &accuracy_bars(runs, &groups)?,
        "held-out preference accuracy per group, DPO vs P-DPO",
    )?;
    Ok(Section {
        heading: "P-RLHF / P-DPO: personalized DPO with user models (arXiv 2402.05133)".into(),
        paragraphs: paragraphs(experiment, runs)?,
        table,
        extra_tables: Vec::new(),
        claims: claims(runs, &groups)?,
        plots: vec![plot],
    })
}

/// One row: accuracy per group (own and generic tokens), words per group, a paired test of
/// the accuracy against DPO's.
fn row(run: &Evaluated, dpo: &Evaluated, groups: &Groups) -> Result<Row> {
    let mut metrics = BTreeMap::new();
    metrics.insert(
        COLUMNS[0].to_string(),
        mean_ci(&pick(&run.correct, &groups.long))?,
    );
    metrics.insert(
        COLUMNS[1].to_string(),
        mean_ci(&pick(&run.correct, &groups.short))?,
    );
    metrics.insert(COLUMNS[2].to_string(), mean_ci(&run.correct)?);
    if let Some(generic) = &run.generic {
        metrics.insert(
            COLUMNS[3].to_string(),
            mean_ci(&pick(generic, &groups.long))?,
        );
        metrics.insert(
            COLUMNS[4].to_string(),
            mean_ci(&pick(generic, &groups.short))?,
        );
    }
    metrics.insert(COLUMNS[5].to_string(), mean_ci(&run.words.0)?);
    metrics.insert(COLUMNS[6].to_string(), mean_ci(&run.words.1)?);
    let versus_baseline = if std::ptr::eq(run, dpo) {
        None
    } else {
        Some(paired_test(&run.correct, &dpo.correct)?)
    };
    Ok(Row {
        method: run.method.clone(),
        settings: run.settings.clone(),
        metrics,
        values: BTreeMap::from([(COLUMNS[7].to_string(), run.seconds)]),
        versus_baseline,
    })
}

/// The paper's claims on the main P-DPO row against DPO and against chance.
fn claims(runs: &PrlhfRuns, groups: &Groups) -> Result<Vec<Claim>> {
    let (dpo, main) = (&runs.dpo, runs.main()?);
    let (long, short) = (&groups.long, &groups.short);
    let half = |n: usize| vec![0.5; n];
    let mut claims = vec![
        claim_from_values(
            "vanilla DPO follows the majority: the minority (short) group's accuracy is below ½",
            &half(short.len()),
            &pick(&dpo.correct, short),
            "½",
            "DPO, short group",
            "accuracy",
            false,
        )?,
        claim_from_values(
            "P-DPO serves the minority group better than DPO",
            &pick(&main.correct, short),
            &pick(&dpo.correct, short),
            &format!("{} ({})", main.method, main.settings),
            "DPO",
            "short-group accuracy",
            false,
        )?,
        claim_from_values(
            "one personalized model serves both groups: minority accuracy above ½",
            &pick(&main.correct, short),
            &half(short.len()),
            &format!("{}, short group", main.method),
            "½",
            "accuracy",
            false,
        )?,
        claim_from_values(
            "P-DPO keeps the majority group's accuracy above ½",
            &pick(&main.correct, long),
            &half(long.len()),
            &format!("{}, long group", main.method),
            "½",
            "accuracy",
            false,
        )?,
        claim_from_values(
            "generation length follows the user: long-group users get longer responses",
            &main.words.0,
            &main.words.1,
            "long-group users",
            "short-group users",
            "generated words per prompt",
            false,
        )?,
    ];
    if let Some(generic) = &main.generic {
        claims.push(claim_from_values(
            "the generic user 0 behaves like the majority (long group above ½)",
            &pick(generic, long),
            &half(long.len()),
            "user 0, long-group pairs",
            "½",
            "accuracy",
            false,
        )?);
    }
    Ok(claims)
}

/// The protocol, then one line per cluster model on how its clusters split the groups.
fn paragraphs(experiment: &Experiment<'_>, runs: &PrlhfRuns) -> Result<Vec<String>> {
    let settings = experiment.settings;
    let data = &experiment.data;
    let mut paragraphs = vec![format!(
        "Data: `{}` ({} train / {} test pairs; {} users, {} preferring short responses). \
         Policy: {} ({} tokens), SFT on the chosen \
         responses, which is also the reference (no user tokens, as in the official code). \
         P-DPO trains the policy and the user model jointly; every comparison appears once \
         under its user and once under the generic user 0 (`docs/methods/personal.md` §2a). \
         Accuracy is the implicit reward's order, 1[β·(lc − lr) > 0], per held-out pair, \
         under the user's own soft tokens (\"as user 0\": under the generic user's). \
         Generated words: greedy responses to {} test prompts for {} users of each group.",
        data.dir.display(),
        experiment.train.len(),
        experiment.test.len(),
        data.prefers_short.len() - 1,
        data.prefers_short.iter().filter(|s| **s).count(),
        describe_policy(experiment.context.config, &settings.preset),
        experiment.policy.tokenizer.vocab_size(),
        experiment.generation_prompts.len(),
        settings.generation_users
    )];
    for run in runs.all() {
        if let Some((long, short)) = run.cluster_weight {
            paragraphs.push(format!(
                "{} ({}): mean softmax weight on cluster 0 is {long:.3} for long-group users \
                 and {short:.3} for short-group users (a gap means the clusters separate the \
                 groups).",
                run.method, run.settings
            ));
        }
    }
    Ok(paragraphs)
}

fn accuracy_bars(runs: &PrlhfRuns, groups: &Groups) -> Result<Vec<Bar>> {
    runs.all()
        .flat_map(|run| {
            [("long", &groups.long), ("short", &groups.short)].map(|(group, rows)| {
                mean_ci(&pick(&run.correct, rows))
                    .map(|m| Bar::of(format!("{} {} / {group}", run.method, run.settings), &m))
            })
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(Into::into)
}
