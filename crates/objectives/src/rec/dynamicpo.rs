//! DynamicPO's dynamic-β hard-negative loss (xingyuHuxingyu/DynamicPO,
//! `DMPO_hard_negative_dynamic_beta_fixed_margin`). Per prompt, the borderline negatives
//! (policy log-prob ≥ the chosen's) each get a detached β in `[0.5β, 1.5β]` from their distance
//! to the chosen and to the other negatives; the rest get no gradient.
//!
//! Where no negative is borderline the official code runs scikit-learn's 3-means on the
//! negatives' log-probs and takes the highest cluster. Here that is the exact optimal 1-D
//! 3-means (clusters are contiguous in sorted order; every pair of cuts is tried, ties go to the
//! lower cuts), which is what k-means converges to in the usual case. With fewer than three
//! valid negatives every point is its own cluster, so the highest one is selected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_positive};
use crate::input::PreferenceLogps;
use crate::numerics::{host_tensor, log_sigmoid, mask_to_host, to_host};
use crate::objective::Objective;
use crate::output::{Extra, LossOutput};
use crate::pairs::{Pairs, Reference, batch_mean};

/// DynamicPO hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicBetaConfig {
    /// Base β; the script uses 1.0.
    pub beta: f64,
    /// Use policy log-probs as log-ratios (`ref_model_enabled = false`).
    pub reference_free: bool,
}

impl Default for DynamicBetaConfig {
    fn default() -> Self {
        Self {
            beta: 1.0,
            reference_free: false,
        }
    }
}

impl DynamicBetaConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<DynamicBeta> {
        check_positive("dynamicpo/dynamic_beta", "beta", self.beta)?;
        Ok(DynamicBeta {
            config: self.clone(),
        })
    }
}

/// A validated DynamicPO objective.
#[derive(Clone, Debug)]
pub struct DynamicBeta {
    config: DynamicBetaConfig,
}

/// Indices (into `values`) of the highest cluster of the optimal 1-D 3-means.
fn highest_cluster(values: &[(usize, f64)]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let n = sorted.len();
    if n < 3 {
        let max = sorted.last().map_or(f64::NAN, |v| v.1);
        return sorted.iter().filter(|v| v.1 == max).map(|v| v.0).collect();
    }
    let sse = |range: &[(usize, f64)]| {
        let mean = range.iter().map(|v| v.1).sum::<f64>() / range.len() as f64;
        range.iter().map(|v| (v.1 - mean).powi(2)).sum::<f64>()
    };
    let mut best = (f64::INFINITY, n - 1);
    for a in 1..n - 1 {
        for b in a + 1..n {
            let cost = sse(&sorted[..a]) + sse(&sorted[a..b]) + sse(&sorted[b..]);
            if cost < best.0 {
                best = (cost, b);
            }
        }
    }
    let mut top: Vec<usize> = sorted[best.1..].iter().map(|v| v.0).collect();
    top.sort_unstable();
    top
}

/// Per-negative dynamic β (0 for negatives that are not selected), `[K]` for one prompt.
fn dynamic_betas(beta: f64, chosen: f64, negatives: &[(usize, f64)], slots: usize) -> Vec<f64> {
    let mut hard: Vec<usize> = negatives
        .iter()
        .filter(|v| v.1 >= chosen)
        .map(|v| v.0)
        .collect();
    if hard.is_empty() {
        hard = highest_cluster(negatives);
    }
    let easy: Vec<f64> = negatives
        .iter()
        .filter(|v| !hard.contains(&v.0))
        .map(|v| v.1)
        .collect();
    let reference: Vec<f64> = if easy.is_empty() {
        negatives
            .iter()
            .filter(|v| hard.contains(&v.0))
            .map(|v| v.1)
            .collect()
    } else {
        easy
    };
    let mean = reference.iter().sum::<f64>() / reference.len() as f64;
    let mut betas = vec![0.0; slots];
    for &(k, value) in negatives.iter().filter(|v| hard.contains(&v.0)) {
        let d1 = chosen - value;
        let d2 = value - mean;
        let scale = (d1.abs() + d2.abs()).max(1e-12);
        betas[k] = beta * (1.0 + 0.5 * ((d1 - d2 - 2.0) / scale).tanh());
    }
    betas
}

impl Objective for DynamicBeta {
    fn name(&self) -> String {
        "dynamicpo/dynamic_beta".into()
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let reference = if self.config.reference_free {
            Reference::Ignored
        } else {
            Reference::Required
        };
        let pairs = Pairs::new(&name, input, reference)?;
        let crate::input::BatchDims { batch, negatives } = pairs.dims;
        let chosen = to_host(&input.policy_chosen);
        let rejected = to_host(&input.policy_rejected);
        let valid = match &pairs.mask {
            Some(mask) => mask_to_host(mask),
            None => vec![true; batch * negatives],
        };
        let mut betas = Vec::with_capacity(batch * negatives);
        let mut selected_weights = Vec::with_capacity(batch * negatives);
        for i in 0..batch {
            let row: Vec<(usize, f64)> = (0..negatives)
                .filter(|&k| valid[i * negatives + k])
                .map(|k| (k, rejected[i * negatives + k]))
                .collect();
            let row_betas = dynamic_betas(self.config.beta, chosen[i], &row, negatives);
            let selected = row_betas.iter().filter(|&&b| b > 0.0).count() as f64;
            selected_weights.extend(row_betas.iter().map(|b| b / selected));
            betas.extend(row_betas);
        }
        let weights = host_tensor(selected_weights, [batch, negatives], &pairs.policy_rejected);
        let z = ((pairs.chosen_logratio() - pairs.rejected_logratio()) * weights)
            .sum_dim(1)
            .reshape([batch]);
        let per_example = log_sigmoid(z).neg();
        let (chosen_rewards, rejected_rewards) = pairs.rewards(self.config.beta, false);
        let mut extras = BTreeMap::new();
        extras.insert(
            "dynamic_betas",
            Extra::Matrix(host_tensor(
                betas,
                [batch, negatives],
                &pairs.policy_rejected,
            )),
        );
        Ok(LossOutput {
            loss: batch_mean(per_example.clone(), input),
            per_example_loss: Some(per_example),
            pair_losses: None,
            chosen_rewards,
            rejected_rewards,
            rejected_mask: pairs.mask,
            extras,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_means_picks_the_top_group() {
        let values = [
            (0, -10.0),
            (1, -9.5),
            (2, -5.0),
            (3, -4.8),
            (4, -1.0),
            (5, -1.1),
        ];
        assert_eq!(highest_cluster(&values), vec![4, 5]);
    }

    #[test]
    fn betas_stay_within_half_to_three_halves_beta() {
        let betas = dynamic_betas(2.0, -3.0, &[(0, -1.0), (1, -2.0), (2, -8.0)], 3);
        assert_eq!(betas[2], 0.0);
        for b in &betas[..2] {
            assert!((1.0..=3.0).contains(b), "{b}");
        }
    }
}
