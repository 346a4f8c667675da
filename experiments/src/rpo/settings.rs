//! The `[rpo]` section of the config: data sizes, the policy, τ and batch-size grids.

use std::path::PathBuf;

use prefopt_models::train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::checks::positive;
use crate::error::{ExperimentError, Result};

/// Where RPO's prompt embeddings come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingSource {
    /// The dataset's `prompt_embedding` column (a sentence encoder's output in the paper).
    Dataset,
    /// The SFT policy's mean hidden state over the prompt tokens.
    Policy,
}

/// Settings of the RPO experiment (`[rpo]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpoSettings {
    /// A folder with `train.parquet` / `test.parquet` carrying `prompt_embedding`; without it,
    /// prompt families are generated with the sizes below.
    pub data: Option<PathBuf>,
    pub families: usize,
    pub prompts_per_family: usize,
    pub pairs_per_prompt: usize,
    pub preset: String,
    pub vocab_size: usize,
    pub sft: TrainConfig,
    /// Preference training (its `batch_size` is the main micro-batch B).
    pub train: TrainConfig,
    pub beta: f64,
    /// τ of the paired runs (the first is the main one).
    pub temperatures: Vec<f64>,
    /// Micro-batch sizes of the batch sweep (paired RPO and DPO).
    pub batch_sizes: Vec<usize>,
    /// γ of the diagonal variant.
    pub diagonal_weight: f64,
    pub embeddings: EmbeddingSource,
}

impl Default for RpoSettings {
    fn default() -> Self {
        Self {
            data: None,
            families: 10,
            prompts_per_family: 20,
            pairs_per_prompt: 3,
            preset: "tiny".into(),
            vocab_size: 600,
            sft: TrainConfig {
                epochs: 3,
                batch_size: 16,
                lr: 3e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            train: TrainConfig {
                epochs: 4,
                batch_size: 8,
                lr: 1e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            beta: 0.1,
            temperatures: vec![0.5, 0.1, 5.0],
            batch_sizes: vec![2, 16],
            diagonal_weight: 0.8,
            embeddings: EmbeddingSource::Dataset,
        }
    }
}

impl RpoSettings {
    pub fn check(&self) -> Result<()> {
        if self.temperatures.is_empty() || self.temperatures.iter().any(|&t| !positive(t)) {
            return Err(ExperimentError::Invalid(
                "rpo.temperatures must list values > 0".into(),
            ));
        }
        if self.batch_sizes.contains(&0) || !positive(self.beta) {
            return Err(ExperimentError::Invalid(
                "rpo.batch_sizes must be ≥ 1 and rpo.beta > 0".into(),
            ));
        }
        self.sft.check()?;
        self.train.check()?;
        Ok(())
    }
}
