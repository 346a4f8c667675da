//! The public interaction-log formats users download, and a generic CSV/Parquet log.

mod amazon;
mod generic;
mod goodreads;
mod lastfm;
mod movielens;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use generic::LogColumns;

use super::log::{InteractionLog, ItemCatalog};
use super::text::{Separator, for_each_row, header_index};
use crate::error::{DataError, Result};

/// A log format `prefopt data convert --format` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// MovieLens 100K: `u.data` (tab) and `u.item` (pipe, latin-1).
    MovieLens100K,
    /// MovieLens 1M: `ratings.dat` and `movies.dat` (`::`, latin-1).
    MovieLens1M,
    /// MovieLens 20M (and 25M, 32M, latest): `ratings.csv` and `movies.csv` (quoted CSV).
    MovieLens20M,
    /// Amazon reviews, JSON lines (2018 `reviewerID/asin/overall/unixReviewTime` or 2023
    /// `user_id/parent_asin/rating/timestamp`), gzip or not, with a metadata JSON-lines file.
    Amazon,
    /// LastFM HetRec 2011: `user_artists.dat` and `artists.dat` (tab, with headers).
    LastFm,
    /// Goodreads (UCSD): interactions JSON lines or CSV, books JSON lines or CSV.
    Goodreads,
    /// Any `user_id, item_id[, rating][, timestamp]` CSV/TSV/Parquet with an item table.
    Interactions,
}

impl LogFormat {
    pub const NAMES: [&'static str; 7] = [
        "movielens-100k",
        "movielens-1m",
        "movielens-20m",
        "amazon",
        "lastfm",
        "goodreads",
        "interactions",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::MovieLens100K => "movielens-100k",
            Self::MovieLens1M => "movielens-1m",
            Self::MovieLens20M => "movielens-20m",
            Self::Amazon => "amazon",
            Self::LastFm => "lastfm",
            Self::Goodreads => "goodreads",
            Self::Interactions => "interactions",
        }
    }
}

impl FromStr for LogFormat {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "movielens-100k" | "ml-100k" => Self::MovieLens100K,
            "movielens-1m" | "ml-1m" => Self::MovieLens1M,
            "movielens-20m" | "ml-20m" | "movielens-25m" | "ml-25m" => Self::MovieLens20M,
            "amazon" => Self::Amazon,
            "lastfm" | "hetrec-lastfm" => Self::LastFm,
            "goodreads" => Self::Goodreads,
            "interactions" => Self::Interactions,
            _ => {
                return Err(DataError::parameter(
                    "format",
                    format!("unknown format `{text}`; one of {}", Self::NAMES.join(", ")),
                ));
            }
        })
    }
}

/// Where a log comes from: the interactions (a file, or the folder of a known dataset) and the
/// optional item table.
#[derive(Debug, Clone)]
pub struct LogSource {
    pub format: LogFormat,
    pub input: PathBuf,
    pub items: Option<PathBuf>,
    /// Column names of the generic `interactions` format (and of CSV item tables).
    pub columns: LogColumns,
}

impl LogSource {
    pub fn new(format: LogFormat, input: impl Into<PathBuf>) -> Self {
        Self {
            format,
            input: input.into(),
            items: None,
            columns: LogColumns::default(),
        }
    }

    pub fn with_items(mut self, items: impl Into<PathBuf>) -> Self {
        self.items = Some(items.into());
        self
    }

    /// The input in words for messages: the path given, and the item table when one was.
    pub fn describe(&self) -> String {
        match &self.items {
            Some(items) => format!("{} (items {})", self.input.display(), items.display()),
            None => self.input.display().to_string(),
        }
    }

    /// Loads the whole log (interactions are small rows: 20M of them take about 0.5 GB).
    pub fn load(&self) -> Result<InteractionLog> {
        let items = self.items.as_deref();
        match self.format {
            LogFormat::MovieLens100K => movielens::load_100k(&self.input, items),
            LogFormat::MovieLens1M => movielens::load_1m(&self.input, items),
            LogFormat::MovieLens20M => movielens::load_20m(&self.input, items),
            LogFormat::Amazon => amazon::load(&self.input, items),
            LogFormat::LastFm => lastfm::load(&self.input, items),
            LogFormat::Goodreads => goodreads::load(&self.input, items),
            LogFormat::Interactions => generic::load(&self.input, items, &self.columns),
        }
    }
}

/// `input` itself when it is a file, else `folder/name`, which must exist.
fn file_in(input: &Path, name: &str) -> Result<PathBuf> {
    let path = if input.is_dir() {
        input.join(name)
    } else {
        input.to_path_buf()
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(DataError::MissingInput {
            path,
            reason: format!("expected the file `{name}` of this dataset"),
        })
    }
}

/// The item table: the explicit one, or `name` beside (or inside) `input`.
fn sibling(input: &Path, explicit: Option<&Path>, name: &str) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let folder = if input.is_dir() {
        input
    } else {
        input.parent().unwrap_or(Path::new("."))
    };
    file_in(folder, name)
}

/// Calls `pair(line, first, second)` with two columns of every row of a delimited file: the
/// columns named `names` in the header, or the first two when the file has no header.
fn for_each_pair(
    path: &Path,
    separator: Separator,
    names: Option<(&str, &str)>,
    mut pair: impl FnMut(u64, &str, &str) -> Result<()>,
) -> Result<()> {
    let columns = std::cell::Cell::new((0, 1));
    let (first, second) = names.unwrap_or(("first column", "second column"));
    for_each_row(
        path,
        separator,
        names.is_some(),
        |header| {
            columns.set((
                header_index(path, header, first)?,
                header_index(path, header, second)?,
            ));
            Ok(())
        },
        |line, fields| {
            let (a, b) = columns.get();
            pair(
                line,
                field(path, line, fields, a, first)?.trim(),
                field(path, line, fields, b, second)?.trim(),
            )
        },
    )
}

/// An item catalog from an `(id, title)` table (see [`for_each_pair`]).
fn read_catalog(
    path: &Path,
    separator: Separator,
    names: Option<(&str, &str)>,
) -> Result<ItemCatalog> {
    let mut catalog = ItemCatalog::new();
    for_each_pair(path, separator, names, |_, id, title| {
        catalog.insert(id, title);
        Ok(())
    })?;
    Ok(catalog)
}

fn parse_field<T: FromStr>(path: &Path, line: u64, field: &str, text: &str) -> Result<T> {
    text.trim().parse::<T>().map_err(|_| {
        DataError::parse(
            path,
            line,
            field,
            format!("cannot parse `{text}` as a number"),
        )
    })
}

/// A rating or weight: a finite number (`NaN` and `inf` parse as `f32` but are no rating).
fn parse_rating(path: &Path, line: u64, field: &str, text: &str) -> Result<f32> {
    let value: f32 = parse_field(path, line, field, text)?;
    finite_rating(path, line, field, value)
}

fn finite_rating(path: &Path, line: u64, field: &str, value: f32) -> Result<f32> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(DataError::parse(
            path,
            line,
            field,
            format!("`{value}` is not a finite number"),
        ))
    }
}

fn field<'a>(
    path: &Path,
    line: u64,
    fields: &'a [std::borrow::Cow<'a, str>],
    index: usize,
    name: &str,
) -> Result<&'a str> {
    fields.get(index).map(|f| f.as_ref()).ok_or_else(|| {
        DataError::parse(
            path,
            line,
            name,
            format!(
                "line has {} fields, expected at least {}",
                fields.len(),
                index + 1
            ),
        )
    })
}

pub use movielens::clean_title as clean_movielens_title;
