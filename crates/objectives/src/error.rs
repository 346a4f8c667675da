//! Typed errors: every message names the objective, the parameter or input, and what is wrong,
//! so a user can fix a config or a batch without reading the source.

use thiserror::Error;

/// Why an objective could not be configured or evaluated.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ObjectiveError {
    /// A hyper-parameter is outside the range where the loss is defined.
    #[error("{objective}: parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParameter {
        objective: String,
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A loss name that no objective of this crate implements.
    #[error("unknown loss `{name}`; known names: {known}")]
    UnknownLoss { name: String, known: String },
    /// Two options that cannot be combined.
    #[error("{objective}: {reason}")]
    Unsupported { objective: String, reason: String },
    /// The objective needs an input the batch does not carry.
    #[error("{objective}: the batch has no `{input}`, which this loss needs ({why})")]
    MissingInput {
        objective: String,
        input: &'static str,
        why: &'static str,
    },
    /// Tensor shapes that do not fit together.
    #[error("input `{input}` has shape {got:?}, expected {expected}")]
    Shape {
        input: &'static str,
        got: Vec<usize>,
        expected: String,
    },
    /// A value that is NaN or infinite, or outside its valid range.
    #[error("input `{input}` is invalid at {position}: {reason}")]
    InvalidValue {
        input: &'static str,
        position: String,
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ObjectiveError> = std::result::Result<T, E>;

pub(crate) fn invalid(
    objective: &str,
    name: &'static str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> ObjectiveError {
    ObjectiveError::InvalidParameter {
        objective: objective.to_string(),
        name,
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(objective: &str, reason: impl Into<String>) -> ObjectiveError {
    ObjectiveError::Unsupported {
        objective: objective.to_string(),
        reason: reason.into(),
    }
}

/// Checks that a scale parameter such as β is finite and strictly positive.
pub(crate) fn check_positive(objective: &str, name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(objective, name, value, "must be finite and > 0"))
    }
}

/// Checks that `value` lies in `[lo, hi)` (or `[lo, hi]` when `hi_inclusive`).
pub(crate) fn check_range(
    objective: &str,
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    hi_inclusive: bool,
) -> Result<()> {
    let ok = value >= lo && (value < hi || (hi_inclusive && value == hi));
    if ok {
        Ok(())
    } else {
        let close = if hi_inclusive { ']' } else { ')' };
        Err(invalid(
            objective,
            name,
            value,
            format!("must lie in [{lo}, {hi}{close}"),
        ))
    }
}
