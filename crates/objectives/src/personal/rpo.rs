//! RPO (arXiv 2402.10958): every chosen response of a batch is contrasted with every rejected
//! one, `ℓ_ij = −log σ(β·w_ij·(lc_i − lr_j))`, where `w_ij` is a softmax over the rejected
//! columns of `−(1 − cos(e_i, e_j))/τ` (prompt-embedding similarity) or 1 without embeddings;
//! the weight scales the logit, as the official code does. With K negatives per prompt, all B·K
//! valid negatives are columns, each with its own prompt's embedding.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::error::{ObjectiveError, Result, check_positive, check_range};
use crate::input::{BatchDims, PreferenceLogps};
use crate::kto::{UnpairedLogps, UnpairedOutput, repair_rewards};
use crate::numerics::{host_indices, host_tensor, host_vector, log_sigmoid, mask_to_host};
use crate::objective::{Inputs, Objective, Use};
use crate::output::LossOutput;
use crate::pairs::batch_mean;

/// Which RPO trainer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpoVariant {
    /// Paired data, embedding-weighted contrast matrix.
    #[default]
    Paired,
    /// Unpaired chosen and rejected examples from different prompts.
    Unpaired,
    /// No embeddings; the diagonal (own pairs) weighted by γ, the rest by 1−γ.
    Diagonal,
}

/// RPO hyper-parameters (the official defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpoConfig {
    /// Variant.
    pub variant: RpoVariant,
    /// β.
    pub beta: f64,
    /// τ of the similarity softmax.
    pub distance_temperature: f64,
    /// γ of the diagonal variant.
    pub diagonal_weight: f64,
}

impl Default for RpoConfig {
    fn default() -> Self {
        Self {
            variant: RpoVariant::Paired,
            beta: 0.1,
            distance_temperature: 0.5,
            diagonal_weight: 0.8,
        }
    }
}

impl RpoConfig {
    /// Canonical name.
    pub fn name(&self) -> String {
        let variant = match self.variant {
            RpoVariant::Paired => "paired",
            RpoVariant::Unpaired => "unpaired",
            RpoVariant::Diagonal => "diagonal",
        };
        format!("rpo/{variant}")
    }

    /// Validates the configuration.
    pub fn check(&self) -> Result<Rpo> {
        let name = self.name();
        check_positive(&name, "beta", self.beta)?;
        check_positive(&name, "distance_temperature", self.distance_temperature)?;
        check_range(
            &name,
            "diagonal_weight",
            self.diagonal_weight,
            0.0,
            1.0,
            true,
        )?;
        Ok(Rpo {
            config: self.clone(),
        })
    }
}

/// A validated RPO objective.
#[derive(Clone, Debug)]
pub struct Rpo {
    config: RpoConfig,
}

/// Row-softmax similarity weights `[C, R]` between row and column prompt embeddings.
fn similarity_weights(rows: Tensor<2>, columns: Tensor<2>, temperature: f64) -> Tensor<2> {
    // `F.normalize`: the norm is clamped at 1e-12, so a zero embedding stays zero (no NaN).
    let normalise = |e: Tensor<2>| {
        let norm = e.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        e / norm
    };
    let cosine = normalise(rows).matmul(normalise(columns).transpose());
    let distance = cosine.neg().add_scalar(1.0);
    softmax(distance.mul_scalar(-1.0 / temperature), 1)
}

impl Rpo {
    /// `[C, R]` pair losses of the contrast matrix.
    fn contrast(
        &self,
        chosen: Tensor<1>,
        rejected: Tensor<1>,
        weights: Option<Tensor<2>>,
    ) -> Tensor<2> {
        let [c] = chosen.dims();
        let [r] = rejected.dims();
        let matrix =
            chosen.reshape([c, 1]).repeat_dim(1, r) - rejected.reshape([1, r]).repeat_dim(0, c);
        let logits = match weights {
            Some(w) => matrix * w,
            None => matrix,
        };
        log_sigmoid(logits.mul_scalar(self.config.beta)).neg()
    }

    /// RPO on unpaired examples (desirable = chosen).
    pub fn compute_unpaired(&self, input: &UnpairedLogps) -> Result<UnpairedOutput> {
        input.validate()?;
        let desirable = mask_to_host(&input.desirable);
        let logratio = input.policy.clone() - input.reference.clone().detach();
        let rewards = logratio.clone().detach().mul_scalar(self.config.beta);
        let chosen_index: Vec<i64> = desirable
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| i as i64)
            .collect();
        let rejected_index: Vec<i64> = desirable
            .iter()
            .enumerate()
            .filter(|(_, d)| !**d)
            .map(|(i, _)| i as i64)
            .collect();
        if chosen_index.is_empty() || rejected_index.is_empty() {
            // The official trainer returns a constant 0 for such a batch. Here the 0 stays
            // attached to the policy log-probs (times zero), so a training loop can call
            // `backward` on every batch and gets zero gradients.
            let zero = input.policy.clone().sum().mul_scalar(0.0).reshape([1]);
            return Ok(UnpairedOutput {
                loss: zero,
                per_example_loss: host_vector(vec![0.0; chosen_index.len()], &logratio),
                rewards,
                extras: BTreeMap::new(),
            });
        }
        let chosen = logratio
            .clone()
            .select(0, host_indices(chosen_index.clone(), &logratio));
        let rejected = logratio
            .clone()
            .select(0, host_indices(rejected_index.clone(), &logratio));
        let weights = input.prompt_embeddings.as_ref().map(|e| {
            let rows = e.clone().select(0, host_indices(chosen_index, e));
            let columns = e.clone().select(0, host_indices(rejected_index, e));
            similarity_weights(rows, columns, self.config.distance_temperature)
        });
        let pair = self.contrast(chosen, rejected, weights);
        let [c, _] = pair.dims();
        let per_example = pair.mean_dim(1).reshape([c]);
        Ok(UnpairedOutput {
            loss: per_example.clone().mean().reshape([1]),
            per_example_loss: per_example,
            rewards,
            extras: BTreeMap::new(),
        })
    }
}

impl Objective for Rpo {
    fn name(&self) -> String {
        self.config.name()
    }

    fn inputs(&self) -> Inputs {
        let (embeddings, weights) = match self.config.variant {
            RpoVariant::Paired => (Use::Optional, Use::Optional),
            RpoVariant::Unpaired => (Use::Optional, Use::Ignored),
            RpoVariant::Diagonal => (Use::Ignored, Use::Optional),
        };
        Inputs {
            prompt_embeddings: embeddings,
            weights,
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        if self.config.variant == RpoVariant::Unpaired {
            let (unpaired, slots) = UnpairedLogps::from_pairs(&name, input)?;
            let out = self.compute_unpaired(&unpaired)?;
            let (chosen_rewards, rejected_rewards) =
                repair_rewards(&out.rewards, &slots, input.dims());
            return Ok(LossOutput {
                loss: out.loss,
                per_example_loss: Some(out.per_example_loss),
                pair_losses: None,
                chosen_rewards,
                rejected_rewards,
                rejected_mask: input.rejected_mask.clone(),
                extras: out.extras,
            });
        }
        let (unpaired, slots) = UnpairedLogps::from_pairs(&name, input)?;
        let BatchDims { batch, .. } = input.dims();
        let logratio = unpaired.policy.clone() - unpaired.reference.clone();
        let [n] = logratio.dims();
        let chosen = logratio.clone().narrow(0, 0, batch);
        let rejected = logratio.clone().narrow(0, batch, n - batch);
        let columns = n - batch;
        let (chosen_rewards, rejected_rewards) = repair_rewards(
            &logratio.clone().detach().mul_scalar(self.config.beta),
            &slots,
            input.dims(),
        );
        // Which example each rejected column came from.
        let owner: Vec<usize> = {
            let negatives = input.dims().negatives;
            slots
                .iter()
                .enumerate()
                .filter_map(|(flat, slot)| slot.map(|_| flat / negatives))
                .collect()
        };
        let per_example = match self.config.variant {
            RpoVariant::Paired => {
                let weights = input.prompt_embeddings.as_ref().map(|_| {
                    let e = unpaired
                        .prompt_embeddings
                        .clone()
                        .expect("embeddings carried over");
                    similarity_weights(
                        e.clone().narrow(0, 0, batch),
                        e.narrow(0, batch, n - batch),
                        self.config.distance_temperature,
                    )
                });
                self.contrast(chosen, rejected, weights)
                    .mean_dim(1)
                    .reshape([batch])
            }
            _ => {
                if batch < 2 {
                    return Err(ObjectiveError::InvalidValue {
                        input: "policy_chosen",
                        position: "batch".into(),
                        reason: "RPO's diagonal variant needs at least 2 prompts per batch (the off-diagonal mean is empty)".into(),
                    });
                }
                let pair = self.contrast(chosen, rejected, None);
                let own: Vec<f64> = (0..batch)
                    .flat_map(|i| owner.iter().map(move |&o| f64::from(u8::from(o == i))))
                    .collect();
                let own = host_tensor(own, [batch, columns], &pair);
                let other = own.clone().neg().add_scalar(1.0);
                let mean_over = |w: Tensor<2>| (pair.clone() * w.clone()).sum_dim(1) / w.sum_dim(1);
                let gamma = self.config.diagonal_weight;
                (mean_over(own).mul_scalar(gamma) + mean_over(other).mul_scalar(1.0 - gamma))
                    .reshape([batch])
            }
        };
        Ok(LossOutput {
            loss: batch_mean(per_example.clone(), input),
            per_example_loss: Some(per_example),
            pair_losses: None,
            chosen_rewards,
            rejected_rewards,
            rejected_mask: input.rejected_mask.clone(),
            extras: BTreeMap::new(),
        })
    }
}
