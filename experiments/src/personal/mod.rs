//! The personalization experiments of `docs/methods/personal.md`: P-RLHF / P-DPO ([`prlhf`]),
//! LoRe ([`lore`]) and RPO ([`rpo`]). Each generates its data (or reads a folder of real data
//! in the same layout), trains what it compares, and returns one report section.

pub mod lore;
pub mod prlhf;
pub mod rpo;
pub mod text_policy;

use std::path::Path;

use crate::config::ExperimentConfig;

/// What the personalization tables share: the config (its `[prlhf]`, `[lore]` and `[rpo]`
/// sections, seed and device) and the output folder.
pub struct PersonalContext<'a> {
    pub config: &'a ExperimentConfig,
    pub out: &'a Path,
}

/// A finite value above zero (NaN is not).
pub(crate) fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}
