//! Errors of metric computation, naming the example they are about.

use thiserror::Error;

/// Inputs a metric cannot be computed on.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EvalError {
    /// An example without candidates has no ranking.
    #[error("example {example}: the candidate set is empty")]
    EmptyCandidates { example: usize },
    /// The target index does not point into the candidate scores.
    #[error("example {example}: target index {target} is outside the {candidates} candidates")]
    TargetOutOfRange {
        example: usize,
        target: usize,
        candidates: usize,
    },
    /// Two inputs that must be parallel have different lengths.
    #[error("{what}: {left} vs {right} entries")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// Nothing to aggregate.
    #[error("{0}: no values")]
    Empty(&'static str),
    /// A cut-off or parameter out of its range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
