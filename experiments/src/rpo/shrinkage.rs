//! RPO's effective β: with embedding weights, the DPO term of example i runs at β·w_ii, and
//! w_ii falls as the micro-batch grows. Measured on random training batches.

use std::collections::BTreeMap;

use prefopt_eval::stats::mean_ci;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::train::Experiment;
use crate::common::claims::claim_from_values;
use crate::common::mean;
use crate::common::plots::{Series, line_plot};
use crate::error::Result;
use crate::report::{Claim, Plot, Row, Table};

/// The paired weights' diagonal `w_ii` on random training batches of each size, against the
/// prediction for unrelated prompts at the batch's mean distance.
pub fn effective_beta(experiment: &Experiment<'_>) -> Result<(Table, Plot, Claim)> {
    let s = experiment.settings;
    let distance = cosine_distances(&experiment.train_embeddings);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(experiment.context.config.seed);
    let sizes = [2usize, 4, 8, 16, 32];
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let mut at_extremes: (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for &tau in &s.temperatures {
        let mut points = Vec::new();
        for &size in sizes.iter().filter(|&&n| n <= experiment.train.len()) {
            let (diagonal, predicted) =
                diagonal_weights(&*distance, experiment.train.len(), size, tau, &mut rng);
            if tau == s.temperatures[0] && size == 2 {
                at_extremes.0 = diagonal.clone();
            }
            if tau == s.temperatures[0]
                && size
                    == *sizes
                        .iter()
                        .filter(|&&n| n <= experiment.train.len())
                        .max()
                        .unwrap_or(&2)
            {
                at_extremes.1 = diagonal.clone();
            }
            points.push((size as f64, mean(&diagonal)));
            rows.push(Row {
                method: format!("τ {tau}"),
                settings: format!("B {size}"),
                metrics: BTreeMap::from([(
                    "diagonal weight w_ii".to_string(),
                    mean_ci(&diagonal)?,
                )]),
                values: BTreeMap::from([
                    ("unrelated-prompt prediction".to_string(), mean(&predicted)),
                    ("1/B".to_string(), 1.0 / size as f64),
                ]),
                versus_baseline: None,
            });
        }
        series.push(Series {
            name: format!("τ {tau}"),
            points,
        });
    }
    let table = shrinkage_table(rows);
    let file = "rpo_effective_beta.svg".to_string();
    line_plot(
        &experiment.context.out.join(&file),
        "RPO: diagonal weight vs micro-batch size",
        "batch size B",
        "w_ii",
        &series,
    )?;
    let n = at_extremes.0.len().min(at_extremes.1.len());
    let claim = claim_from_values(
        "the DPO term's effective β shrinks as the batch grows (w_ii at B 2 > at the largest B)",
        &at_extremes.0[..n],
        &at_extremes.1[..n],
        "B 2",
        "largest B",
        "diagonal weight",
        false,
    )?;
    Ok((
        table,
        Plot {
            file,
            caption: "RPO's diagonal weight against the micro-batch size".into(),
        },
        claim,
    ))
}

/// `1 − cos(e_i, e_j)` between the rows of `embeddings` (RPO's prompt distance).
fn cosine_distances(embeddings: &[Vec<f64>]) -> Box<dyn Fn(usize, usize) -> f64 + '_> {
    let normalised: Vec<Vec<f64>> = embeddings
        .iter()
        .map(|e| {
            let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            e.iter().map(|v| v / norm).collect()
        })
        .collect();
    Box::new(move |i: usize, j: usize| {
        1.0 - normalised[i]
            .iter()
            .zip(&normalised[j])
            .map(|(a, b)| a * b)
            .sum::<f64>()
    })
}

/// The table of `w_ii` per τ and batch size.
fn shrinkage_table(rows: Vec<Row>) -> Table {
    Table {
        id: "rpo_effective_beta".into(),
        title: "Effective β: the paired weights' diagonal w_ii (the DPO term runs at β·w_ii) \
                on random training batches"
            .into(),
        columns: vec![
            "diagonal weight w_ii".into(),
            "unrelated-prompt prediction".into(),
            "1/B".into(),
        ],
        baseline: "–".into(),
        compared: String::new(),
        rows,
    }
}

/// `w_ii` of every example of 200 random batches of `size` out of `n` (softmax over −d/τ in
/// its batch), and the prediction for unrelated prompts at the batch's mean distance d̄,
/// 1 / (1 + (B − 1)·exp(−d̄/τ)).
fn diagonal_weights(
    distance: &dyn Fn(usize, usize) -> f64,
    n: usize,
    size: usize,
    tau: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> (Vec<f64>, Vec<f64>) {
    let (mut diagonal, mut predicted) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let batch = &order[..size];
        for &i in batch {
            let logits: Vec<f64> = batch.iter().map(|&j| -distance(i, j) / tau).collect();
            let max = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let total: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            diagonal.push((-distance(i, i) / tau - max).exp() / total);
            let others: Vec<f64> = batch
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| distance(i, j))
                .collect();
            let mean_distance = mean(&others);
            predicted.push(1.0 / (1.0 + (size as f64 - 1.0) * (-mean_distance / tau).exp()));
        }
    }
    (diagonal, predicted)
}
