//! `[text]`: how TRL-format rows become training sequences, with TRL's `DPOConfig` defaults.

use prefopt_models::tokenizer::Truncation;
use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextSettings {
    /// Keep a prompt's last this many tokens (TRL's default: 512).
    pub max_prompt_length: Option<usize>,
    /// Keep a completion's first this many tokens, its `eos` included (TRL's default: none).
    pub max_completion_length: Option<usize>,
    /// Bound prompt + completion (TRL's default: 1024); prompts lose their first tokens first.
    pub max_length: Option<usize>,
    /// The split read from a dataset folder for training.
    pub train_split: String,
    /// The split read from the eval dataset folder.
    pub eval_split: String,
    /// Without `[data] eval`: the fraction of the training rows held out for evaluation
    /// (a seeded sample, `[data] sample_seed`).
    pub eval_fraction: f64,
    /// Fine-tune on the chosen completions (the desirable ones of unpaired rows) before the
    /// preference stage, which then uses the SFT model as its reference; `[sft]` sets it.
    pub sft_first: bool,
}

impl Default for TextSettings {
    fn default() -> Self {
        Self {
            max_prompt_length: Some(512),
            max_completion_length: None,
            max_length: Some(1024),
            train_split: "train".into(),
            eval_split: "test".into(),
            eval_fraction: 0.1,
            sft_first: false,
        }
    }
}

impl TextSettings {
    pub fn check(&self) -> Result<()> {
        if [
            self.max_prompt_length,
            self.max_completion_length,
            self.max_length,
        ]
        .contains(&Some(0))
        {
            return Err(ExperimentError::Invalid(
                "text.max_prompt_length, max_completion_length and max_length must be positive"
                    .into(),
            ));
        }
        if self.max_length.is_some_and(|m| m < 2) {
            return Err(ExperimentError::Invalid(
                "text.max_length must leave room for a prompt and a completion token".into(),
            ));
        }
        if !(self.eval_fraction > 0.0 && self.eval_fraction < 1.0) {
            return Err(ExperimentError::Invalid(format!(
                "text.eval_fraction {} must lie in (0, 1)",
                self.eval_fraction
            )));
        }
        Ok(())
    }

    pub fn truncation(&self) -> Truncation {
        Truncation {
            max_prompt_length: self.max_prompt_length,
            max_completion_length: self.max_completion_length,
            max_length: self.max_length,
        }
    }
}
