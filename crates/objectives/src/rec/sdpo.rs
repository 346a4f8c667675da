//! S-DPO (arXiv 2406.09215): Plackett–Luce with one preferred item ranked above K dispreferred
//! ones, `loss_i = softplus(LSE_k β·(lr_ik − lc_i))`, computed with log-sum-exp (the official
//! code exponentiates directly and overflows at margins near 88 in float32).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_positive};
use crate::input::PreferenceLogps;
use crate::numerics::{masked_logsumexp, softplus};
use crate::objective::{Inputs, Objective};
use crate::output::LossOutput;
use crate::pairs::{Pairs, Reference, batch_mean};

/// S-DPO hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdpoConfig {
    /// β; the official scripts use 1.0.
    pub beta: f64,
}

impl Default for SdpoConfig {
    fn default() -> Self {
        Self { beta: 1.0 }
    }
}

impl SdpoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<Sdpo> {
        check_positive("sdpo", "beta", self.beta)?;
        Ok(Sdpo { beta: self.beta })
    }
}

/// A validated S-DPO objective.
#[derive(Clone, Debug)]
pub struct Sdpo {
    beta: f64,
}

impl Objective for Sdpo {
    fn name(&self) -> String {
        "sdpo".into()
    }

    fn inputs(&self) -> Inputs {
        Inputs::LOG_RATIOS
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let pairs = Pairs::new("sdpo", input, Reference::Required)?;
        let margins = (pairs.rejected_logratio() - pairs.chosen_logratio()).mul_scalar(self.beta);
        let per_example = softplus(masked_logsumexp(margins, pairs.mask.as_ref()));
        let (chosen_rewards, rejected_rewards) = pairs.rewards(self.beta, false);
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
