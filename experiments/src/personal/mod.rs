//! What the personalization experiments (`crate::prlhf`, `crate::lore`, `crate::rpo`) share:
//! their context and the small text policy they train.

pub mod text_policy;

use std::path::Path;

use prefopt_models::train::TrainConfig;

use crate::common::logs::with_log;
use crate::config::ExperimentConfig;
use crate::error::Result;

/// What the personalization tables share: the config (its `[prlhf]`, `[lore]` and `[rpo]`
/// sections, seed and device) and the output folder.
pub struct PersonalContext<'a> {
    pub config: &'a ExperimentConfig,
    pub out: &'a Path,
}

impl PersonalContext<'_> {
    /// `settings` logging to `<out>/logs/<name>.jsonl`, its seed mixed with the experiment's.
    pub fn train_config(&self, settings: &TrainConfig, name: &str) -> Result<TrainConfig> {
        let mut config = with_log(settings, Some(&self.out.join("logs")), name)?;
        config.seed ^= self.config.seed;
        Ok(config)
    }
}
