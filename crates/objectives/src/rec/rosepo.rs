//! RosePO (arXiv 2410.12519) and cDPO: DPO with label smoothing,
//! `ℓ = −(1−ε)·log σ(β·h) − ε·log σ(−β·h)`. cDPO uses one constant ε; RosePO reads a
//! per-pair ε (the preference oracle's doubt, the dataset's `smoothing` column). The gradient
//! vanishes at the finite margin `h* = log((1−ε)/ε)/β`, so doubtful pairs are pushed less.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dpo::smoothed_logistic;
use crate::error::{ObjectiveError, Result, check_positive, check_range};
use crate::input::PreferenceLogps;
use crate::numerics::log_sigmoid;
use crate::objective::{Inputs, Objective, required_if};
use crate::output::LossOutput;
use crate::pairs::{Pairs, Reference, batch_mean};

/// Conservative DPO: label smoothing with a constant ε.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdpoConfig {
    /// β.
    pub beta: f64,
    /// ε in [0, 0.5]: the assumed probability that a label is flipped.
    pub label_smoothing: f64,
}

impl Default for CdpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.1,
        }
    }
}

/// RosePO: label smoothing with a per-pair ε from the batch's `smoothing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RosepoConfig {
    /// β (S-DPO's stage-2 setting by default).
    pub beta: f64,
}

impl Default for RosepoConfig {
    fn default() -> Self {
        Self { beta: 1.0 }
    }
}

impl CdpoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<SmoothedDpo> {
        check_positive("cdpo", "beta", self.beta)?;
        check_range(
            "cdpo",
            "label_smoothing",
            self.label_smoothing,
            0.0,
            0.5,
            true,
        )?;
        Ok(SmoothedDpo {
            beta: self.beta,
            smoothing: Smoothing::Constant(self.label_smoothing),
        })
    }
}

impl RosepoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<SmoothedDpo> {
        check_positive("rosepo", "beta", self.beta)?;
        Ok(SmoothedDpo {
            beta: self.beta,
            smoothing: Smoothing::PerPair,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Smoothing {
    Constant(f64),
    PerPair,
}

/// A validated cDPO or RosePO objective.
#[derive(Clone, Debug)]
pub struct SmoothedDpo {
    beta: f64,
    smoothing: Smoothing,
}

impl Objective for SmoothedDpo {
    fn name(&self) -> String {
        match self.smoothing {
            Smoothing::Constant(_) => "cdpo".into(),
            Smoothing::PerPair => "rosepo".into(),
        }
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            smoothing: required_if(matches!(self.smoothing, Smoothing::PerPair)),
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let pairs = Pairs::new(&name, input, Reference::Required)?;
        let z = (pairs.chosen_logratio() - pairs.rejected_logratio()).mul_scalar(self.beta);
        let pair = match self.smoothing {
            Smoothing::Constant(eps) => smoothed_logistic(z, eps),
            Smoothing::PerPair => {
                let eps = input
                    .smoothing
                    .clone()
                    .ok_or_else(|| ObjectiveError::MissingInput {
                        objective: name.clone(),
                        input: "smoothing",
                        why: "RosePO reads a per-pair smoothing factor (the oracle's output)",
                    })?;
                let eps = pairs.zero_padding(eps);
                log_sigmoid(z.clone()).neg() * eps.clone().neg().add_scalar(1.0)
                    - log_sigmoid(z.neg()) * eps
            }
        };
        let pair = pairs.zero_padding(pair);
        let per_example = pairs.row_mean(pair.clone());
        let (chosen_rewards, rejected_rewards) = pairs.rewards(self.beta, false);
        Ok(LossOutput {
            loss: batch_mean(per_example.clone(), input),
            per_example_loss: Some(per_example),
            pair_losses: Some(pair),
            chosen_rewards,
            rejected_rewards,
            rejected_mask: pairs.mask,
            extras: BTreeMap::new(),
        })
    }
}
