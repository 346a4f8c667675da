//! TRL 1.16's `DPOTrainer` losses: the 15 `loss_type`s, their f-divergence variants, weighted
//! combinations (MPO), WPO weighting and LD-DPO, each with K negatives per prompt.
//!
//! K negatives follow `docs/methods/trl.md` §9: by default every (chosen, rejected_k) pair is a TRL
//! pair and the per-prompt loss is the mean over the valid k (`KForm::PairwiseMean`), so K = 1
//! is TRL exactly; `KForm::Listwise` selects the natural listwise form where one exists.

mod f_divergence;
mod loss_type;
mod token_options;

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::{Deserialize, Deserializer, Serialize};

pub use f_divergence::FDivergenceType;
pub use loss_type::{ALL_DPO_LOSS_TYPES, DpoLossType};
pub(crate) use loss_type::{PairTerms, pair_loss, smoothed_logistic};

use crate::error::{Result, check_positive, check_range, invalid, unsupported};
use crate::input::PreferenceLogps;
use crate::numerics::{host_indices, mask_to_host, to_host};
use crate::objective::{Inputs, Objective, Use, required_if};
use crate::output::LossOutput;
use crate::pairs::{Pairs, Reference, batch_mean, chosen_token_nll, pair_lengths};

/// How a loss defined on pairs handles K negatives per prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KForm {
    /// Mean of the pairwise loss over the valid negatives (TRL-exact at K = 1).
    #[default]
    PairwiseMean,
    /// The loss type's listwise form (S-DPO-style softmax for `sigmoid`).
    Listwise,
}

/// Hyper-parameters of TRL's DPO trainer, with TRL's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoConfig {
    /// One or several loss types (MPO); a single name is accepted too.
    #[serde(deserialize_with = "one_or_many")]
    pub loss_type: Vec<DpoLossType>,
    /// One weight per loss type; `None` means 1.0 each.
    pub loss_weights: Option<Vec<f64>>,
    /// β, the inverse temperature of the implicit reward.
    pub beta: f64,
    /// ε, read by `exo_pair`, `robust`, `aot` and `aot_unpaired` only (as in TRL 1.16).
    pub label_smoothing: f64,
    /// f-divergence regulariser.
    pub f_divergence_type: FDivergenceType,
    /// α of `alpha_divergence`.
    pub f_alpha_divergence_coef: f64,
    /// τ of `discopop`.
    pub discopop_tau: f64,
    /// WPO: weight each pair by its detached sequence probabilities.
    pub use_weighting: bool,
    /// LD-DPO: weight of the tokens past the shorter completion (`None` = off).
    pub ld_alpha: Option<f64>,
    /// K-negative form.
    pub k_form: KForm,
    /// Treat the reference as uniform (log-ratios = policy log-probs).
    pub reference_free: bool,
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            loss_type: vec![DpoLossType::Sigmoid],
            loss_weights: None,
            beta: 0.1,
            label_smoothing: 0.0,
            f_divergence_type: FDivergenceType::ReverseKl,
            f_alpha_divergence_coef: 0.5,
            discopop_tau: 0.05,
            use_weighting: false,
            ld_alpha: None,
            k_form: KForm::PairwiseMean,
            reference_free: false,
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<DpoLossType>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(DpoLossType),
        Many(Vec<DpoLossType>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl DpoConfig {
    /// A config with one loss type and TRL's defaults otherwise.
    pub fn new(loss_type: DpoLossType) -> Self {
        Self {
            loss_type: vec![loss_type],
            ..Self::default()
        }
    }

    /// Canonical name: `dpo/<type>[+<type>…]`.
    pub fn name(&self) -> String {
        let types: Vec<&str> = self.loss_type.iter().map(|t| t.name()).collect();
        format!("dpo/{}", types.join("+"))
    }

    /// Validates the configuration.
    pub fn check(&self) -> Result<Dpo> {
        let name = self.name();
        if self.loss_type.is_empty() {
            return Err(invalid(
                &name,
                "loss_type",
                "[]",
                "needs at least one loss type",
            ));
        }
        check_positive(&name, "beta", self.beta)?;
        let weights = match &self.loss_weights {
            None => vec![1.0; self.loss_type.len()],
            Some(weights) if weights.len() != self.loss_type.len() => {
                return Err(invalid(
                    &name,
                    "loss_weights",
                    format!("{weights:?}"),
                    format!("needs one weight per loss type ({})", self.loss_type.len()),
                ));
            }
            Some(weights) => {
                if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
                    return Err(invalid(&name, "loss_weights", w, "weights must be finite"));
                }
                weights.clone()
            }
        };
        let eps = self.label_smoothing;
        for &loss_type in &self.loss_type {
            match loss_type {
                DpoLossType::ExoPair => {
                    check_range(&name, "label_smoothing", eps, f64::MIN_POSITIVE, 1.0, false)
                        .map_err(|_| {
                            invalid(&name, "label_smoothing", eps, "exo_pair needs 0 < ε < 1")
                        })?
                }
                DpoLossType::Robust => check_range(&name, "label_smoothing", eps, 0.0, 0.5, false)?,
                DpoLossType::Aot | DpoLossType::AotUnpaired => {
                    check_range(&name, "label_smoothing", eps, 0.0, 1.0, true)?
                }
                DpoLossType::Discopop => check_positive(&name, "discopop_tau", self.discopop_tau)?,
                _ => {}
            }
            if self.f_divergence_type != FDivergenceType::ReverseKl
                && !loss_type.accepts_f_divergence()
            {
                return Err(unsupported(
                    &name,
                    format!(
                        "f_divergence_type `{}` cannot be combined with loss type `{}` (TRL allows it for sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop, sft)",
                        self.f_divergence_type.name(),
                        loss_type.name()
                    ),
                ));
            }
            if self.use_weighting
                && matches!(loss_type, DpoLossType::Aot | DpoLossType::AotUnpaired)
            {
                return Err(unsupported(
                    &name,
                    "WPO weighting (use_weighting) is not defined for aot losses",
                ));
            }
            if self.k_form == KForm::Listwise
                && !loss_type.has_listwise_form()
                && loss_type != DpoLossType::Sft
            {
                return Err(unsupported(
                    &name,
                    format!(
                        "loss type `{}` has no listwise K-negative form; use k_form = \"pairwise_mean\"",
                        loss_type.name()
                    ),
                ));
            }
        }
        if self.k_form == KForm::Listwise && self.use_weighting {
            return Err(unsupported(
                &name,
                "WPO weights are per pair; they cannot weight a listwise loss",
            ));
        }
        if !self.f_alpha_divergence_coef.is_finite() {
            return Err(invalid(
                &name,
                "f_alpha_divergence_coef",
                self.f_alpha_divergence_coef,
                "must be finite",
            ));
        }
        if let Some(alpha) = self.ld_alpha {
            check_range(&name, "ld_alpha", alpha, 0.0, 1.0, true)?;
        }
        Ok(Dpo {
            config: self.clone(),
            weights,
        })
    }
}

/// A validated DPO objective.
#[derive(Clone, Debug)]
pub struct Dpo {
    config: DpoConfig,
    weights: Vec<f64>,
}

impl Dpo {
    /// The configuration this objective was built from.
    pub fn config(&self) -> &DpoConfig {
        &self.config
    }
}

/// Values sorted ascending (the permutation is read on the host from detached values; the
/// gradient flows through the gathered entries).
fn sorted(x: Tensor<1>) -> Tensor<1> {
    let values = to_host(&x);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let indices = host_indices(order.into_iter().map(|i| i as i64).collect(), &x);
    x.select(0, indices)
}

impl Objective for Dpo {
    fn name(&self) -> String {
        self.config.name()
    }

    fn inputs(&self) -> Inputs {
        let c = &self.config;
        let coupled_only = c.loss_type.iter().all(|t| t.couples_batch());
        Inputs {
            lengths: required_if(c.loss_type.iter().any(|t| t.needs_lengths())),
            weights: if coupled_only && !c.use_weighting {
                Use::Ignored
            } else {
                Use::Optional
            },
            tokens: required_if(c.use_weighting || c.ld_alpha.is_some()),
            ..Inputs::log_ratios(c.reference_free)
        }
    }

    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput> {
        let c = &self.config;
        let name = self.name();
        let reference = if c.reference_free {
            Reference::Ignored
        } else {
            Reference::Required
        };
        let mut pairs = Pairs::new(&name, input, reference)?;
        if let Some(alpha) = c.ld_alpha {
            let (chosen, rejected) = token_options::ld_logps(&name, input, alpha)?;
            pairs.policy_chosen = chosen;
            pairs.policy_rejected = pairs.zero_padding(rejected);
        }
        let needs_lengths = c
            .loss_type
            .iter()
            .any(|t| matches!(t, DpoLossType::Ipo | DpoLossType::SigmoidNorm));
        let (chosen_length, rejected_length) = if needs_lengths {
            let (chosen, rejected) = pair_lengths(&name, input)?;
            (Some(chosen.clamp_min(1.0)), Some(rejected.clamp_min(1.0)))
        } else {
            (None, None)
        };
        let chosen_logratio = pairs.chosen_logratio();
        let rejected_logratio = pairs.rejected_logratio();
        let phi = |l: Tensor<2>| c.f_divergence_type.score(l, c.f_alpha_divergence_coef);
        let terms = PairTerms {
            beta: c.beta,
            label_smoothing: c.label_smoothing,
            discopop_tau: c.discopop_tau,
            chosen_score: phi(chosen_logratio.clone()),
            rejected_score: phi(rejected_logratio.clone()),
            chosen_logratio,
            rejected_logratio,
            chosen_length,
            rejected_length,
        };
        let wpo = if c.use_weighting {
            Some(token_options::wpo_weights(&name, input)?)
        } else {
            None
        };
        let weighted = |x: Tensor<2>| match &wpo {
            Some(w) => x * w.clone(),
            None => x,
        };

        let mut loss: Option<Tensor<1>> = None;
        let mut per_example: Option<Tensor<1>> = None;
        let mut per_pair: Option<Tensor<2>> = None;
        let mut coupled = false;
        let accumulate =
            |acc: Option<Tensor<1>>, x: Tensor<1>| Some(acc.map_or(x.clone(), |a| a + x));
        for (&loss_type, &weight) in c.loss_type.iter().zip(&self.weights) {
            let term_loss = match loss_type {
                DpoLossType::Sft => {
                    coupled = true;
                    let nll = chosen_token_nll(&name, input)?;
                    match &wpo {
                        None => nll,
                        Some(w) => {
                            batch_mean(pairs.row_mean(w.clone() * nll.reshape([1, 1])), input)
                        }
                    }
                }
                DpoLossType::Aot | DpoLossType::AotUnpaired => {
                    coupled = true;
                    self.aot_loss(loss_type, &pairs, &terms)
                }
                _ if c.k_form == KForm::Listwise => {
                    let per_prompt =
                        loss_type::listwise_loss(loss_type, &terms, pairs.mask.as_ref());
                    per_example = accumulate(per_example, per_prompt.clone().mul_scalar(weight));
                    batch_mean(per_prompt, input)
                }
                _ => {
                    let pair = pairs.zero_padding(weighted(pair_loss(loss_type, &terms)));
                    let per_prompt = pairs.row_mean(pair.clone());
                    per_example = accumulate(per_example, per_prompt.clone().mul_scalar(weight));
                    per_pair = Some(per_pair.map_or(pair.clone().mul_scalar(weight), |p| {
                        p + pair.clone().mul_scalar(weight)
                    }));
                    batch_mean(per_prompt, input)
                }
            };
            loss = accumulate(loss, term_loss.mul_scalar(weight));
        }
        let (chosen_rewards, rejected_rewards) = pairs.rewards(c.beta, c.ld_alpha.is_some());
        Ok(LossOutput {
            loss: loss.expect("at least one loss type"),
            per_example_loss: if coupled { None } else { per_example },
            pair_losses: if coupled || c.k_form == KForm::Listwise {
                None
            } else {
                per_pair
            },
            chosen_rewards,
            rejected_rewards,
            rejected_mask: pairs.mask.clone(),
            extras: BTreeMap::new(),
        })
    }
}

impl Dpo {
    /// AOT sorts over all valid (chosen, rejected_k) pairs of the batch, flattened.
    fn aot_loss(&self, loss_type: DpoLossType, pairs: &Pairs, terms: &PairTerms) -> Tensor<1> {
        let crate::input::BatchDims { batch, negatives } = pairs.dims;
        let flat_len = batch * negatives;
        let valid: Vec<i64> = match &pairs.mask {
            Some(mask) => mask_to_host(mask)
                .into_iter()
                .enumerate()
                .filter(|(_, v)| *v)
                .map(|(i, _)| i as i64)
                .collect(),
            None => (0..flat_len as i64).collect(),
        };
        let flatten = |x: Tensor<2>| {
            let indices = host_indices(valid.clone(), &x);
            x.reshape([flat_len]).select(0, indices)
        };
        let delta = match loss_type {
            DpoLossType::Aot => {
                let policy = flatten(pairs.policy_chosen.clone() - pairs.policy_rejected.clone());
                let reference = match (&pairs.reference_chosen, &pairs.reference_rejected) {
                    (Some(c), Some(r)) => sorted(flatten(c.clone() - r.clone())),
                    _ => policy.zeros_like(),
                };
                sorted(policy) - reference
            }
            _ => {
                sorted(flatten(terms.chosen_logratio.clone()))
                    - sorted(flatten(terms.rejected_logratio.clone()))
            }
        };
        smoothed_logistic(
            delta.mul_scalar(self.config.beta),
            self.config.label_smoothing,
        )
        .mean()
        .reshape([1])
    }
}
