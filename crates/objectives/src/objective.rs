//! The one interface every loss implements.

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

    /// Evaluates the loss on a batch. The loss tensor is differentiable with respect to the
    /// policy log-probs; rewards and extras are detached.
    fn compute(&self, input: &PreferenceLogps) -> Result<LossOutput>;
}
