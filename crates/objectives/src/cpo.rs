//! TRL 1.16's `CPOTrainer` (experimental): CPO, SimPO and AlphaPO, reference-free losses on
//! (possibly length-averaged) policy log-probs, plus CPO's NLL term (`docs/methods/trl.md` §5).

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::dpo::{KForm, smoothed_logistic};
use crate::error::{Result, check_positive, check_range, invalid, unsupported};
use crate::input::PreferenceLogps;
use crate::numerics::{bounded, exp_limit, masked_logsumexp, softplus};
use crate::objective::{Inputs, Objective, Use, required_if};
use crate::output::{Extra, LossOutput};
use crate::pairs::{Pairs, Reference, batch_mean, chosen_token_nll, pair_lengths};

/// CPO trainer loss types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpoLossType {
    /// Label-smoothed logistic loss on summed log-probs (CPO).
    Sigmoid,
    /// Hinge on summed log-probs.
    Hinge,
    /// IPO on length-averaged log-probs.
    Ipo,
    /// SimPO: logistic loss with target margin γ on length-averaged log-probs.
    Simpo,
}

impl CpoLossType {
    fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Hinge => "hinge",
            Self::Ipo => "ipo",
            Self::Simpo => "simpo",
        }
    }
}

/// Hyper-parameters of TRL's CPO trainer, with TRL's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpoConfig {
    /// Loss type.
    pub loss_type: CpoLossType,
    /// β.
    pub beta: f64,
    /// ε for `sigmoid` and `simpo`.
    pub label_smoothing: f64,
    /// Weight of the NLL term (0 disables it).
    pub cpo_alpha: f64,
    /// SimPO's target margin γ.
    pub simpo_gamma: f64,
    /// AlphaPO's reward-shaping exponent α (0 = off).
    pub alpha: f64,
    /// K-negative form (`listwise` for `sigmoid` and `simpo` only).
    pub k_form: KForm,
}

impl Default for CpoConfig {
    fn default() -> Self {
        Self {
            loss_type: CpoLossType::Sigmoid,
            beta: 0.1,
            label_smoothing: 0.0,
            cpo_alpha: 1.0,
            simpo_gamma: 0.5,
            alpha: 0.0,
            k_form: KForm::PairwiseMean,
        }
    }
}

impl CpoConfig {
    /// SimPO as its paper defines it: no NLL term.
    pub fn simpo(beta: f64, gamma: f64) -> Self {
        Self {
            loss_type: CpoLossType::Simpo,
            beta,
            simpo_gamma: gamma,
            cpo_alpha: 0.0,
            ..Self::default()
        }
    }

    /// AlphaPO: TRL rewrites `loss_type = "alphapo"` to SimPO without NLL; `alpha` shapes rewards.
    pub fn alphapo(beta: f64, gamma: f64, alpha: f64) -> Self {
        Self {
            alpha,
            ..Self::simpo(beta, gamma)
        }
    }

    /// Canonical name.
    pub fn name(&self) -> String {
        match (self.loss_type, self.alpha != 0.0) {
            (_, true) => "cpo/alphapo".to_string(),
            (CpoLossType::Simpo, false) => "cpo/simpo".to_string(),
            (t, false) => format!("cpo/cpo_{}", t.name()),
        }
    }

    /// Validates the configuration.
    pub fn check(&self) -> Result<Cpo> {
        let name = self.name();
        check_positive(&name, "beta", self.beta)?;
        check_range(
            &name,
            "label_smoothing",
            self.label_smoothing,
            0.0,
            0.5,
            true,
        )?;
        for (param, value) in [
            ("cpo_alpha", self.cpo_alpha),
            ("simpo_gamma", self.simpo_gamma),
            ("alpha", self.alpha),
        ] {
            if !value.is_finite() {
                return Err(invalid(&name, param, value, "must be finite"));
            }
        }
        if self.k_form == KForm::Listwise {
            if !matches!(self.loss_type, CpoLossType::Sigmoid | CpoLossType::Simpo) {
                return Err(unsupported(
                    &name,
                    "only sigmoid and simpo have a listwise K-negative form",
                ));
            }
            if self.label_smoothing != 0.0 {
                return Err(unsupported(
                    &name,
                    "the listwise form has no label smoothing; set label_smoothing = 0",
                ));
            }
        }
        Ok(Cpo {
            config: self.clone(),
        })
    }
}

/// A validated CPO / SimPO / AlphaPO objective.
#[derive(Clone, Debug)]
pub struct Cpo {
    config: CpoConfig,
}

impl Cpo {
    /// AlphaPO's reward `(1 − exp(x)^(−α))/α = (1 − exp(−α·x))/α`, the identity at α = 0. The
    /// exponent is clamped where TRL overflows to −∞.
    fn shaped(&self, x: Tensor<2>) -> Tensor<2> {
        let alpha = self.config.alpha;
        if alpha == 0.0 {
            return x;
        }
        let limit = exp_limit(x.dtype());
        bounded(
            x.mul_scalar(-alpha)
                .clamp_max(limit)
                .exp()
                .neg()
                .add_scalar(1.0)
                .mul_scalar(1.0 / alpha),
        )
    }
}

impl Objective for Cpo {
    fn name(&self) -> String {
        self.config.name()
    }

    fn inputs(&self) -> Inputs {
        let c = &self.config;
        Inputs {
            reference: Use::Ignored,
            lengths: required_if(
                matches!(c.loss_type, CpoLossType::Ipo | CpoLossType::Simpo) || c.cpo_alpha != 0.0,
            ),
            ..Inputs::LOG_RATIOS
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let c = &self.config;
        let name = self.name();
        let pairs = Pairs::new(&name, input, Reference::Ignored)?;
        let (chosen, rejected) = match c.loss_type {
            CpoLossType::Ipo | CpoLossType::Simpo => {
                let (chosen_len, rejected_len) = pair_lengths(&name, input)?;
                let rejected_len = pairs
                    .zero_padding(rejected_len.sub_scalar(1.0))
                    .add_scalar(1.0);
                (
                    pairs.policy_chosen.clone() / chosen_len,
                    pairs.policy_rejected.clone() / rejected_len,
                )
            }
            CpoLossType::Sigmoid | CpoLossType::Hinge => {
                (pairs.policy_chosen.clone(), pairs.policy_rejected.clone())
            }
        };
        let (chosen, rejected) = (self.shaped(chosen), self.shaped(rejected));
        let margin = chosen.clone() - rejected.clone();
        let beta = c.beta;
        let (per_prompt, pair) = match (c.k_form, c.loss_type) {
            (KForm::Listwise, CpoLossType::Sigmoid) => (
                softplus(masked_logsumexp(
                    margin.mul_scalar(-beta),
                    pairs.mask.as_ref(),
                )),
                None,
            ),
            (KForm::Listwise, _) => (
                softplus(masked_logsumexp(
                    margin.mul_scalar(-beta).add_scalar(c.simpo_gamma),
                    pairs.mask.as_ref(),
                )),
                None,
            ),
            (KForm::PairwiseMean, loss_type) => {
                let pair = match loss_type {
                    CpoLossType::Sigmoid => {
                        smoothed_logistic(margin.mul_scalar(beta), c.label_smoothing)
                    }
                    CpoLossType::Simpo => smoothed_logistic(
                        margin.mul_scalar(beta).sub_scalar(c.simpo_gamma),
                        c.label_smoothing,
                    ),
                    CpoLossType::Hinge => margin.mul_scalar(-beta).add_scalar(1.0).clamp_min(0.0),
                    CpoLossType::Ipo => {
                        bounded(margin.sub_scalar(1.0 / (2.0 * beta))).powi_scalar(2)
                    }
                };
                let pair = pairs.zero_padding(pair);
                (pairs.row_mean(pair.clone()), Some(pair))
            }
        };
        let nll = if c.cpo_alpha != 0.0 {
            chosen_token_nll(&name, input)?
        } else {
            per_prompt.zeros_like().narrow(0, 0, 1)
        };
        let loss = batch_mean(per_prompt.clone(), input) + nll.clone().mul_scalar(c.cpo_alpha);
        let [batch, _] = chosen.dims();
        let mut extras = BTreeMap::new();
        extras.insert("nll_loss", Extra::Scalar(nll.detach()));
        Ok(LossOutput {
            loss,
            per_example_loss: Some(per_prompt),
            pair_losses: pair,
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
