//! The P-RLHF experiment (`docs/methods/personal.md` §2): the conflicting-preference task at small
//! scale (a majority of users prefers long responses, a minority short ones, on the same
//! prompts), vanilla DPO against P-DPO with individual and cluster user models at several α
//! and user-token counts. Reports per-group preference accuracy on held-out pairs and the
//! length of generated responses per group.
//!
//! [`settings`] is the `[prlhf]` section of the config, [`data`] loads or generates the
//! pairs, [`task`] is P-DPO's model and training task, [`train`] trains every row, and
//! [`report`] writes the section.

pub mod data;
pub mod report;
pub mod settings;
pub mod task;
pub mod train;

pub use task::{PdpoTask, PersonalizedPolicy};

use crate::error::Result;
use crate::personal::PersonalContext;
use crate::report::Section;

/// Runs the experiment and returns its report section.
pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let experiment = train::Experiment::prepare(context)?;
    let runs = experiment.train_all()?;
    report::section(&experiment, &runs)
}
