//! The RosePO ablations (`docs/methods/rec.md` §5): rejected-sampling strategies for helpfulness
//! (random vs self-hard), the two bias mitigations (semantic-neighbour and popularity-aware
//! negatives), and personalized smoothing from the preference oracle vs none vs a constant,
//! under injected label noise.
//!
//! [`settings`] is the `[rosepo]` section of the config, [`runs`] trains and evaluates every
//! row, [`report`] turns the runs into the report section.

pub mod report;
pub mod runs;
pub mod settings;

use crate::error::Result;
use crate::rec::table::TableContext;
use crate::report::Section;

/// Runs the ablations and returns their report section.
pub fn run(context: &TableContext<'_>) -> Result<Section> {
    let runs = runs::run_table(context)?;
    report::section(context, &runs)
}
