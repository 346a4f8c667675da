//! The `[rosepo]` section of the config: the settings of the RosePO ablations.

use serde::{Deserialize, Serialize};

/// The RosePO ablations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RosepoGrid {
    /// Label noise of the smoothing comparison.
    pub label_noise: f64,
    /// ε of the constant-smoothing (cDPO) row.
    pub constant_smoothing: f64,
    pub oracle_temperature: f64,
    pub oracle_max: f64,
}

impl Default for RosepoGrid {
    fn default() -> Self {
        Self {
            label_noise: 0.2,
            constant_smoothing: 0.2,
            oracle_temperature: 1.0,
            oracle_max: 0.49,
        }
    }
}
