//! Held-out metrics of a policy against its reference, computed as TRL's `evaluate` computes
//! them — the objective's own loss and implicit rewards on the evaluation rows — plus what a
//! report needs for intervals: one reward accuracy per comparison.
//!
//! A comparison is a pair's chosen response against its rejected ones (the share of the K it
//! out-rewards). Unpaired rows have no pairs: their comparisons are, per prompt with both
//! kinds of completion, every desirable against every undesirable completion; prompts with
//! only one kind count in the KTO metrics but in no accuracy.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use prefopt_models::scoring::{ScoreItem, ScoringMode, score};
use prefopt_models::train::{PreferenceTask, UnpairedTask, policy_logp_means, unpaired_metrics};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::kto::Kto;
use prefopt_objectives::numerics::{mask_to_host, to_host};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A policy on the evaluation split.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HeldOut {
    /// Means over the split under TRL's names (`rewards/accuracies`, `loss`, …), weighted by
    /// batch size as TRL's evaluation loop averages them.
    pub metrics: BTreeMap<String, f64>,
    /// One implicit-reward accuracy per comparison (ties count as wrong, as in TRL).
    pub reward_accuracy: Vec<f64>,
    /// One accuracy per comparison of the policy's own sequence log-probs: does it give the
    /// chosen completion the higher likelihood? Meaningful before training, when every
    /// implicit reward is 0.
    pub logp_accuracy: Vec<f64>,
    /// Reward accuracies per user, when the rows name users.
    pub per_user: BTreeMap<i64, Vec<f64>>,
}

fn mask_host(mask: Option<&Tensor<2, burn::tensor::Bool>>, len: usize) -> Vec<bool> {
    mask.map_or_else(|| vec![true; len], mask_to_host)
}

/// The share of present negatives each chosen value beats (strictly).
fn beats(chosen: &[f64], rejected: &[f64], present: &[bool], negatives: usize) -> Vec<f64> {
    chosen
        .iter()
        .enumerate()
        .map(|(b, &c)| {
            let (mut wins, mut count) = (0.0, 0.0);
            for k in 0..negatives {
                let index = b * negatives + k;
                if present.get(index).copied().unwrap_or(false) {
                    wins += f64::from(u8::from(c > rejected[index]));
                    count += 1.0;
                }
            }
            if count > 0.0 { wins / count } else { 0.0 }
        })
        .collect()
}

fn accumulate(total: &mut BTreeMap<String, f64>, values: Vec<(String, f64)>, share: f64) {
    for (name, value) in values {
        *total.entry(name).or_default() += share * value;
    }
}

/// Soft tokens to place before the prompts of the examples at the given indices (P-DPO's
/// user tokens), or `None`.
pub type SoftTokens<'f> = &'f dyn Fn(&[usize]) -> Result<Option<Tensor<3>>>;

/// Paired rows: the objective of `task` (the evaluation rows with their reference log-probs
/// and extras) on each batch of the split.
pub fn evaluate_paired(
    model: &Transformer,
    task: &PreferenceTask<'_>,
    batch_size: usize,
    soft_tokens: Option<SoftTokens<'_>>,
) -> Result<HeldOut> {
    let (examples, objective, pad) = (task.examples, task.objective, task.pad);
    let mut out = HeldOut::default();
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items: Vec<ScoreItem<'_>> =
            chunk.iter().map(|&i| ScoreItem::of(&examples[i])).collect();
        let soft = match soft_tokens {
            Some(tokens) => tokens(chunk)?,
            None => None,
        };
        let scores = score(model, &items, ScoringMode::SharedPrefix, soft, pad)?;
        let input = task.logps(&scores, chunk)?;
        let output = objective.compute(&input)?;
        let share = chunk.len() as f64 / examples.len() as f64;
        accumulate(&mut out.metrics, output.metrics().values, share);
        accumulate(&mut out.metrics, policy_logp_means(&scores), share);
        let [_, negatives] = output.rejected_rewards.dims();
        let present = mask_host(output.rejected_mask.as_ref(), chunk.len() * negatives);
        let rewards = beats(
            &to_host(&output.chosen_rewards),
            &to_host(&output.rejected_rewards),
            &present,
            negatives,
        );
        let logps = to_host(&scores.logps);
        let r = scores.responses;
        let chosen_logps: Vec<f64> = (0..chunk.len()).map(|b| logps[b * r]).collect();
        let rejected_logps: Vec<f64> = (0..chunk.len())
            .flat_map(|b| (1..r).map(move |k| (b, k)))
            .map(|(b, k)| logps[b * r + k])
            .collect();
        let logp_present: Vec<bool> = (0..chunk.len())
            .flat_map(|b| (1..r).map(move |k| (b, k)))
            .map(|(b, k)| scores.lengths[b * r + k] > 0)
            .collect();
        let logp = beats(&chosen_logps, &rejected_logps, &logp_present, r - 1);
        for (position, &i) in chunk.iter().enumerate() {
            if let Some(user) = examples[i].user {
                out.per_user
                    .entry(user)
                    .or_default()
                    .push(rewards[position]);
            }
        }
        out.reward_accuracy.extend(rewards);
        out.logp_accuracy.extend(logp);
    }
    Ok(out)
}

/// Unpaired rows: KTO on each batch, and accuracies over the prompts with both kinds.
pub fn evaluate_unpaired(
    model: &Transformer,
    task: &UnpairedTask<'_>,
    objective: &Kto,
    batch_size: usize,
) -> Result<HeldOut> {
    let examples = task.examples;
    let mut out = HeldOut::default();
    let mut rewards = Vec::with_capacity(examples.len());
    let mut logps = Vec::with_capacity(examples.len());
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let input = task.logps(model, chunk)?;
        let output = objective.compute_unpaired(&input)?;
        let share = chunk.len() as f64 / examples.len() as f64;
        accumulate(&mut out.metrics, unpaired_metrics(&input, &output), share);
        rewards.extend(to_host(&output.rewards));
        logps.extend(to_host(&input.policy));
    }
    let mut by_prompt: BTreeMap<&[u32], Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_prompt.entry(e.prompt.as_slice()).or_default().push(i);
    }
    for rows in by_prompt.values() {
        let (good, bad): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| examples[i].label);
        if good.is_empty() || bad.is_empty() {
            continue;
        }
        let share = |values: &[f64]| {
            let wins = good
                .iter()
                .flat_map(|&g| bad.iter().map(move |&b| (g, b)))
                .filter(|&(g, b)| values[g] > values[b])
                .count();
            wins as f64 / (good.len() * bad.len()) as f64
        };
        let accuracy = share(&rewards);
        if let Some(user) = examples[rows[0]].user {
            out.per_user.entry(user).or_default().push(accuracy);
        }
        out.reward_accuracy.push(accuracy);
        out.logp_accuracy.push(share(&logps));
    }
    if !out.reward_accuracy.is_empty() {
        out.metrics.insert(
            "rewards/accuracies".into(),
            crate::common::mean(&out.reward_accuracy),
        );
    }
    Ok(out)
}

impl HeldOut {
    /// What the trainer logs after `eval_`: the means, the log-prob accuracy and the
    /// per-user reward accuracies (`rewards/accuracies/user_<id>`).
    pub fn logged(&self) -> Vec<(String, f64)> {
        let mut values: Vec<(String, f64)> =
            self.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect();
        if !self.logp_accuracy.is_empty() {
            values.push((
                "logps/accuracies".into(),
                crate::common::mean(&self.logp_accuracy),
            ));
        }
        for (user, accuracies) in &self.per_user {
            values.push((
                format!("rewards/accuracies/user_{user}"),
                crate::common::mean(accuracies),
            ));
        }
        values
    }

    /// The checkpoint-selection score: held-out reward accuracy.
    pub fn score(&self) -> f64 {
        self.metrics
            .get("rewards/accuracies")
            .copied()
            .unwrap_or(f64::NAN)
    }
}
