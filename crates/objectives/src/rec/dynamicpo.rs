//! DynamicPO's dynamic-β hard-negative loss (xingyuHuxingyu/DynamicPO, `preference_loss` with
//! `filter_mode = "DMPO_hard_negative_dynamic_beta_fixed_margin"`). Per prompt, the selected
//! negatives each get a detached β in `[0.5β, 1.5β]` from their distance to the chosen and to the
//! mean of the other negatives; the rest get no gradient. Selection follows the official code:
//! - the *borderline* negatives are those whose policy log-prob is ≥ the chosen's;
//! - where none is borderline, scikit-learn's `KMeans(n_clusters=3, random_state=42)` runs on the
//!   negatives' policy log-probs and the cluster with the highest mean is selected (replayed
//!   exactly by [`super::sklearn_kmeans`]: the optimal 3-means is a different, often better,
//!   clustering, and it is not what the official code trains on);
//! - the other negatives give the mean that `d2` is measured from; when every negative is
//!   selected, that mean is over the selected ones.
//!
//! Two quirks of the official code are kept, because they decide which β goes with which
//! negative: a borderline row's β values are computed from the negatives whose *log-ratio* equals
//! a borderline negative's log-ratio (a value lookup, so an equal log-ratio of a non-borderline
//! negative shifts the list), and `tanh` of `x/0` saturates to ±1.
//!
//! Where the official code cannot run, this implementation still returns a loss: with fewer than
//! three valid negatives and none borderline (scikit-learn refuses the fit) the highest negatives
//! are selected, and where the final clustering leaves a cluster empty (fewer than three distinct
//! values; numpy's `argmax` then picks the empty cluster and the official code fails) the
//! non-empty cluster with the highest mean is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sklearn_kmeans::sklearn_kmeans_labels;
use crate::error::{Result, check_positive};
use crate::input::PreferenceLogps;
use crate::numerics::{host_tensor, log_sigmoid, mask_to_host, to_host};
use crate::objective::{Inputs, Objective};
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

/// One valid negative of a prompt.
#[derive(Clone, Copy, Debug)]
struct Negative {
    /// Its column in the `[B, K]` batch.
    slot: usize,
    policy: f64,
    logratio: f64,
}

/// Positions (into `negatives`) of the cluster the official code selects when no negative is
/// borderline.
fn highest_cluster(negatives: &[Negative]) -> Vec<usize> {
    let policy: Vec<f64> = negatives.iter().map(|n| n.policy).collect();
    let Some(labels) = sklearn_kmeans_labels(&policy, 3, 42) else {
        let max = policy.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return (0..policy.len()).filter(|&i| policy[i] == max).collect();
    };
    let mean_of = |cluster: usize| {
        let members: Vec<f64> = (0..policy.len())
            .filter(|&i| labels[i] == cluster)
            .map(|i| policy[i])
            .collect();
        (!members.is_empty()).then(|| members.iter().sum::<f64>() / members.len() as f64)
    };
    let top = (0..3)
        .filter_map(|c| mean_of(c).map(|m| (c, m)))
        .fold(None, |best: Option<(usize, f64)>, (c, m)| match best {
            Some((_, b)) if b >= m => best,
            _ => Some((c, m)),
        })
        .map_or(0, |(c, _)| c);
    (0..policy.len()).filter(|&i| labels[i] == top).collect()
}

/// Per-negative dynamic β for one prompt (0 where a negative is not selected), `[slots]`.
fn dynamic_betas(beta: f64, chosen: f64, negatives: &[Negative], slots: usize) -> Vec<f64> {
    let mut betas = vec![0.0; slots];
    if negatives.is_empty() {
        return betas;
    }
    let borderline: Vec<usize> = (0..negatives.len())
        .filter(|&i| negatives[i].policy >= chosen)
        .collect();
    // `selected[j]` takes its log-ratio from `selected[j]` and its policy value from `paired[j]`.
    let (selected, paired) = if borderline.is_empty() {
        let top = highest_cluster(negatives);
        (top.clone(), top)
    } else {
        let by_value: Vec<usize> = (0..negatives.len())
            .filter(|&i| {
                borderline
                    .iter()
                    .any(|&b| negatives[b].logratio == negatives[i].logratio)
            })
            .collect();
        (borderline, by_value)
    };
    let rest: Vec<f64> = (0..negatives.len())
        .filter(|i| !paired.contains(i))
        .map(|i| negatives[i].policy)
        .collect();
    let reference = if rest.is_empty() {
        paired.iter().map(|&i| negatives[i].policy).collect()
    } else {
        rest
    };
    let mean = reference.iter().sum::<f64>() / reference.len() as f64;
    for (&own, &partner) in selected.iter().zip(&paired) {
        let value = negatives[partner].policy;
        let to_chosen = chosen - value;
        let to_rest = value - mean;
        let adjustment = ((to_chosen - to_rest - 2.0) / (to_rest.abs() + to_chosen.abs())).tanh();
        betas[negatives[own].slot] = beta * (1.0 + 0.5 * adjustment);
    }
    betas
}

impl Objective for DynamicBeta {
    fn name(&self) -> String {
        "dynamicpo/dynamic_beta".into()
    }

    fn inputs(&self) -> Inputs {
        Inputs::log_ratios(self.config.reference_free)
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
        let logratios = to_host(&pairs.rejected_logratio());
        let valid = match &pairs.mask {
            Some(mask) => mask_to_host(mask),
            None => vec![true; batch * negatives],
        };
        let mut betas = Vec::with_capacity(batch * negatives);
        let mut selected_weights = Vec::with_capacity(batch * negatives);
        for i in 0..batch {
            let row: Vec<Negative> = (0..negatives)
                .filter(|&k| valid[i * negatives + k])
                .map(|k| Negative {
                    slot: k,
                    policy: rejected[i * negatives + k],
                    logratio: logratios[i * negatives + k],
                })
                .collect();
            let row_betas = dynamic_betas(self.config.beta, chosen[i], &row, negatives);
            let selected = row_betas.iter().filter(|&&b| b > 0.0).count().max(1) as f64;
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

    fn row(values: &[(f64, f64)]) -> Vec<Negative> {
        values
            .iter()
            .enumerate()
            .map(|(slot, &(policy, logratio))| Negative {
                slot,
                policy,
                logratio,
            })
            .collect()
    }

    #[test]
    fn kmeans_selection_takes_scikit_learns_top_cluster() {
        // scikit-learn puts -1.05, -2.2, -2.25, -3.3 and -0.5 in the top cluster.
        let policy = [
            -6.1, -2.2, -7.3, -1.05, -9.9, -3.3, -2.25, -8.8, -4.4, -12.0, -0.5, -5.5,
        ];
        let negatives = row(&policy.map(|p| (p, p)));
        assert_eq!(highest_cluster(&negatives), vec![1, 3, 5, 6, 10]);
    }

    #[test]
    fn betas_stay_within_half_to_three_halves_beta() {
        let negatives = row(&[(-1.0, 0.1), (-2.0, 0.2), (-8.0, 0.3)]);
        let betas = dynamic_betas(2.0, -3.0, &negatives, 3);
        assert_eq!(betas[2], 0.0);
        for b in &betas[..2] {
            assert!((1.0..=3.0).contains(b), "{b}");
        }
    }

    #[test]
    fn an_equal_log_ratio_pairs_betas_as_the_official_lookup_does() {
        // Negative 1 is borderline; negative 0 is not but shares its log-ratio, so the official
        // value lookup computes the single β from negative 0's policy log-prob.
        let negatives = row(&[(-5.0, 0.5), (-1.0, 0.5), (-9.0, 0.1)]);
        let betas = dynamic_betas(1.0, -2.0, &negatives, 3);
        let (to_chosen, to_rest) = (-2.0 - -5.0, -5.0 - -9.0);
        let expected = 1.0 + 0.5 * ((to_chosen - to_rest - 2.0) / (4.0 + 3.0_f64)).tanh();
        assert_eq!(betas, vec![0.0, expected, 0.0]);
    }

    #[test]
    fn a_negative_equal_to_the_chosen_and_the_rest_saturates() {
        let negatives = row(&[(-2.0, 0.0)]);
        assert_eq!(dynamic_betas(1.0, -2.0, &negatives, 1), vec![0.5]);
    }
}
