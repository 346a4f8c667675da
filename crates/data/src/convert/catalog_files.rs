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
