//! The RPO section: held-out accuracy and margin of every row, the paper's claims, and the
//! effective-β shrinkage table and plot.

use std::collections::BTreeMap;

use prefopt_eval::stats::{mean_ci, paired_test};

use super::shrinkage::effective_beta;
use super::train::{Evaluated, Experiment, RpoRuns};
use crate::common::claims::claim_from_values;
use crate::error::{ExperimentError, Result};
use crate::personal::text_policy::describe_policy;
use crate::report::{Claim, Row, Section, Table};

const COLUMNS: [&str; 3] = ["held-out acc", "reward margin", "train s"];

/// The section of the RPO experiment.
pub fn section(experiment: &Experiment<'_>, runs: &RpoRuns) -> Result<Section> {
    let b = experiment.settings.train.batch_size;
    let rows = runs
        .all()
        .map(|run| row(run, &runs.dpo))
        .collect::<Result<Vec<_>>>()?;
    let table = Table {
        id: "rpo".into(),
        title: "RPO: held-out preference accuracy and reward margin on new prompts of known \
                families"
            .into(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        baseline: format!("DPO (B {b})"),
        compared: "held-out acc".into(),
        rows,
    };
    let mut claims = claims(experiment, runs)?;
    let (shrinkage, shrinkage_plot, shrinkage_claim) = effective_beta(experiment)?;
    claims.push(shrinkage_claim);
    Ok(Section {
        heading: "RPO: relative preference optimization (arXiv 2402.10958)".into(),
        paragraphs: vec![protocol(experiment)],
        table,
        extra_tables: vec![shrinkage],
        claims,
        plots: vec![shrinkage_plot],
    })
}

/// One row, with a paired test of its accuracy against DPO at the main micro-batch.
fn row(run: &Evaluated, dpo: &Evaluated) -> Result<Row> {
    Ok(Row {
        method: run.method.clone(),
        settings: run.settings.clone(),
        metrics: BTreeMap::from([
            (COLUMNS[0].to_string(), mean_ci(&run.correct)?),
            (COLUMNS[1].to_string(), mean_ci(&run.margins)?),
        ]),
        values: BTreeMap::from([(COLUMNS[2].to_string(), run.seconds)]),
        versus_baseline: if std::ptr::eq(run, dpo) {
            None
        } else {
            Some(paired_test(&run.correct, &dpo.correct)?)
        },
    })
}

/// The paper's claims: weighted RPO against DPO and against uniform weights, unpaired RPO
/// against chance, and RPO's lead over DPO at the smallest and largest micro-batch.
fn claims(experiment: &Experiment<'_>, runs: &RpoRuns) -> Result<Vec<Claim>> {
    let s = experiment.settings;
    let b = s.train.batch_size;
    let unpaired = &runs.unpaired;
    let mut claims = vec![
        claim_from_values(
            "embedding-weighted RPO ≥ DPO (held-out accuracy)",
            &runs.paired.correct,
            &runs.dpo.correct,
            "RPO paired",
            "DPO",
            "held-out accuracy",
            false,
        )?,
        claim_from_values(
            "embedding weights beat uniform weights",
            &runs.paired.correct,
            &runs.uniform.correct,
            "RPO paired",
            "RPO uniform",
            "held-out accuracy",
            false,
        )?,
        claim_from_values(
            "unpaired RPO learns without matched pairs (accuracy above ½)",
            &unpaired.correct,
            &vec![0.5; unpaired.correct.len()],
            "RPO unpaired",
            "½",
            "held-out accuracy",
            false,
        )?,
    ];
    if let (Some(&small), Some(&large)) = (
        s.batch_sizes.iter().min().filter(|&&x| x < b),
        s.batch_sizes.iter().max().filter(|&&x| x > b),
    ) {
        let lead = |size: usize| -> Result<Vec<f64>> {
            let at = runs.at_batch(size).ok_or_else(|| {
                ExperimentError::Invalid(format!("no RPO batch-sweep run at B {size}"))
            })?;
            Ok(at
                .rpo
                .correct
                .iter()
                .zip(&at.dpo.correct)
                .map(|(r, d)| r - d)
                .collect())
        };
        claims.push(claim_from_values(
            "RPO's lead over DPO grows with the micro-batch",
            &lead(large)?,
            &lead(small)?,
            &format!("lead at B {large}"),
            &format!("lead at B {small}"),
            "held-out accuracy difference",
            false,
        )?);
    }
    Ok(claims)
}

fn protocol(experiment: &Experiment<'_>) -> String {
    let s = experiment.settings;
    format!(
        "Data: `{}` ({} train / {} test pairs; test prompts are new prompts of the training \
         families). Policy: {}, SFT on the chosen \
         responses, which is also the frozen reference. Every run starts from the SFT model \
         with β {} and the same schedule; prompt embeddings: {:?}. Accuracy is \
         1[β·(lc − lr) > 0] per held-out pair; Δ is paired against DPO at B {}. \
         Unpaired RPO splits every triplet into a chosen and a rejected example and shuffles \
         them, so its micro-batch holds 2B singles.",
        experiment.dir.display(),
        experiment.train.len(),
        experiment.test.len(),
        describe_policy(experiment.context.config, &s.preset),
        s.beta,
        s.embeddings,
        s.train.batch_size
    )
}
