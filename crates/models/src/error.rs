//! One error type for the crate, with the file, example or tensor a failure is about.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of model construction, tokenization, scoring, training and checkpoints.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A model, trainer or generation setting that cannot work.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An example the tokenizer or scorer cannot use, with its index in the batch or dataset.
    #[error("example {index}: {reason}")]
    InvalidExample { index: usize, reason: String },
    /// A sequence longer than the model's position table.
    #[error("example {index}: {tokens} tokens exceed the model's max_positions ({max})")]
    SequenceTooLong {
        index: usize,
        tokens: usize,
        max: usize,
    },
    /// Errors of the `tokenizers` crate (training, loading, encoding).
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A checkpoint that cannot be written or read back.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Objective(#[from] prefopt_objectives::ObjectiveError),
    #[error(transparent)]
    Data(#[from] prefopt_data::DataError),
}

/// Results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn example(index: usize, reason: impl Into<String>) -> Self {
        Self::InvalidExample {
            index,
            reason: reason.into(),
        }
    }
}
