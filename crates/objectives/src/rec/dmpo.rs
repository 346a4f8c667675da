//! DMPO (arXiv 2405.16127): one positive against several negatives.
//!
//! * `dmpo` — the paper's form, one sigmoid on the chosen log-ratio minus the mean rejected
//!   log-ratio: `−log σ(β·lc_i − (β/K_i)·Σ_k lr_ik)`.
//! * `dmpo/official_pairwise` — what BZX667/DMPO's code trains: every (chosen, rejected_k) is its
//!   own reference-free sigmoid pair plus an SFT term, averaged over all valid pairs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ObjectiveError, Result, check_positive, invalid};
use crate::input::PreferenceLogps;
use crate::numerics::log_sigmoid;
use crate::objective::{Inputs, Objective, required_if};
use crate::output::LossOutput;
use crate::pairs::{Pairs, Reference, batch_mean, pair_lengths};

/// The paper's DMPO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmpoConfig {
    /// β.
    pub beta: f64,
    /// Use policy log-probs as log-ratios (DynamicPO's `ref_model_enabled = false`).
    pub reference_free: bool,
}

impl Default for DmpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            reference_free: false,
        }
    }
}

impl DmpoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<Dmpo> {
        check_positive("dmpo", "beta", self.beta)?;
        Ok(Dmpo {
            config: self.clone(),
        })
    }
}

/// A validated DMPO objective.
#[derive(Clone, Debug)]
pub struct Dmpo {
    config: DmpoConfig,
}

impl Objective for Dmpo {
    fn name(&self) -> String {
        "dmpo".into()
    }

    fn inputs(&self) -> Inputs {
        Inputs::log_ratios(self.config.reference_free)
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let reference = if self.config.reference_free {
            Reference::Ignored
        } else {
            Reference::Required
        };
        let pairs = Pairs::new("dmpo", input, reference)?;
        let beta = self.config.beta;
        let [batch, _] = pairs.policy_chosen.dims();
        let chosen = pairs
            .chosen_logratio()
            .slice([0..batch, 0..1])
            .reshape([batch]);
        let z = (chosen - pairs.row_mean(pairs.rejected_logratio())).mul_scalar(beta);
        let per_example = log_sigmoid(z).neg();
        let (chosen_rewards, rejected_rewards) = pairs.rewards(beta, false);
        Ok(LossOutput {
            loss: batch_mean(per_example.clone(), input),
            per_example_loss: Some(per_example),
            pair_losses: None,
            chosen_rewards,
            rejected_rewards,
            rejected_mask: pairs.mask,
            extras: BTreeMap::new(),
        })
    }
}

/// The official DMPO code's pairwise loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmpoOfficialConfig {
    /// β (LLaMA-Factory's default `dpo_beta`).
    pub beta: f64,
    /// Weight of the per-pair SFT term `−pc/Lc` (`--dpo_ftx`; the script uses 1.0). The code
    /// skips the term below 1e-6.
    pub ftx_gamma: f64,
}

impl Default for DmpoOfficialConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            ftx_gamma: 1.0,
        }
    }
}

impl DmpoOfficialConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<DmpoOfficial> {
        let name = "dmpo/official_pairwise";
        check_positive(name, "beta", self.beta)?;
        if !(self.ftx_gamma.is_finite() && self.ftx_gamma >= 0.0) {
            return Err(invalid(
                name,
                "ftx_gamma",
                self.ftx_gamma,
                "must be finite and >= 0",
            ));
        }
        Ok(DmpoOfficial {
            config: self.clone(),
        })
    }
}

/// A validated official-code DMPO objective.
#[derive(Clone, Debug)]
pub struct DmpoOfficial {
    config: DmpoOfficialConfig,
}

impl Objective for DmpoOfficial {
    fn name(&self) -> String {
        "dmpo/official_pairwise".into()
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            lengths: required_if(self.config.ftx_gamma > 1e-6),
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let pairs = Pairs::new(&name, input, Reference::Ignored)?;
        let beta = self.config.beta;
        let policy_margin = pairs.policy_chosen.clone() - pairs.policy_rejected.clone();
        let mut pair = log_sigmoid(policy_margin.mul_scalar(beta)).neg();
        if self.config.ftx_gamma > 1e-6 {
            let (chosen_len, _) = pair_lengths(&name, input)?;
            pair = pair
                + (pairs.policy_chosen.clone().neg() / chosen_len)
                    .mul_scalar(self.config.ftx_gamma);
        }
        let pair = pairs.zero_padding(pair);
        // The code logs rewards against the chosen's reference for both responses.
        let reference =
            input
                .reference_chosen
                .clone()
                .ok_or_else(|| ObjectiveError::MissingInput {
                    objective: name.clone(),
                    input: "reference_chosen",
                    why: "the official code reports rewards against the chosen reference log-prob",
                })?;
        let [batch, negatives] = pairs.policy_chosen.dims();
        let reference = reference.reshape([batch, 1]).repeat_dim(1, negatives);
        let chosen_rewards = (input.policy_chosen.clone()
            - reference.clone().slice([0..batch, 0..1]).reshape([batch]))
        .detach()
        .mul_scalar(beta);
        let rejected_rewards = pairs.zero_padding(
            (pairs.policy_rejected.clone() - reference)
                .detach()
                .mul_scalar(beta),
        );
        let loss = match &input.weights {
            Some(_) => batch_mean(pairs.row_mean(pair.clone()), input),
            None => pairs.pair_mean(pair.clone()),
        };
        Ok(LossOutput {
            loss,
            per_example_loss: Some(pairs.row_mean(pair.clone())),
            pair_losses: Some(pair),
            chosen_rewards,
            rejected_rewards,
            rejected_mask: pairs.mask,
            extras: BTreeMap::new(),
        })
    }
}
