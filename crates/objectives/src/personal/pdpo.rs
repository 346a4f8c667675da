//! P-DPO (arXiv 2402.05133): the per-example DPO loss of personalised rows (user id ≠ 0, policy
//! under the user's soft prompt) and of generic rows (user 0) mixed as
//! `α·mean_{u≠0} ℓ + (1−α)·mean_{u=0} ℓ`; a group absent from the batch contributes 0, as in the
//! official `UserDPOTrainer` (which duplicates every comparison under user 0).
//!
//! The per-example loss is trl 0.10.1's `DPOTrainer.dpo_loss`, the function the official trainer
//! calls, applied to the log-probs as they are passed in. Two of its loss types differ from
//! TRL 1.16's (the [`crate::dpo`] module): `ipo` is `(m − 1/(2β))²` on the margin of the given
//! log-probs, without TRL 1.16's division by completion length (trl 0.10.1 averages the log-probs
//! over completion tokens in its forward pass instead, so to train as the official IPO run does,
//! score mean per-token log-probs), and `exo_pair` replaces ε = 0 by 1e-3. `bco_pair` is refused:
//! trl 0.10.1 shifts it by a running mean of past batches' rewards, state a per-batch loss does
//! not have. Loss types trl 0.10.1 does not have follow TRL 1.16.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dpo::{DpoConfig, DpoLossType, smoothed_logistic};
use crate::error::{ObjectiveError, Result, check_positive, check_range, unsupported};
use crate::input::PreferenceLogps;
use crate::numerics::{bounded, host_vector};
use crate::objective::{Inputs, Objective, Use, required_if};
use crate::output::LossOutput;
use crate::pairs::{Pairs, Reference};

/// P-DPO hyper-parameters (official defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PdpoConfig {
    /// The per-example loss; `sigmoid` is trl 0.10.1's, which applies `label_smoothing` (cDPO).
    pub loss_type: DpoLossType,
    /// β.
    pub beta: f64,
    /// α: weight of the personalised rows.
    pub alpha: f64,
    /// ε of the per-example loss.
    pub label_smoothing: f64,
}

impl Default for PdpoConfig {
    fn default() -> Self {
        Self {
            loss_type: DpoLossType::Sigmoid,
            beta: 0.5,
            alpha: 0.5,
            label_smoothing: 0.0,
        }
    }
}

impl PdpoConfig {
    /// Canonical name.
    pub fn name(&self) -> String {
        format!("pdpo/{}", self.loss_type.name())
    }

    /// Validates the configuration.
    pub fn check(&self) -> Result<Pdpo> {
        let name = self.name();
        check_positive(&name, "beta", self.beta)?;
        check_range(&name, "alpha", self.alpha, 0.0, 1.0, true)?;
        check_range(
            &name,
            "label_smoothing",
            self.label_smoothing,
            0.0,
            0.5,
            true,
        )?;
        if self.loss_type == DpoLossType::BcoPair {
            return Err(unsupported(
                &name,
                "trl 0.10.1's `bco_pair` shifts the margin by a running mean over past batches, which a per-batch loss cannot reproduce",
            ));
        }
        if self.loss_type.couples_batch() {
            return Err(unsupported(
                &name,
                format!("`{}` has no per-example loss to mix", self.loss_type.name()),
            ));
        }
        let label_smoothing =
            if self.loss_type == DpoLossType::ExoPair && self.label_smoothing == 0.0 {
                1e-3
            } else {
                self.label_smoothing
            };
        let inner = DpoConfig {
            loss_type: vec![self.loss_type],
            beta: self.beta,
            label_smoothing,
            ..DpoConfig::default()
        };
        let inner = if matches!(self.loss_type, DpoLossType::Sigmoid | DpoLossType::Ipo) {
            None
        } else {
            Some(inner.check()?)
        };
        Ok(Pdpo {
            config: self.clone(),
            inner,
        })
    }
}

/// A validated P-DPO objective: `inner` computes the loss types trl 0.10.1 and TRL 1.16 share;
/// `sigmoid` (with cDPO smoothing) and `ipo` are computed here.
#[derive(Clone, Debug)]
pub struct Pdpo {
    config: PdpoConfig,
    inner: Option<crate::dpo::Dpo>,
}

impl Objective for Pdpo {
    fn name(&self) -> String {
        self.config.name()
    }

    fn inputs(&self) -> Inputs {
        let loss_type = self.config.loss_type;
        Inputs {
            lengths: required_if(loss_type.needs_lengths() && loss_type != DpoLossType::Ipo),
            weights: Use::Ignored,
            user_ids: Use::Required,
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let users = input
            .user_ids
            .clone()
            .ok_or_else(|| ObjectiveError::MissingInput {
                objective: name.clone(),
                input: "user_ids",
                why: "P-DPO mixes personalised (user ≠ 0) and generic (user 0) rows",
            })?;
        let (per_example, chosen_rewards, rejected_rewards, mask) = match &self.inner {
            Some(inner) => {
                let out = inner.compute(input)?;
                let per_example = out.per_example_loss.expect("per-example loss types only");
                (
                    per_example,
                    out.chosen_rewards,
                    out.rejected_rewards,
                    out.rejected_mask,
                )
            }
            None => {
                let pairs = Pairs::new(&name, input, Reference::Required)?;
                let margin = pairs.chosen_logratio() - pairs.rejected_logratio();
                let beta = self.config.beta;
                let pair = if self.config.loss_type == DpoLossType::Ipo {
                    bounded(margin.sub_scalar(1.0 / (2.0 * beta))).powi_scalar(2)
                } else {
                    smoothed_logistic(margin.mul_scalar(beta), self.config.label_smoothing)
                };
                let pair = pairs.zero_padding(pair);
                let (chosen, rejected) = pairs.rewards(self.config.beta, false);
                (pairs.row_mean(pair), chosen, rejected, pairs.mask)
            }
        };
        let personal: Vec<f64> = users.iter().map(|&u| f64::from(u8::from(u != 0))).collect();
        let generic: Vec<f64> = personal.iter().map(|p| 1.0 - p).collect();
        let group_mean = |indicator: Vec<f64>| {
            let count = indicator.iter().sum::<f64>().max(1.0);
            (per_example.clone() * host_vector(indicator, &per_example))
                .sum()
                .mul_scalar(1.0 / count)
        };
        let alpha = self.config.alpha;
        let loss = (group_mean(personal).mul_scalar(alpha)
            + group_mean(generic).mul_scalar(1.0 - alpha))
        .reshape([1]);
        Ok(LossOutput {
            loss,
            per_example_loss: Some(per_example),
            pair_losses: None,
            chosen_rewards,
            rejected_rewards,
            rejected_mask: mask,
            extras: BTreeMap::new(),
        })
    }
}
