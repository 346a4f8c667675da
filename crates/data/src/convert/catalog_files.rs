//! `items.parquet` and `users.parquet`: the id tables of a converted dataset.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::error::{DataError, Result};
use crate::logs::{InteractionLog, ItemCatalog};
use crate::parquet_io::{ParquetSink, WriteOptions};

/// Column names of `items.parquet`.
pub const ITEM_ID: &str = "item_id";
pub const SOURCE_ID: &str = "source_id";
pub const TITLE: &str = "title";
pub const POPULARITY: &str = "popularity";

pub fn write_items(
    path: &Path,
    catalog: &ItemCatalog,
    popularity: &[u64],
    options: &WriteOptions,
) -> Result<()> {
    let n = catalog.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new(ITEM_ID, DataType::Int64, false),
        Field::new(SOURCE_ID, DataType::Utf8, false),
        Field::new(TITLE, DataType::Utf8, false),
        Field::new(POPULARITY, DataType::UInt64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n as i64)),
        Arc::new(StringArray::from_iter_values(
            (0..n as u32).map(|i| catalog.source_id(i)),
        )),
        Arc::new(StringArray::from_iter_values(catalog.titles())),
        Arc::new(UInt64Array::from(popularity.to_vec())),
    ];
    write_one(path, schema, columns, options)
}

pub fn write_users(path: &Path, log: &InteractionLog, options: &WriteOptions) -> Result<()> {
    let n = log.num_users();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new(SOURCE_ID, DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n as i64)),
        Arc::new(StringArray::from_iter_values(
            (0..n as u32).map(|u| log.user_source_id(u)),
        )),
    ];
    write_one(path, schema, columns, options)
}

fn write_one(
    path: &Path,
    schema: Arc<Schema>,
    columns: Vec<ArrayRef>,
    options: &WriteOptions,
) -> Result<()> {
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| DataError::arrow(path, e))?;
    let mut sink = ParquetSink::create(path, schema, options)?;
    sink.write(&batch)?;
    sink.finish()?;
    Ok(())
}

/// The item table of a converted dataset: what experiments need to print titles, detect
/// hallucinated answers and measure popularity bias.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemTable {
    /// `titles[i]` is item i's title.
    pub titles: Vec<String>,
    /// `popularity[i]` is item i's training interaction count.
    pub popularity: Vec<u64>,
}

impl ItemTable {
    pub fn len(&self) -> usize {
        self.titles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.titles.is_empty()
    }
}

/// Reads `items.parquet` as [`write_items`] writes it. Item ids must be `0..n` (in any order):
/// the preference files refer to items by these ids.
pub fn read_items(path: &Path) -> Result<ItemTable> {
    use crate::parquet_io::decoder;
    use arrow::array::Array;

    let reader = decoder::batches(path, decoder::open(path)?)?;
    let mut rows: Vec<(i64, String, u64)> = Vec::new();
    for batch in reader {
        let batch = batch?;
        let found = || {
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| DataError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.into(),
                    found: found(),
                })
        };
        let wrong_type = |name: &str, expected: &str, array: &ArrayRef| DataError::ColumnType {
            path: path.to_path_buf(),
            column: name.into(),
            expected: expected.into(),
            found: array.data_type().to_string(),
        };
        let ids = column(ITEM_ID)?;
        let ids = ids
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| wrong_type(ITEM_ID, "Int64", ids))?;
        let titles = column(TITLE)?;
        let titles = titles
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| wrong_type(TITLE, "Utf8", titles))?;
        let popularity = column(POPULARITY)?;
        let popularity = popularity
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| wrong_type(POPULARITY, "UInt64", popularity))?;
        let offset = rows.len() as u64;
        for row in 0..batch.num_rows() {
            if ids.is_null(row) || titles.is_null(row) || popularity.is_null(row) {
                return Err(DataError::InvalidRow {
                    path: path.to_path_buf(),
                    row: offset + row as u64,
                    column: "item_id, title, popularity".into(),
                    reason: "null value".into(),
                });
            }
            rows.push((
                ids.value(row),
                titles.value(row).to_string(),
                popularity.value(row),
            ));
        }
    }
    rows.sort_by_key(|row| row.0);
    if let Some((position, row)) = rows
        .iter()
        .enumerate()
        .find(|(position, row)| row.0 != *position as i64)
    {
        return Err(DataError::InvalidRow {
            path: path.to_path_buf(),
            row: position as u64,
            column: ITEM_ID.into(),
            reason: format!(
                "item ids must be 0..{} without gaps or repeats; found {} at sorted position {position}",
                rows.len(),
                row.0
            ),
        });
    }
    let (titles, popularity) = rows.into_iter().map(|(_, t, p)| (t, p)).unzip();
    Ok(ItemTable { titles, popularity })
}
