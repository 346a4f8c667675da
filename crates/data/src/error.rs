//! One error type for the crate. Every variant that comes from a file names the file, and where
//! it can the column and the row (Parquet rows counted from 0 within the file, as pyarrow and
//! Polars do; text lines counted from 1, as editors do).

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong reading, validating, converting or writing preference data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused a read, write, rename or listing.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The Parquet layer failed (corrupt file, unsupported codec, ...).
    #[error("{path}: parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The Arrow layer failed (building or casting a batch).
    #[error("{path}: arrow: {source}")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A required column is absent.
    #[error("{path}: missing column `{column}` (found: {found})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        found: String,
    },
    /// A column has a type the schema does not allow.
    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        path: PathBuf,
        column: String,
        expected: String,
        found: String,
    },
    /// A row breaks a rule of the preference schema.
    #[error("{path}: row {row}, column `{column}`: {reason}")]
    InvalidRow {
        path: PathBuf,
        row: u64,
        column: String,
        reason: String,
    },
    /// A line of a text file (CSV, TSV, JSON lines, MovieLens `::` files) could not be parsed.
    #[error("{path}: line {line}, {field}: {reason}")]
    Parse {
        path: PathBuf,
        line: u64,
        field: String,
        reason: String,
    },
    /// A file the Parquet decoder could not read without failing inside (a corrupt footer or
    /// page header).
    #[error("{path}: corrupt Parquet file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// An expected input file is missing from a dataset folder.
    #[error("{path}: {reason}")]
    MissingInput { path: PathBuf, reason: String },
    /// A log that loaded but cannot be converted (too few items for the candidate set, no
    /// examples…): the cause is in its files as a whole, which the message names.
    #[error("converting {input}: {source}")]
    Conversion {
        input: String,
        source: Box<DataError>,
    },
    /// A configuration value is out of its domain.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// A sampler cannot draw as many distinct items as asked.
    #[error(
        "sampler `{sampler}` cannot draw {requested} distinct negatives: only {available} items are eligible"
    )]
    NotEnoughItems {
        sampler: &'static str,
        requested: usize,
        available: usize,
    },
    /// An item id is outside the catalog a sampler or converter was built with.
    #[error("item id {item} is outside the catalog of {catalog_size} items")]
    UnknownItem { item: i64, catalog_size: usize },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn arrow(path: &Path, source: arrow::error::ArrowError) -> Self {
        Self::Arrow {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The index of `column` in `schema`, or a [`DataError::MissingColumn`] listing the
    /// columns the file has.
    pub(crate) fn column_index(
        path: &Path,
        schema: &arrow::datatypes::Schema,
        column: &str,
    ) -> Result<usize> {
        schema.index_of(column).map_err(|_| Self::MissingColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            found: schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub(crate) fn invalid_row(
        path: &Path,
        row: u64,
        column: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidRow {
            path: path.to_path_buf(),
            row,
            column: column.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn parse(path: &Path, line: u64, field: &str, reason: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn parameter(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    /// A short machine-friendly label for counting skipped rows by cause.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Parquet { .. } => "parquet",
            Self::Arrow { .. } => "arrow",
            Self::MissingColumn { .. } => "missing column",
            Self::ColumnType { .. } => "column type",
            Self::InvalidRow { .. } => "invalid row",
            Self::Parse { .. } => "parse",
            Self::Corrupt { .. } => "corrupt file",
            Self::MissingInput { .. } => "missing input",
            Self::Conversion { source, .. } => source.kind(),
            Self::InvalidParameter { .. } => "invalid parameter",
            Self::NotEnoughItems { .. } => "not enough items",
            Self::UnknownItem { .. } => "unknown item",
        }
    }
}
