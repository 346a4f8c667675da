//! TRL 1.16's `ORPOTrainer` (experimental): the odds-ratio preference term on length-averaged
//! log-probs, minus from the chosen sequences' NLL over prompt and completion tokens
//! (`docs/methods/trl.md` §6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ObjectiveError, Result, check_positive};
use crate::input::PreferenceLogps;
use crate::numerics::{log_sigmoid, log1mexp};
use crate::objective::{Inputs, Objective, Use};
use crate::output::{Extra, LossOutput};
use crate::pairs::{Pairs, Reference, batch_mean, pair_lengths};

/// ORPO hyper-parameters (TRL's names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrpoConfig {
    /// λ of the paper: the weight of the odds-ratio term.
    pub beta: f64,
}

impl Default for OrpoConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl OrpoConfig {
    /// Validates the configuration.
    pub fn check(&self) -> Result<Orpo> {
        check_positive("orpo", "beta", self.beta)?;
        Ok(Orpo {
            config: self.clone(),
        })
    }
}

/// A validated ORPO objective.
#[derive(Clone, Debug)]
pub struct Orpo {
    config: OrpoConfig,
}

impl Objective for Orpo {
    fn name(&self) -> String {
        "orpo".to_string()
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            reference: Use::Ignored,
            lengths: Use::Required,
            chosen_prompt: Use::Optional,
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let name = self.name();
        let beta = self.config.beta;
        let pairs = Pairs::new(&name, input, Reference::Ignored)?;
        let (chosen_len, rejected_len) = pair_lengths(&name, input)?;
        let rejected_len = pairs
            .zero_padding(rejected_len.sub_scalar(1.0))
            .add_scalar(1.0);
        let chosen = pairs.policy_chosen.clone() / chosen_len;
        let rejected = pairs.policy_rejected.clone() / rejected_len;
        let log_odds = (chosen.clone() - rejected.clone())
            - (log1mexp(chosen.clone()) - log1mexp(rejected.clone()));
        let log_sig = log_sigmoid(log_odds.clone());
        let or_pairs = pairs.zero_padding(log_sig.clone().mul_scalar(beta));
        let or_losses = pairs.row_mean(or_pairs.clone());

        // NLL over the chosen completion tokens and the prompt tokens after the first one.
        let chosen_lengths = input
            .chosen_lengths
            .clone()
            .expect("checked by pair_lengths");
        let (prompt_sum, prompt_count) = match &input.chosen_prompt {
            Some(prompt) => (prompt.sum.clone(), prompt.count.clone().detach()),
            None => (
                input.policy_chosen.zeros_like(),
                input.policy_chosen.zeros_like(),
            ),
        };
        let total_tokens = (chosen_lengths + prompt_count).sum();
        if crate::numerics::to_host(&total_tokens)[0] <= 0.0 {
            return Err(ObjectiveError::InvalidValue {
                input: "chosen_lengths",
                position: "batch".into(),
                reason: "the chosen sequences have no tokens for the NLL term".into(),
            });
        }
        let nll =
            ((input.policy_chosen.clone() + prompt_sum).sum().neg() / total_tokens).reshape([1]);
        let loss = nll.clone() - batch_mean(or_losses.clone(), input);
        let [batch, _] = chosen.dims();
        let mut extras = BTreeMap::new();
        extras.insert("nll_loss", Extra::Scalar(nll.detach()));
        extras.insert("or_losses", Extra::Vector(or_losses.clone().detach()));
        extras.insert(
            "log_odds_ratio",
            Extra::Scalar(pairs.pair_mean(log_sig).detach()),
        );
        extras.insert(
            "log_odds_chosen",
            Extra::Scalar(pairs.pair_mean(log_odds).detach()),
        );
        Ok(LossOutput {
            loss,
            per_example_loss: None,
            pair_losses: Some(or_pairs.neg()),
            chosen_rewards: chosen
                .detach()
                .mul_scalar(beta)
                .slice([0..batch, 0..1])
                .reshape([batch]),
            rejected_rewards: pairs.zero_padding(rejected.detach().mul_scalar(beta)),
            rejected_mask: pairs.mask.clone(),
            extras,
        })
    }
}
