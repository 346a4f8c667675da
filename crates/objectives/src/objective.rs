//! The one interface every loss implements, and the inputs it declares it reads.

use crate::error::Result;
use crate::input::PreferenceLogps;
use crate::output::LossOutput;

/// A validated preference objective: a pure function of a batch of log-probs.
///
/// Built from an [`ObjectiveConfig`](crate::ObjectiveConfig) by
/// [`check`](crate::ObjectiveConfig::check), so every hyper-parameter is known to be valid here;
/// `compute` only checks the batch.
pub trait Objective: std::fmt::Debug + Send + Sync {
    /// Canonical name, `<family>/<variant>` as the golden files name losses (`dpo/sigmoid`,
    /// `sdpo`, `rpo/paired`, …).
    fn name(&self) -> String;

    /// Which optional inputs of [`PreferenceLogps`] this objective reads, so a trainer or a
    /// pipeline prepares exactly those (graded labels, token log-probs, embeddings, …) without
    /// inspecting the objective's name.
    fn inputs(&self) -> Inputs;

    /// Evaluates the loss on a batch. The loss tensor is differentiable with respect to the
    /// policy log-probs; rewards and extras are detached.
    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput>;
}

/// How an objective uses one optional input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Never read; supplying it changes nothing.
    Ignored,
    /// Read when present; the loss is defined without it too.
    Optional,
    /// Without it, `compute` returns [`ObjectiveError::MissingInput`](crate::ObjectiveError).
    Required,
}

impl Use {
    /// Whether a caller should compute the input (it is read when given).
    pub fn is_read(self) -> bool {
        self != Use::Ignored
    }
}

/// The optional inputs of [`PreferenceLogps`] an objective reads, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// `reference_chosen` / `reference_rejected`.
    pub reference: Use,
    /// `chosen_lengths` / `rejected_lengths`.
    pub lengths: Use,
    /// Per-example `weights` in the batch mean.
    pub weights: Use,
    /// Per-pair label `smoothing`.
    pub smoothing: Use,
    /// `prompt_embeddings`.
    pub prompt_embeddings: Use,
    /// `user_ids`.
    pub user_ids: Use,
    /// Graded `list_labels`.
    pub list_labels: Use,
    /// Per-token log-probs (`tokens`).
    pub tokens: Use,
    /// The chosen sequences' prompt-token log-probs (`chosen_prompt`).
    pub chosen_prompt: Use,
    /// Mismatched-pair log-probs (`kl`).
    pub kl: Use,
}

impl Inputs {
    /// A loss on policy/reference log-ratios whose batch mean honours per-example weights, and
    /// nothing more: the starting point of most declarations.
    pub const LOG_RATIOS: Inputs = Inputs {
        reference: Use::Required,
        lengths: Use::Ignored,
        weights: Use::Optional,
        smoothing: Use::Ignored,
        prompt_embeddings: Use::Ignored,
        user_ids: Use::Ignored,
        list_labels: Use::Ignored,
        tokens: Use::Ignored,
        chosen_prompt: Use::Ignored,
        kl: Use::Ignored,
    };

    /// [`Self::LOG_RATIOS`], or with `reference_free` the variant on plain log-probs, which
    /// ignores the reference.
    pub fn log_ratios(reference_free: bool) -> Inputs {
        Inputs {
            reference: if reference_free {
                Use::Ignored
            } else {
                Use::Required
            },
            ..Inputs::LOG_RATIOS
        }
    }
}

/// `Required` when `condition` holds, else `Ignored`.
pub(crate) fn required_if(condition: bool) -> Use {
    if condition {
        Use::Required
    } else {
        Use::Ignored
    }
}
