//! The `[lore]` section of the config: data sizes, ranks, shots and the fits' settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checks::positive;
use crate::error::{ExperimentError, Result};

/// Settings of the LoRe experiment (`[lore]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoreSettings {
    /// A folder with `train.parquet` and `test.parquet` carrying `user_id`,
    /// `chosen_features` and `rejected_features`; without it, data are generated.
    pub data: Option<PathBuf>,
    /// Generated data: users, true bases, feature width, pairs per user, held-out share,
    /// Dirichlet concentration of the mixtures, Bradley–Terry scale.
    pub users: usize,
    pub bases: usize,
    pub feature_dim: usize,
    pub pairs_per_user: usize,
    pub test_fraction: f64,
    pub concentration: f64,
    pub scale: f64,
    /// Share of users held out of the joint fit (fitted few-shot instead).
    pub unseen_fraction: f64,
    /// Ranks of the joint fit (rank 1 is the shared Bradley–Terry model).
    pub ranks: Vec<usize>,
    /// Shots of the unseen users' fits.
    pub shots: Vec<usize>,
    /// Draws of the shots per unseen user and shot count (averaged).
    pub trials: usize,
    /// Adam steps and learning rate of the joint fit (the official 1000 and 0.5).
    pub steps: usize,
    pub lr: f64,
    /// L2 penalty of the per-user baseline (few shots are often separable).
    pub independent_l2: f64,
}

impl Default for LoreSettings {
    fn default() -> Self {
        Self {
            data: None,
            users: 150,
            bases: 3,
            feature_dim: 8,
            pairs_per_user: 100,
            test_fraction: 0.3,
            concentration: 0.3,
            scale: 3.0,
            unseen_fraction: 0.3,
            ranks: vec![1, 2, 3, 4, 6],
            shots: vec![1, 2, 5, 10, 20, 40],
            trials: 3,
            steps: 1000,
            lr: 0.5,
            independent_l2: 0.1,
        }
    }
}

impl LoreSettings {
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(ExperimentError::Invalid(format!("lore.{what}")));
        if self.ranks.is_empty() || self.ranks.contains(&0) {
            return bad("ranks must list ranks ≥ 1");
        }
        if self.shots.is_empty() || self.shots.contains(&0) || self.trials == 0 {
            return bad("shots must list counts ≥ 1 and trials must be ≥ 1");
        }
        if !(0.0..1.0).contains(&self.unseen_fraction) || self.unseen_fraction == 0.0 {
            return bad("unseen_fraction must lie in (0, 1)");
        }
        if self.steps == 0 || !positive(self.lr) || !positive(self.independent_l2) {
            return bad("steps, lr and independent_l2 must be positive");
        }
        Ok(())
    }
}
