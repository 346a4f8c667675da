//! The error of every experiment: a typed wrapper over the crates' errors plus what the
//! experiments themselves check (configs, output files).

use std::path::PathBuf;

/// Result alias of the experiments crate.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Data(#[from] prefopt_data::DataError),
    #[error(transparent)]
    Model(#[from] prefopt_models::ModelError),
    #[error(transparent)]
    Objective(#[from] prefopt_objectives::ObjectiveError),
    #[error("user model: {0}")]
    UserModel(#[from] prefopt_user_models::UserModelError),
    #[error("metrics: {0}")]
    Eval(#[from] prefopt_eval::EvalError),
    #[error("device: {0}")]
    Device(#[from] prefopt_models::device::DeviceError),
    /// Serializing a report or a model description.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Serializing the config that a report records.
    #[error("TOML: {0}")]
    Toml(#[from] toml::ser::Error),
    /// A config file that cannot be read or parsed (the message names the key).
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A setting outside its domain, or settings that contradict each other.
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Drawing an SVG plot failed.
    #[error("plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl ExperimentError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
