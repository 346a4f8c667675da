//! The `[B, K]` view of a batch that pairwise losses work on: the chosen log-prob of prompt i is
//! repeated across its K negatives, padded negatives are zeroed, and the reference is resolved.

use burn::tensor::{Bool, Tensor};

use crate::error::{ObjectiveError, Result};
use crate::input::{BatchDims, PreferenceLogps};
use crate::numerics::{masked_mean, masked_row_mean, sanitize};

/// How a loss uses the reference model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reference {
    /// The loss is defined on log-ratios; a missing reference is an error.
    Required,
    /// Reference-free losses (CPO, ORPO) or a reference-free variant: log-ratios are log-probs.
    Ignored,
}

/// Pairwise view of a validated batch.
#[derive(Clone, Debug)]
pub(crate) struct Pairs {
    pub dims: BatchDims,
    pub mask: Option<Tensor<2, Bool>>,
    pub policy_chosen: Tensor<2>,
    pub policy_rejected: Tensor<2>,
    pub reference_chosen: Option<Tensor<2>>,
    pub reference_rejected: Option<Tensor<2>>,
}

impl Pairs {
    pub fn new(objective: &str, input: &PreferenceLogps, reference: Reference) -> Result<Self> {
        let dims = input.validate()?;
        let BatchDims { batch, negatives } = dims;
        let mask = input.rejected_mask.clone();
        let repeat = |x: &Tensor<1>| x.clone().reshape([batch, 1]).repeat_dim(1, negatives);
        let (reference_chosen, reference_rejected) = match reference {
            Reference::Ignored => (None, None),
            Reference::Required => {
                let (Some(chosen), Some(rejected)) =
                    (&input.reference_chosen, &input.reference_rejected)
                else {
                    return Err(ObjectiveError::MissingInput {
                        objective: objective.to_string(),
                        input: "reference log-probs",
                        why: "the loss is defined on policy/reference log-ratios",
                    });
                };
                (
                    Some(repeat(chosen)),
                    Some(sanitize(rejected.clone(), mask.as_ref())),
                )
            }
        };
        Ok(Self {
            dims,
            policy_chosen: repeat(&input.policy_chosen),
            policy_rejected: sanitize(input.policy_rejected.clone(), mask.as_ref()),
            reference_chosen,
            reference_rejected,
            mask,
        })
    }

    /// `[B, K]` chosen log-ratios (log-probs when the reference is ignored).
    pub fn chosen_logratio(&self) -> Tensor<2> {
        match &self.reference_chosen {
            Some(reference) => self.policy_chosen.clone() - reference.clone(),
            None => self.policy_chosen.clone(),
        }
    }

    /// `[B, K]` rejected log-ratios (log-probs when the reference is ignored).
    pub fn rejected_logratio(&self) -> Tensor<2> {
        match &self.reference_rejected {
            Some(reference) => self.policy_rejected.clone() - reference.clone(),
            None => self.policy_rejected.clone(),
        }
    }

    /// Per-prompt means over the valid negatives.
    pub fn row_mean(&self, x: Tensor<2>) -> Tensor<1> {
        masked_row_mean(x, self.mask.as_ref())
    }

    /// Mean over every valid pair of the batch.
    pub fn pair_mean(&self, x: Tensor<2>) -> Tensor<1> {
        masked_mean(x, self.mask.as_ref())
    }

    /// Zeroes padded pairs.
    pub fn zero_padding(&self, x: Tensor<2>) -> Tensor<2> {
        sanitize(x, self.mask.as_ref())
    }
}

/// Batch mean of per-prompt losses, weighted by the dataset's per-example weights if present.
pub(crate) fn batch_mean(per_example: Tensor<1>, input: &PreferenceLogps) -> Tensor<1> {
    match &input.weights {
        Some(weights) => (per_example * weights.clone()).mean().reshape([1]),
        None => per_example.mean().reshape([1]),
    }
}

/// `[B]` lengths repeated to `[B, K]`, or an error naming the loss that needs them.
pub(crate) fn pair_lengths(
    objective: &str,
    input: &PreferenceLogps,
) -> Result<(Tensor<2>, Tensor<2>)> {
    let (Some(chosen), Some(rejected)) = (&input.chosen_lengths, &input.rejected_lengths) else {
        return Err(ObjectiveError::MissingInput {
            objective: objective.to_string(),
            input: "completion lengths",
            why: "the loss normalises log-probs by completion length",
        });
    };
    let BatchDims { batch, negatives } = input.dims();
    let chosen = chosen.clone().reshape([batch, 1]).repeat_dim(1, negatives);
    let rejected = sanitize(rejected.clone(), input.rejected_mask.as_ref());
    Ok((chosen, rejected))
}

/// `-(Σ_i pc_i) / (Σ_i Lc_i)`: the token-mean NLL of the chosen completions over the batch, as
/// TRL's `sft` loss type and CPO's NLL compute it (each chosen sequence counted once).
pub(crate) fn chosen_token_nll(objective: &str, input: &PreferenceLogps) -> Result<Tensor<1>> {
    let Some(lengths) = &input.chosen_lengths else {
        return Err(ObjectiveError::MissingInput {
            objective: objective.to_string(),
            input: "chosen_lengths",
            why: "the NLL term is a token mean over the batch",
        });
    };
    Ok((input.policy_chosen.clone().sum().neg() / lengths.clone().sum()).reshape([1]))
}

impl Pairs {
    /// Detached implicit rewards `β·lc` `[B]` and `β·lr` `[B, K]`. When the chosen log-prob
    /// depends on the pair (LD-DPO), the chosen reward is its mean over the valid pairs.
    pub fn rewards(&self, beta: f64, chosen_varies_by_pair: bool) -> (Tensor<1>, Tensor<2>) {
        let BatchDims { batch, .. } = self.dims;
        let chosen = self.chosen_logratio().detach().mul_scalar(beta);
        let chosen = if chosen_varies_by_pair {
            self.row_mean(chosen)
        } else {
            chosen.slice([0..batch, 0..1]).reshape([batch])
        };
        let rejected = self.zero_padding(self.rejected_logratio().detach().mul_scalar(beta));
        (chosen, rejected)
    }
}
