//! Typed errors of the user models.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum UserModelError {
    /// A user id beyond the table. Known users are `1..=n_users`; id 0 is the generic user.
    #[error(
        "unknown user {id} at position {position}: the model knows users 1..={n_users} \
         (map unseen users to the generic user 0 with `generic_for_unknown`)"
    )]
    UnknownUser {
        id: usize,
        position: usize,
        n_users: usize,
    },
    /// Two inputs that must agree in size do not.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        what: String,
        expected: usize,
        got: usize,
    },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A saved model that cannot be read back (not safetensors, a tensor missing or misshapen).
    #[error("{path}: {reason}")]
    File {
        path: std::path::PathBuf,
        reason: String,
    },
}

pub type Result<T> = std::result::Result<T, UserModelError>;
