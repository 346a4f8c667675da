//! The `[sdpo]` section of the config: the grids of the S-DPO table.

use serde::{Deserialize, Serialize};

/// The S-DPO table: methods at `negatives` and the grids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdpoGrid {
    /// S-DPO's numbers of negatives (K = 1 is DPO).
    pub negatives: Vec<usize>,
    /// K of the DMPO, DynamicPO and LiPO-λ rows.
    pub comparison_negatives: usize,
    /// S-DPO's β sweep (at K = `beta_negatives`).
    pub betas: Vec<f64>,
    pub beta_negatives: usize,
}

impl Default for SdpoGrid {
    fn default() -> Self {
        Self {
            negatives: vec![1, 3, 8, 15],
            comparison_negatives: 8,
            betas: vec![0.1, 0.5, 1.0, 2.0],
            beta_negatives: 3,
        }
    }
}
