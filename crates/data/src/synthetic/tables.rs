//! Small ground-truth tables written next to synthetic datasets.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Array, ListBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::error::{DataError, Result};
use crate::parquet_io::{ParquetSink, PreferenceWriter, WriteOptions};
use crate::schema::{Columns, PreferenceRecord};

/// A user's pairwise preference, routed to `train` or (for the user's last `test_pairs` of
/// `pairs_per_user` pairs) to `test`.
pub fn push_user_pair(
    (train, test): (&mut Vec<PreferenceRecord>, &mut Vec<PreferenceRecord>),
    (pair, pairs_per_user, test_pairs): (usize, usize, usize),
    user: usize,
    prompt: String,
    chosen: String,
    rejected: String,
) {
    let record = PreferenceRecord {
        prompt,
        chosen,
        rejected: vec![rejected],
        user_id: Some(user as i64),
        ..PreferenceRecord::default()
    };
    if pair + test_pairs >= pairs_per_user {
        test.push(record);
    } else {
        train.push(record);
    }
}

/// Writes `train.parquet` and `test.parquet` (text columns and `user_id`) into `folder`.
pub fn write_user_splits(
    folder: &Path,
    train: &[PreferenceRecord],
    test: &[PreferenceRecord],
    options: &WriteOptions,
) -> Result<()> {
    let columns = Columns {
        user_id: true,
        ..Columns::default()
    };
    for (name, records) in [("train", train), ("test", test)] {
        let path = folder.join(format!("{name}.parquet"));
        let mut writer = PreferenceWriter::create(&path, columns, options)?;
        for record in records {
            writer.write(record.clone())?;
        }
        writer.finish()?;
    }
    Ok(())
}

/// Writes `id_column: int64` and `vector_column: list<float64>` rows (one vector per id).
pub fn write_vectors(
    path: &Path,
    id_column: &str,
    vector_column: &str,
    vectors: &[Vec<f64>],
    options: &WriteOptions,
) -> Result<()> {
    let mut list = ListBuilder::new(Float64Builder::new());
    for vector in vectors {
        list.values().append_slice(vector);
        list.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..vectors.len() as i64)),
        Arc::new(list.finish()),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new(id_column, DataType::Int64, false),
        Field::new(
            vector_column,
            crate::schema::list_of(DataType::Float64),
            false,
        ),
    ]));
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| DataError::arrow(path, e))?;
    let mut sink = ParquetSink::create(path, schema, options)?;
    sink.write(&batch)?;
    sink.finish().map(|_| ())
}
