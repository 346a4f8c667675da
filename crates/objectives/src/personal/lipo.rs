//! LiPO-λ (arXiv 2402.01878): a list of responses per prompt with graded labels, scores
//! `s = β·(policy − reference)`, and the lambda loss as the paper computes it with rax's
//! `pairwise_logistic_loss(…, lambdaweight_fn=dcg_lambdaweight)`:
//! `Σ_valid pairs W·|2^ψa − 2^ψb|·|1/log2(1+τa) − 1/log2(1+τb)|·log(1 + e^−(s_a − s_b)) / #pairs`.
//! Ranks τ come from a stable descending sort of the detached scores and carry no gradient.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use burn::tensor::{Bool, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{ObjectiveError, Result, check_positive};
use crate::input::{BatchDims, PreferenceLogps};
use crate::numerics::{host_mask, host_tensor, host_vector, mask_to_host, softplus, to_host};
use crate::objective::{Inputs, Objective, Use};
use crate::output::{Extra, LossOutput};

/// The list-size factor W of the lambda weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListSizeScale {
    /// Each list's number of valid responses (rax run on each list alone).
    #[default]
    ValidCount,
    /// The padded width N (rax's batched call with `where=mask`).
    PaddedWidth,
}

/// How the pair losses are reduced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LipoReduction {
    /// rax: W-scaled weights, mean over all valid pairs of the batch.
    #[default]
    Rax,
    /// The paper's formula: mean over lists of the sum of Δ·ℓ, no W.
    Paper,
}

/// LiPO-λ hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LipoConfig {
    /// β (the paper uses 0.05).
    pub beta: f64,
    /// W of the lambda weights.
    pub list_size_scale: ListSizeScale,
    /// Reduction.
    pub reduction: LipoReduction,
}

impl Default for LipoConfig {
    fn default() -> Self {
        Self {
            beta: 0.05,
            list_size_scale: ListSizeScale::ValidCount,
            reduction: LipoReduction::Rax,
        }
    }
}

impl LipoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<Lipo> {
        check_positive("lipo/lambda", "beta", self.beta)?;
        Ok(Lipo {
            config: self.clone(),
        })
    }
}

/// Lists of N responses per prompt.
#[derive(Clone, Debug)]
pub struct ListLogps {
    /// `[B, N]` policy sequence log-probs.
    pub policy: Tensor<2>,
    /// `[B, N]` reference sequence log-probs.
    pub reference: Tensor<2>,
    /// `[B, N]` graded labels, higher = better.
    pub labels: Tensor<2>,
    /// `[B, N]` true = the response exists.
    pub mask: Option<Tensor<2, Bool>>,
}

/// A validated LiPO-λ objective.
#[derive(Clone, Debug)]
pub struct Lipo {
    config: LipoConfig,
}

/// 1-based ranks by descending score, ties in list order. Masked items get 0, or with
/// `rank_masked` (rax's batched call) the ranks after the valid ones, by their own scores.
fn ranks(scores: &[f64], valid: &[bool], rank_masked: bool) -> Vec<f64> {
    let descending = |items: &mut Vec<usize>| {
        items.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal))
    };
    let mut order: Vec<usize> = (0..scores.len()).filter(|&a| valid[a]).collect();
    descending(&mut order);
    if rank_masked {
        let mut masked: Vec<usize> = (0..scores.len()).filter(|&a| !valid[a]).collect();
        descending(&mut masked);
        order.extend(masked);
    }
    let mut ranks = vec![0.0; scores.len()];
    for (position, &a) in order.iter().enumerate() {
        ranks[a] = (position + 1) as f64;
    }
    ranks
}

impl Lipo {
    /// The loss on lists; extras hold the scores, ranks, lambda weights and pair losses.
    pub fn compute_list(
        &self,
        input: &ListLogps,
    ) -> Result<(
        Tensor<1>,
        Tensor<1>,
        Tensor<2>,
        BTreeMap<&'static str, Extra>,
    )> {
        let [batch, width] = input.policy.dims();
        for (name, dims) in [
            ("reference", input.reference.dims()),
            ("labels", input.labels.dims()),
        ] {
            if dims != [batch, width] {
                return Err(ObjectiveError::Shape {
                    input: name,
                    got: dims.to_vec(),
                    expected: format!("[{batch}, {width}]"),
                });
            }
        }
        let valid = match &input.mask {
            Some(mask) => mask_to_host(mask),
            None => vec![true; batch * width],
        };
        let raw_scores =
            (input.policy.clone() - input.reference.clone().detach()).mul_scalar(self.config.beta);
        // Padded slots may hold anything: they are zeroed before the loss, but ranked (rax's
        // batched call ranks them after the valid items) and reported as they are.
        let host_scores = to_host(&raw_scores);
        let scores = match &input.mask {
            Some(mask) => raw_scores.clone().mask_fill(mask.clone().bool_not(), 0.0),
            None => raw_scores.clone(),
        };
        let labels = to_host(&input.labels);
        if let Some(index) = labels
            .iter()
            .enumerate()
            .position(|(i, l)| valid[i] && !l.is_finite())
        {
            return Err(ObjectiveError::InvalidValue {
                input: "labels",
                position: format!("row {}, column {}", index / width, index % width),
                reason: "labels must be finite".into(),
            });
        }
        let paper = self.config.reduction == LipoReduction::Paper;
        let mut all_ranks = Vec::with_capacity(batch * width);
        let mut lambda = vec![0.0; batch * width * width];
        let mut pair_weight = vec![0.0; batch * width * width];
        let mut pair_counts = Vec::with_capacity(batch);
        for i in 0..batch {
            let row = i * width..(i + 1) * width;
            let row_valid = &valid[row.clone()];
            let n_valid = row_valid.iter().filter(|&&v| v).count();
            let scale = match (paper, self.config.list_size_scale) {
                (true, _) => 1.0,
                (false, ListSizeScale::ValidCount) => n_valid as f64,
                (false, ListSizeScale::PaddedWidth) => width as f64,
            };
            let rank_masked = self.config.list_size_scale == ListSizeScale::PaddedWidth;
            let row_ranks = ranks(&host_scores[row.clone()], row_valid, rank_masked);
            let row_labels = &labels[row];
            let mut pairs = 0usize;
            for a in 0..width {
                for b in 0..width {
                    if !(row_valid[a] && row_valid[b]) || a == b {
                        continue;
                    }
                    let gain = (row_labels[a].exp2() - row_labels[b].exp2()).abs();
                    let discount = (1.0 / (1.0 + row_ranks[a]).log2()
                        - 1.0 / (1.0 + row_ranks[b]).log2())
                    .abs();
                    let index = (i * width + a) * width + b;
                    lambda[index] = scale * gain * discount;
                    if row_labels[a] > row_labels[b] {
                        pair_weight[index] = lambda[index];
                        pairs += 1;
                    }
                }
            }
            pair_counts.push(pairs as f64);
            all_ranks.extend(row_ranks);
        }
        let difference = scores
            .clone()
            .reshape([batch, width, 1])
            .repeat_dim(2, width)
            - scores
                .clone()
                .reshape([batch, 1, width])
                .repeat_dim(1, width);
        let pair_losses = host_tensor(pair_weight, [batch, width, width], &difference)
            * softplus(difference.neg());
        let pair_sum = pair_losses.clone().sum_dim(2).sum_dim(1).reshape([batch]);
        let counts = host_vector(pair_counts.clone(), &pair_sum);
        let total_pairs: f64 = pair_counts.iter().sum();
        let per_example = pair_sum.clone() / counts.clone().clamp_min(1.0);
        let loss = if paper {
            pair_sum.clone().mean().reshape([1])
        } else if total_pairs == 0.0 {
            pair_sum.clone().sum().mul_scalar(0.0).reshape([1])
        } else {
            pair_sum
                .clone()
                .sum()
                .mul_scalar(1.0 / total_pairs)
                .reshape([1])
        };
        let per_example = if paper { pair_sum.clone() } else { per_example };
        let mut extras = BTreeMap::new();
        extras.insert("scores", Extra::Matrix(raw_scores.detach()));
        extras.insert(
            "ranks",
            Extra::Matrix(host_tensor(all_ranks, [batch, width], &scores)),
        );
        extras.insert(
            "lambda_weights",
            Extra::Cube(host_tensor(lambda, [batch, width, width], &pair_losses)),
        );
        extras.insert("pair_losses", Extra::Cube(pair_losses.detach()));
        extras.insert("per_example_pair_sum", Extra::Vector(pair_sum.detach()));
        extras.insert("num_valid_pairs", Extra::Vector(counts));
        Ok((loss, per_example, scores.detach(), extras))
    }
}

impl Objective for Lipo {
    fn name(&self) -> String {
        "lipo/lambda".into()
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            weights: Use::Ignored,
            list_labels: Use::Optional,
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let BatchDims { batch, negatives } = input.validate()?;
        let (Some(reference_chosen), Some(reference_rejected)) =
            (&input.reference_chosen, &input.reference_rejected)
        else {
            return Err(ObjectiveError::MissingInput {
                objective: self.name(),
                input: "reference log-probs",
                why: "LiPO scores responses by β·(policy − reference)",
            });
        };
        let column = |x: &Tensor<1>| x.clone().reshape([batch, 1]);
        let labels = match &input.list_labels {
            Some(labels) => labels.clone(),
            None => {
                let binary: Vec<f64> = (0..batch)
                    .flat_map(|_| (0..=negatives).map(|a| f64::from(u8::from(a == 0))))
                    .collect();
                host_tensor(binary, [batch, negatives + 1], &input.policy_rejected)
            }
        };
        let mask = input.rejected_mask.as_ref().map(|m| {
            let chosen_slot = host_mask(vec![true; batch], [batch, 1], &input.policy_rejected);
            Tensor::cat(vec![chosen_slot, m.clone()], 1)
        });
        let list = ListLogps {
            policy: Tensor::cat(
                vec![column(&input.policy_chosen), input.policy_rejected.clone()],
                1,
            ),
            reference: Tensor::cat(
                vec![column(reference_chosen), reference_rejected.clone()],
                1,
            ),
            labels,
            mask,
        };
        let (loss, per_example, scores, extras) = self.compute_list(&list)?;
        let rejected_rewards = scores.clone().slice([0..batch, 1..negatives + 1]);
        let rejected_rewards = match &input.rejected_mask {
            Some(mask) => rejected_rewards.mask_fill(mask.clone().bool_not(), 0.0),
            None => rejected_rewards,
        };
        Ok(LossOutput {
            loss,
            per_example_loss: Some(per_example),
            pair_losses: None,
            chosen_rewards: scores.slice([0..batch, 0..1]).reshape([batch]),
            rejected_rewards,
            rejected_mask: input.rejected_mask.clone(),
            extras,
        })
    }
}
