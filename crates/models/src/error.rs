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
    /// A dataset row that cannot be laid out as tokens (a chat template that fails on it).
    #[error("{origin}: {reason}")]
    InvalidRow {
        origin: prefopt_data::trl::RowOrigin,
        reason: String,
    },
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
    /// The training loss was NaN or infinite.
    #[error("the loss became {value} at update {update} (lower the learning rate?)")]
    NonFiniteLoss { update: usize, value: f64 },
    /// Values could not be read back from the device (a failed kernel, a lost device).
    #[error("reading {what} back from the device: {reason}")]
    DeviceRead { what: &'static str, reason: String },
    /// An error raised by code outside this crate that runs inside it: a [`crate::train::Task`]
    /// or an evaluation callback of the trainer. The original error is kept as the source.
    #[error("{context}: {source}")]
    External {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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

    /// Wraps an error of a caller's task or callback, keeping it as the source.
    pub fn external(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::External {
            context,
            source: Box::new(source),
        }
    }

    /// A failed read of `what` back from the device.
    pub fn device_read(what: &'static str, reason: impl std::fmt::Debug) -> Self {
        Self::DeviceRead {
            what,
            reason: format!("{reason:?}"),
        }
    }

    pub(crate) fn example(index: usize, reason: impl Into<String>) -> Self {
        Self::InvalidExample {
            index,
            reason: reason.into(),
        }
    }
}
