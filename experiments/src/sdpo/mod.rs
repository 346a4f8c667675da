//! The S-DPO table (`docs/methods/rec.md` §2–4): SFT vs DPO vs S-DPO at several K vs DMPO (paper
//! form and the official pairwise variant) vs DynamicPO vs LiPO-λ, in S-DPO's protocol
//! (in-candidate negatives, β = 1, the SFT model as reference), plus S-DPO's β sweep.
//!
//! [`settings`] is the `[sdpo]` section of the config, [`runs`] trains and evaluates every
//! row, [`report`] turns the runs into the report section.

pub mod report;
pub mod runs;
pub mod settings;

use crate::error::Result;
use crate::rec::table::TableContext;
use crate::report::Section;

/// Runs the table and returns its report section.
pub fn run(context: &TableContext<'_>) -> Result<Section> {
    let runs = runs::run_table(context)?;
    report::section(context, &runs)
}
