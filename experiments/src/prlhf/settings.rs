//! The `[prlhf]` section of the config: data sizes, the policy, and the grid of P-DPO rows.

use std::path::PathBuf;

use prefopt_models::train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::checks::positive;
use crate::error::{ExperimentError, Result};

/// Settings of the P-RLHF experiment (`[prlhf]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrlhfSettings {
    /// A folder as `prefopt data generate conflicting` writes it (train/test/users.parquet);
    /// without it, data are generated with the sizes below.
    pub data: Option<PathBuf>,
    pub users: usize,
    pub prompts: usize,
    pub pairs_per_user: usize,
    /// Share of users who prefer short responses (the paper's synthetic task: 0.3).
    pub short_fraction: f64,
    pub short_words: (usize, usize),
    pub long_words: (usize, usize),
    pub label_noise: f64,
    pub test_fraction: f64,
    pub preset: String,
    pub vocab_size: usize,
    pub sft: TrainConfig,
    pub train: TrainConfig,
    pub beta: f64,
    /// α of the P-DPO rows (weight of the personalised term).
    pub alphas: Vec<f64>,
    /// User tokens T_u of the P-DPO rows (at the first α).
    pub user_tokens: Vec<usize>,
    /// Clusters of the cluster-model row (0: no such row).
    pub clusters: usize,
    /// Test prompts generated for, users per group, and the longest response in tokens.
    pub generation_prompts: usize,
    pub generation_users: usize,
    pub max_tokens: usize,
}

impl Default for PrlhfSettings {
    fn default() -> Self {
        Self {
            data: None,
            users: 40,
            prompts: 120,
            pairs_per_user: 40,
            short_fraction: 0.3,
            short_words: (2, 4),
            long_words: (8, 12),
            label_noise: 0.05,
            test_fraction: 0.25,
            preset: "tiny".into(),
            vocab_size: 1000,
            sft: TrainConfig {
                epochs: 3,
                batch_size: 32,
                lr: 3e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            train: TrainConfig {
                epochs: 3,
                batch_size: 32,
                lr: 1e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            beta: 0.5,
            alphas: vec![0.5, 1.0],
            user_tokens: vec![1, 4],
            clusters: 2,
            generation_prompts: 12,
            generation_users: 3,
            max_tokens: 24,
        }
    }
}

impl PrlhfSettings {
    pub fn check(&self) -> Result<()> {
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(0.0..=1.0).contains(a)) {
            return Err(ExperimentError::Invalid(
                "prlhf.alphas must list values in [0, 1]".into(),
            ));
        }
        if self.user_tokens.is_empty() || self.user_tokens.contains(&0) {
            return Err(ExperimentError::Invalid(
                "prlhf.user_tokens must list counts ≥ 1".into(),
            ));
        }
        if !positive(self.beta) || self.max_tokens == 0 {
            return Err(ExperimentError::Invalid(
                "prlhf.beta and prlhf.max_tokens must be positive".into(),
            ));
        }
        self.sft.check()?;
        self.train.check()?;
        Ok(())
    }
}
