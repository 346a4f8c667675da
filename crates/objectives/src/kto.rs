//! TRL 1.16's `KTOTrainer`: `kto` and `apo_zero_unpaired`, losses on unpaired desirable and
//! undesirable examples (`docs/methods/trl.md` §7). A paired batch is unpaired the way §9 says: the
//! chosen response is desirable, every valid negative undesirable.

use std::collections::BTreeMap;

use burn::tensor::{Bool, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{ObjectiveError, Result, check_positive, invalid};
use crate::input::{BatchDims, PreferenceLogps};
use crate::numerics::{host_indices, host_mask, mask_to_host, sigmoid};
use crate::objective::{Inputs, Objective, Use, required_if};
use crate::output::{Extra, LossOutput};

/// KTO trainer loss types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KtoLossType {
    /// Kahneman–Tversky optimisation with the batch KL reference point.
    Kto,
    /// APO-zero on unpaired data (no KL term).
    ApoZeroUnpaired,
}

/// KTO hyper-parameters (TRL's names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KtoConfig {
    /// Loss type.
    pub loss_type: KtoLossType,
    /// β.
    pub beta: f64,
    /// Weight of desirable examples.
    pub desirable_weight: f64,
    /// Weight of undesirable examples.
    pub undesirable_weight: f64,
}

impl Default for KtoConfig {
    fn default() -> Self {
        Self {
            loss_type: KtoLossType::Kto,
            beta: 0.1,
            desirable_weight: 1.0,
            undesirable_weight: 1.0,
        }
    }
}

impl KtoConfig {
    /// Canonical name.
    pub fn name(&self) -> String {
        match self.loss_type {
            KtoLossType::Kto => "kto/kto".into(),
            KtoLossType::ApoZeroUnpaired => "kto/apo_zero_unpaired".into(),
        }
    }

    /// Validates the configuration.
    pub fn check(&self) -> Result<Kto> {
        let name = self.name();
        check_positive(&name, "beta", self.beta)?;
        for (param, value) in [
            ("desirable_weight", self.desirable_weight),
            ("undesirable_weight", self.undesirable_weight),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(&name, param, value, "must be finite and >= 0"));
            }
        }
        Ok(Kto {
            config: self.clone(),
        })
    }
}

/// Unpaired examples: log-probs of N completions, each desirable or not.
#[derive(Clone, Debug)]
pub struct UnpairedLogps {
    /// `[N]` policy log-probs.
    pub policy: Tensor<1>,
    /// `[N]` reference log-probs.
    pub reference: Tensor<1>,
    /// `[N]` true = desirable (chosen).
    pub desirable: Tensor<1, Bool>,
    /// `[N, E]` prompt embeddings (RPO unpaired).
    pub prompt_embeddings: Option<Tensor<2>>,
    /// `[M]` policy log-probs of mismatched pairs (KTO's KL estimate).
    pub kl_policy: Option<Tensor<1>>,
    /// `[M]` reference log-probs of the same pairs.
    pub kl_reference: Option<Tensor<1>>,
}

/// The result of an unpaired loss.
#[derive(Clone, Debug)]
pub struct UnpairedOutput {
    /// `[1]` the loss.
    pub loss: Tensor<1>,
    /// Per-example losses (`[N]` for KTO; `[C]`, one per desirable example, for RPO).
    pub per_example_loss: Tensor<1>,
    /// `[N]` detached implicit rewards `β·(policy − reference)`.
    pub rewards: Tensor<1>,
    /// Named extras (`kl`).
    pub extras: BTreeMap<&'static str, Extra>,
}

impl UnpairedLogps {
    /// Checks that the batch is non-empty and every input has its shape; returns `N`.
    pub fn validate(&self) -> Result<usize> {
        let [n] = self.policy.dims();
        if n == 0 {
            return Err(ObjectiveError::Shape {
                input: "policy",
                got: vec![0],
                expected: "[N] with N >= 1 examples".into(),
            });
        }
        let expect = |input: &'static str, got: Vec<usize>| {
            if got == [n] {
                Ok(())
            } else {
                Err(ObjectiveError::Shape {
                    input,
                    got,
                    expected: format!("[{n}]"),
                })
            }
        };
        expect("reference", self.reference.dims().to_vec())?;
        expect("desirable", self.desirable.dims().to_vec())?;
        if let Some(e) = &self.prompt_embeddings {
            let [rows, width] = e.dims();
            if rows != n || width == 0 {
                return Err(ObjectiveError::Shape {
                    input: "prompt_embeddings",
                    got: vec![rows, width],
                    expected: format!("[{n}, E] with E >= 1"),
                });
            }
        }
        if let (Some(policy), Some(reference)) = (&self.kl_policy, &self.kl_reference)
            && policy.dims() != reference.dims()
        {
            return Err(ObjectiveError::Shape {
                input: "kl_reference",
                got: reference.dims().to_vec(),
                expected: format!("{:?}, the shape of kl_policy", policy.dims()),
            });
        }
        Ok(n)
    }

    /// Unpairs a paired batch: chosen responses first (desirable), then the valid negatives in
    /// row-major order (undesirable). Returns the flat index of each rejected slot, if valid.
    pub fn from_pairs(
        objective: &str,
        input: &PreferenceLogps,
    ) -> Result<(Self, Vec<Option<usize>>)> {
        let BatchDims { batch, negatives } = input.validate()?;
        let (Some(reference_chosen), Some(reference_rejected)) =
            (&input.reference_chosen, &input.reference_rejected)
        else {
            return Err(ObjectiveError::MissingInput {
                objective: objective.to_string(),
                input: "reference log-probs",
                why: "the loss is defined on policy/reference log-ratios",
            });
        };
        let valid = match &input.rejected_mask {
            Some(mask) => mask_to_host(mask),
            None => vec![true; batch * negatives],
        };
        let mut slots = Vec::with_capacity(valid.len());
        let mut indices = Vec::new();
        for (flat, &ok) in valid.iter().enumerate() {
            slots.push(ok.then(|| batch + indices.len()));
            if ok {
                indices.push(flat as i64);
            }
        }
        let select = |x: &Tensor<2>| {
            x.clone()
                .reshape([batch * negatives])
                .select(0, host_indices(indices.clone(), x))
        };
        let n_rejected = indices.len();
        let mut desirable = vec![true; batch];
        desirable.extend(std::iter::repeat_n(false, n_rejected));
        let embeddings = input.prompt_embeddings.as_ref().map(|e| {
            let rows: Vec<i64> = (0..batch as i64)
                .chain(indices.iter().map(|&f| f / negatives as i64))
                .collect();
            e.clone().select(0, host_indices(rows, e))
        });
        let unpaired = Self {
            policy: Tensor::cat(
                vec![input.policy_chosen.clone(), select(&input.policy_rejected)],
                0,
            ),
            reference: Tensor::cat(
                vec![reference_chosen.clone(), select(reference_rejected)],
                0,
            ),
            desirable: host_mask(desirable, [batch + n_rejected], &input.policy_chosen),
            prompt_embeddings: embeddings,
            kl_policy: input.kl.as_ref().map(|kl| kl.policy.clone()),
            kl_reference: input.kl.as_ref().map(|kl| kl.reference.clone()),
        };
        Ok((unpaired, slots))
    }
}

/// Maps unpaired rewards back to the paired layout of `input`.
pub(crate) fn repair_rewards(
    rewards: &Tensor<1>,
    slots: &[Option<usize>],
    dims: BatchDims,
) -> (Tensor<1>, Tensor<2>) {
    let BatchDims { batch, negatives } = dims;
    let chosen = rewards.clone().narrow(0, 0, batch);
    // Padded slots read the first chosen reward; the mask hides them.
    let indices: Vec<i64> = slots.iter().map(|s| s.unwrap_or(0) as i64).collect();
    let rejected = rewards
        .clone()
        .select(0, host_indices(indices, rewards))
        .reshape([batch, negatives]);
    (chosen, rejected)
}

/// A validated KTO objective.
#[derive(Clone, Debug)]
pub struct Kto {
    config: KtoConfig,
}

impl Kto {
    /// KTO on unpaired examples: one mean over all weighted terms.
    pub fn compute_unpaired(&self, input: &UnpairedLogps) -> Result<UnpairedOutput> {
        let c = &self.config;
        let name = c.name();
        let n = input.validate()?;
        let logratio = input.policy.clone() - input.reference.clone().detach();
        let kl = match c.loss_type {
            KtoLossType::ApoZeroUnpaired => logratio.zeros_like().narrow(0, 0, 1),
            KtoLossType::Kto => {
                let (Some(policy), Some(reference)) = (&input.kl_policy, &input.kl_reference)
                else {
                    return Err(ObjectiveError::MissingInput {
                        objective: name,
                        input: "KL log-probs (mismatched prompt/completion pairs)",
                        why: "KTO's reference point is the batch KL estimate",
                    });
                };
                (policy.clone() - reference.clone())
                    .mean()
                    .clamp_min(0.0)
                    .reshape([1])
                    .detach()
            }
        };
        let beta = c.beta;
        let desirable = input.desirable.clone();
        let (good, bad) = match c.loss_type {
            KtoLossType::Kto => {
                let shifted = (logratio.clone() - kl.clone().expand([n])).mul_scalar(beta);
                (
                    sigmoid(shifted.clone()).neg().add_scalar(1.0),
                    sigmoid(shifted.neg()).neg().add_scalar(1.0),
                )
            }
            KtoLossType::ApoZeroUnpaired => {
                let scaled = logratio.clone().mul_scalar(beta);
                (
                    sigmoid(scaled.clone()).neg().add_scalar(1.0),
                    sigmoid(scaled),
                )
            }
        };
        let per_example = bad
            .mul_scalar(c.undesirable_weight)
            .mask_where(desirable, good.mul_scalar(c.desirable_weight));
        let mut extras = BTreeMap::new();
        extras.insert("kl", Extra::Scalar(kl));
        Ok(UnpairedOutput {
            loss: per_example.clone().mean().reshape([1]),
            per_example_loss: per_example,
            rewards: logratio.detach().mul_scalar(beta),
            extras,
        })
    }
}

impl Objective for Kto {
    fn name(&self) -> String {
        self.config.name()
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            weights: Use::Ignored,
            kl: required_if(self.config.loss_type == KtoLossType::Kto),
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let (unpaired, slots) = UnpairedLogps::from_pairs(&name, input)?;
        let out = self.compute_unpaired(&unpaired)?;
        let dims = input.dims();
        let (chosen_rewards, rejected_rewards) = repair_rewards(&out.rewards, &slots, dims);
        Ok(LossOutput {
            loss: out.loss,
            per_example_loss: None,
            pair_losses: None,
            chosen_rewards,
            rejected_rewards,
            rejected_mask: input.rejected_mask.clone(),
            extras: out.extras,
        })
    }
}
