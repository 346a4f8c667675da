//! What every experiment shares and nothing experiment-specific: the worker pool that runs
//! independent training jobs side by side, claim statistics, training-log series, and plots.
//! Modules here import only the error type and the other crates, never an experiment.

pub mod checkpoints;
pub mod claims;
pub mod logs;
pub mod output;
pub mod plots;

/// The arithmetic mean (0 for no values).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}
