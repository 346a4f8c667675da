//! The LoRe experiment (`docs/methods/personal.md` §3): low-rank reward factorization against one
//! shared Bradley–Terry reward (rank 1) and independent per-user rewards, for seen users
//! (held-out pairs) and for unseen users fitted from k shots with the basis frozen; recovery of
//! the true basis (principal angles); and personalized re-ranking of each prompt's responses.
//!
//! The data are comparisons with response features in `chosen_features` / `rejected_features`
//! columns: generated users who are Dirichlet mixtures of basis rewards (the default, written
//! to the output folder and read back), or any folder of real data in the same layout.
//!
//! [`settings`] is the `[lore]` section of the config, [`data`] loads the comparisons and
//! splits the users, [`fit`] fits and scores every method, [`report`] writes the section.

pub mod data;
pub mod fit;
pub mod report;
pub mod settings;

pub use data::read_comparisons;

use crate::error::Result;
use crate::personal::PersonalContext;
use crate::report::Section;

/// Runs the experiment and returns its report section.
pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let settings = &context.config.lore;
    settings.check()?;
    let data = data::LoreData::prepare(context, settings)?;
    let runs = fit::fit_all(
        &data.train,
        &data.test,
        &data.split,
        settings,
        context.config.seed,
    )?;
    report::section(context, settings, &data, &runs)
}
