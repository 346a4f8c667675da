//! The RPO experiment (`docs/methods/personal.md` §1): DPO against RPO paired (embedding-weighted
//! and uniform), unpaired and diagonal, over several τ and micro-batch sizes, on generated
//! prompts that come in families (so cross-prompt contrasts within a family carry signal);
//! held-out preference accuracy and reward margins on new prompts of the same families; and the
//! effective-β shrinkage of the paired weights (the diagonal weight against the batch size).
//!
//! [`settings`] is the `[rpo]` section of the config, [`data`] loads or generates the
//! families, [`task`] is unpaired RPO's training task, [`train`] trains every row,
//! [`shrinkage`] measures the effective β, [`report`] writes the section.

pub mod data;
pub mod report;
pub mod settings;
pub mod shrinkage;
pub mod task;
pub mod train;

pub use settings::{EmbeddingSource, RpoSettings};
pub use task::UnpairedRpoTask;

use crate::error::Result;
use crate::personal::PersonalContext;
use crate::report::Section;

/// Runs the experiment and returns its report section.
pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let experiment = train::Experiment::prepare(context)?;
    let runs = experiment.train_all()?;
    report::section(&experiment, &runs)
}
