//! Any interaction log `user_id, item_id[, rating][, timestamp]` as CSV, TSV or Parquet (one file
//! or a folder of part files), with an item table `item_id, title[, ...]` in the same formats.

use std::path::Path;

use crate::parquet_io::decoder;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, Int64Type};
use parquet::arrow::ProjectionMask;

use super::{field, finite_rating, parse_rating, read_catalog};
use crate::error::{DataError, Result};
use crate::logs::log::{InteractionLog, ItemCatalog};
use crate::logs::text::{Separator, for_each_row, header_index};
use crate::parquet_io::parquet_files;

/// Column names of a generic log and item table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogColumns {
    pub user: String,
    pub item: String,
    /// Used when present in the file.
    pub rating: String,
    /// Used when present in the file; without it the file order is the chronology.
    pub timestamp: String,
    /// Item-table columns.
    pub item_id: String,
    pub title: String,
}

impl Default for LogColumns {
    fn default() -> Self {
        Self {
            user: "user_id".into(),
            item: "item_id".into(),
            rating: "rating".into(),
            timestamp: "timestamp".into(),
            item_id: "item_id".into(),
            title: "title".into(),
        }
    }
}

pub fn load(input: &Path, items: Option<&Path>, columns: &LogColumns) -> Result<InteractionLog> {
    let mut log = match items {
        Some(items) => InteractionLog::with_catalog(read_items(items, columns)?),
        None => InteractionLog::without_catalog(),
    };
    if is_parquet(input) {
        read_parquet(input, columns, &mut log)?;
    } else {
        read_text(input, columns, &mut log)?;
    }
    Ok(log)
}

fn is_parquet(path: &Path) -> bool {
    path.is_dir()
        || path.extension().is_some_and(|e| {
            ["parquet", "parq", "pq"]
                .iter()
                .any(|p| e.eq_ignore_ascii_case(p))
        })
}

fn separator(path: &Path) -> Separator {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.trim_end_matches(".gz");
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        Separator::Quoted(b'\t')
    } else {
        Separator::Quoted(b',')
    }
}

fn read_items(path: &Path, columns: &LogColumns) -> Result<ItemCatalog> {
    let mut catalog = ItemCatalog::new();
    if is_parquet(path) {
        for file in parquet_files(path)? {
            let wanted = [
                (columns.item_id.as_str(), Role::Text),
                (columns.title.as_str(), Role::Text),
            ];
            let mut first_row = 0u64;
            for_each_parquet_batch(&file, &wanted, |arrays| {
                let (ids, titles) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
                for row in 0..ids.len() {
                    for (array, name) in [(ids, &columns.item_id), (titles, &columns.title)] {
                        if array.is_null(row) {
                            let at = first_row + row as u64;
                            return Err(DataError::invalid_row(&file, at, name, "null value"));
                        }
                    }
                    catalog.insert(ids.value(row), titles.value(row));
                }
                first_row += ids.len() as u64;
                Ok(())
            })?;
        }
        return Ok(catalog);
    }
    read_catalog(
        path,
        separator(path),
        Some((&columns.item_id, &columns.title)),
    )
}

fn read_text(path: &Path, columns: &LogColumns, log: &mut InteractionLog) -> Result<()> {
    let index = std::cell::Cell::new((0, 1, None, None));
    for_each_row(
        path,
        separator(path),
        true,
        |names| {
            index.set((
                header_index(path, names, &columns.user)?,
                header_index(path, names, &columns.item)?,
                header_index(path, names, &columns.rating).ok(),
                header_index(path, names, &columns.timestamp).ok(),
            ));
            Ok(())
        },
        |line, fields| {
            let index = index.get();
            let user = field(path, line, fields, index.0, &columns.user)?.trim();
            let item = field(path, line, fields, index.1, &columns.item)?.trim();
            let rating = match index.2 {
                Some(i) => Some(parse_rating(
                    path,
                    line,
                    &columns.rating,
                    field(path, line, fields, i, &columns.rating)?,
                )?),
                None => None,
            };
            let time = match index.3 {
                Some(i) => Some(parse_timestamp(
                    path,
                    line,
                    &columns.timestamp,
                    field(path, line, fields, i, &columns.timestamp)?,
                )?),
                None => None,
            };
            log.push(user, item, rating, time);
            Ok(())
        },
    )
}

/// Integer seconds, or a float (some exports write `1.6e9`), truncated.
fn parse_timestamp(path: &Path, line: u64, name: &str, text: &str) -> Result<i64> {
    let text = text.trim();
    text.parse::<i64>()
        .or_else(|_| text.parse::<f64>().map(|t| t as i64))
        .map_err(|_| {
            DataError::parse(
                path,
                line,
                name,
                format!("`{text}` is not a numeric timestamp"),
            )
        })
}

fn read_parquet<'a>(input: &Path, columns: &'a LogColumns, log: &mut InteractionLog) -> Result<()> {
    for file in parquet_files(input)? {
        let schema = parquet_schema(&file)?;
        let mut wanted = vec![
            (columns.user.as_str(), Role::Text),
            (columns.item.as_str(), Role::Text),
        ];
        let mut optional = |name: &'a str, role: Role| {
            schema.index_of(name).is_ok().then(|| {
                wanted.push((name, role));
                wanted.len() - 1
            })
        };
        let rating_at = optional(&columns.rating, Role::Rating);
        let time_at = optional(&columns.timestamp, Role::Time);
        for_each_parquet_batch(&file, &wanted, |arrays| {
            let users = arrays[0].as_string::<i32>();
            let items = arrays[1].as_string::<i32>();
            let ratings = rating_at.map(|i| arrays[i].as_primitive::<Float32Type>());
            let times = time_at.map(|i| arrays[i].as_primitive::<Int64Type>());
            for row in 0..users.len() {
                if users.is_null(row) || items.is_null(row) {
                    log.skip("null user or item id");
                    continue;
                }
                let rating = ratings.and_then(|r| (!r.is_null(row)).then(|| r.value(row)));
                if let Some(value) = rating {
                    // Parquet rows are numbered from 1 like lines.
                    finite_rating(&file, row as u64 + 1, &columns.rating, value)?;
                }
                let time = times.and_then(|t| (!t.is_null(row)).then(|| t.value(row)));
                log.push(users.value(row), items.value(row), rating, time);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// What a column of a Parquet log is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Ids (integers or strings) and titles, read as text.
    Text,
    /// Any number, read as f32.
    Rating,
    /// Integers or Arrow timestamps/dates, read as i64 in the column's unit.
    Time,
}

impl Role {
    fn target(self) -> DataType {
        match self {
            Self::Text => DataType::Utf8,
            Self::Rating => DataType::Float32,
            Self::Time => DataType::Int64,
        }
    }

    fn accepts(self, found: &DataType) -> bool {
        match self {
            Self::Text => {
                found.is_integer()
                    || matches!(
                        found,
                        DataType::Utf8
                            | DataType::LargeUtf8
                            | DataType::Utf8View
                            | DataType::Dictionary(..)
                    )
            }
            Self::Rating => found.is_numeric(),
            Self::Time => found.is_integer() || found.is_floating() || found.is_temporal(),
        }
    }
}

fn parquet_schema(path: &Path) -> Result<arrow::datatypes::SchemaRef> {
    Ok(decoder::open(path)?.schema().clone())
}

/// Streams the `wanted` columns of a Parquet file, each cast to its role's type.
fn for_each_parquet_batch(
    path: &Path,
    wanted: &[(&str, Role)],
    mut on_batch: impl FnMut(&[ArrayRef]) -> Result<()>,
) -> Result<()> {
    let builder = decoder::open(path)?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(wanted.len());
    for (name, role) in wanted {
        let index = DataError::column_index(path, &schema, name)?;
        let found = schema.field(index).data_type();
        if !role.accepts(found) {
            return Err(DataError::ColumnType {
                path: path.to_path_buf(),
                column: name.to_string(),
                expected: format!("a type readable as {}", role.target()),
                found: found.to_string(),
            });
        }
        roots.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = decoder::batches(path, builder.with_projection(mask).with_batch_size(65_536))?;
    for batch in reader {
        let batch = batch?;
        let arrays = wanted
            .iter()
            .map(|(name, role)| {
                let column = batch.column_by_name(name).expect("projected column");
                cast(column, &role.target()).map_err(|e| DataError::arrow(path, e))
            })
            .collect::<Result<Vec<_>>>()?;
        on_batch(&arrays)?;
    }
    Ok(())
}
