//! Preference accuracy and margins from rewards (a reward model's, or DPO's implicit
//! `β (log π − log π_ref)`) of chosen and rejected responses.

use serde::Serialize;

use crate::error::{EvalError, Result};

/// How often, and by how much, the chosen response out-scores the rejected ones.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RewardSummary {
    /// Share of (chosen, rejected) pairs with chosen strictly above rejected (ties are errors
    /// of the model, as TRL's `rewards/accuracies` counts them).
    pub accuracy: f64,
    /// Mean of `chosen − rejected` over the pairs.
    pub mean_margin: f64,
    /// Per-example accuracy (the mean over that example's K pairs), for CIs and paired tests.
    pub per_example_accuracy: Vec<f64>,
}

/// `chosen[i]` against each of `rejected[i]` (K may differ between examples).
pub fn reward_summary(chosen: &[f64], rejected: &[Vec<f64>]) -> Result<RewardSummary> {
    if chosen.len() != rejected.len() {
        return Err(EvalError::LengthMismatch {
            what: "chosen and rejected rewards",
            left: chosen.len(),
            right: rejected.len(),
        });
    }
    let mut pairs = 0usize;
    let mut wins = 0usize;
    let mut margin = 0.0;
    let mut per_example_accuracy = Vec::with_capacity(chosen.len());
    for (example, (&c, others)) in chosen.iter().zip(rejected).enumerate() {
        if others.is_empty() {
            return Err(EvalError::InvalidParameter(format!(
                "example {example}: no rejected response"
            )));
        }
        let example_wins = others.iter().filter(|&&r| c > r).count();
        wins += example_wins;
        pairs += others.len();
        margin += others.iter().map(|r| c - r).sum::<f64>();
        per_example_accuracy.push(example_wins as f64 / others.len() as f64);
    }
    if pairs == 0 {
        return Err(EvalError::Empty("reward pairs"));
    }
    Ok(RewardSummary {
        accuracy: wins as f64 / pairs as f64,
        mean_margin: margin / pairs as f64,
        per_example_accuracy,
    })
}
