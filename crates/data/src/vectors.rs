//! Vector columns beside the preference schema: response features (LoRe reads
//! `chosen_features` / `rejected_features`) and prompt embeddings (RPO reads
//! `prompt_embedding`), stored as `list<float32>` in the same Parquet rows as the preference
//! columns. The preference reader ignores them; [`read_vectors`] reads them with the row's id.

use std::path::Path;
use std::sync::Arc;

use crate::parquet_io::decoder;
use arrow::array::{Array, ArrayRef, AsArray, Float32Builder, ListBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;

use crate::error::{DataError, Result};
use crate::parquet_io::{ParquetSink, WriteOptions, parquet_files, records_to_batch};
use crate::schema::{Columns, PreferenceRecord, list_of};

/// Features of the chosen response, one `list<float32>` per row (LoRe's φ(prompt, chosen)).
pub const CHOSEN_FEATURES: &str = "chosen_features";
/// Features of the (first) rejected response.
pub const REJECTED_FEATURES: &str = "rejected_features";
/// An embedding of the prompt (RPO's similarity weights).
pub const PROMPT_EMBEDDING: &str = "prompt_embedding";

/// Rows of equal-width vectors, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorColumn {
    pub width: usize,
    pub values: Vec<f64>,
}

impl VectorColumn {
    pub fn rows(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    pub fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}

/// What [`read_vectors`] returns: the id column (when asked for) and each vector column, in the
/// order requested, all with one entry per row of the file(s).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorTable {
    pub ids: Option<Vec<i64>>,
    pub columns: Vec<VectorColumn>,
}

/// Writes preference `records` with extra `list<float32>` columns (`(name, one vector per
/// record)`), atomically. Every vector of a column must have the same width.
pub fn write_with_vectors(
    path: &Path,
    records: &[PreferenceRecord],
    columns: Columns,
    vectors: &[(&str, &[Vec<f64>])],
    options: &WriteOptions,
) -> Result<()> {
    let base = columns.arrow_schema();
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, rows) in vectors {
        if rows.len() != records.len() {
            return Err(DataError::parameter(
                "vectors",
                format!(
                    "column `{name}` has {} vectors for {} records",
                    rows.len(),
                    records.len()
                ),
            ));
        }
        let width = rows.first().map_or(0, Vec::len);
        let mut list = ListBuilder::new(Float32Builder::new());
        for (row, vector) in rows.iter().enumerate() {
            if vector.len() != width {
                return Err(DataError::invalid_row(
                    path,
                    row as u64,
                    name,
                    format!("{} values where row 0 has {width}", vector.len()),
                ));
            }
            list.values()
                .append_slice(&vector.iter().map(|&v| v as f32).collect::<Vec<_>>());
            list.append(true);
        }
        fields.push(Field::new(*name, list_of(DataType::Float32), false));
        arrays.push(Arc::new(list.finish()));
    }
    let batch = records_to_batch(records, base, columns).map_err(|e| DataError::arrow(path, e))?;
    let mut all: Vec<ArrayRef> = batch.columns().to_vec();
    all.extend(arrays);
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), all).map_err(|e| DataError::arrow(path, e))?;
    let mut sink = ParquetSink::create(path, schema, options)?;
    sink.write(&batch)?;
    sink.finish().map(|_| ())
}

/// Reads `id_column` (any integer type) and `vector_columns` (lists of any float type, one
/// width per column, no nulls or non-finite values) from a Parquet file or a folder of part
/// files. Errors name the file, the column and the row.
pub fn read_vectors(
    path: &Path,
    id_column: Option<&str>,
    vector_columns: &[&str],
) -> Result<VectorTable> {
    let mut ids: Option<Vec<i64>> = id_column.map(|_| Vec::new());
    let mut columns: Vec<Option<VectorColumn>> = vec![None; vector_columns.len()];
    for file in parquet_files(path)? {
        let builder = decoder::open(&file)?;
        let schema = builder.schema().clone();
        let wanted: Vec<&str> = id_column
            .iter()
            .copied()
            .chain(vector_columns.iter().copied())
            .collect();
        let mut indices = Vec::with_capacity(wanted.len());
        for name in &wanted {
            let index = DataError::column_index(&file, &schema, name)?;
            indices.push(index);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader = decoder::batches(&file, builder.with_projection(mask))?;
        let mut row_offset = 0u64;
        for batch in reader {
            let batch = batch?;
            if let (Some(name), Some(ids)) = (id_column, ids.as_mut()) {
                read_ids(&file, &batch, name, row_offset, ids)?;
            }
            for (name, column) in vector_columns.iter().zip(columns.iter_mut()) {
                read_vector_column(&file, &batch, name, row_offset, column)?;
            }
            row_offset += batch.num_rows() as u64;
        }
    }
    Ok(VectorTable {
        ids,
        columns: columns
            .into_iter()
            .map(|c| {
                c.unwrap_or(VectorColumn {
                    width: 0,
                    values: Vec::new(),
                })
            })
            .collect(),
    })
}

fn column_type_error(file: &Path, name: &str, expected: &str, found: &DataType) -> DataError {
    DataError::ColumnType {
        path: file.to_path_buf(),
        column: name.to_string(),
        expected: expected.into(),
        found: found.to_string(),
    }
}

fn read_ids(
    file: &Path,
    batch: &RecordBatch,
    name: &str,
    row_offset: u64,
    ids: &mut Vec<i64>,
) -> Result<()> {
    let column = batch
        .column_by_name(name)
        .expect("projected columns are present");
    if !column.data_type().is_integer() {
        return Err(column_type_error(
            file,
            name,
            "an integer type",
            column.data_type(),
        ));
    }
    let column = cast(column, &DataType::Int64).map_err(|e| DataError::arrow(file, e))?;
    let values = column.as_primitive::<Int64Type>();
    for row in 0..values.len() {
        if values.is_null(row) {
            return Err(DataError::invalid_row(
                file,
                row_offset + row as u64,
                name,
                "null id",
            ));
        }
        ids.push(values.value(row));
    }
    Ok(())
}

fn read_vector_column(
    file: &Path,
    batch: &RecordBatch,
    name: &str,
    row_offset: u64,
    out: &mut Option<VectorColumn>,
) -> Result<()> {
    let column = batch
        .column_by_name(name)
        .expect("projected columns are present");
    let element_is_float = match column.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().is_floating()
        }
        _ => false,
    };
    if !element_is_float {
        return Err(column_type_error(
            file,
            name,
            "a list of floating-point values",
            column.data_type(),
        ));
    }
    let lists = cast(column, &list_of(DataType::Float64)).map_err(|e| DataError::arrow(file, e))?;
    let lists = lists.as_list::<i32>();
    for row in 0..lists.len() {
        let at = row_offset + row as u64;
        if lists.is_null(row) {
            return Err(DataError::invalid_row(file, at, name, "null vector"));
        }
        let values = lists.value(row);
        let values = values.as_primitive::<Float64Type>();
        if values.null_count() > 0 || values.values().iter().any(|v| !v.is_finite()) {
            return Err(DataError::invalid_row(
                file,
                at,
                name,
                "the vector holds a null or non-finite value",
            ));
        }
        let target = out.get_or_insert_with(|| VectorColumn {
            width: values.len(),
            values: Vec::new(),
        });
        if values.len() != target.width || target.width == 0 {
            return Err(DataError::invalid_row(
                file,
                at,
                name,
                format!(
                    "{} values where earlier rows have {}",
                    values.len(),
                    target.width
                ),
            ));
        }
        target.values.extend_from_slice(values.values());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: i64) -> PreferenceRecord {
        PreferenceRecord {
            prompt: format!("p{user}"),
            chosen: "a".into(),
            rejected: vec!["b".into()],
            user_id: Some(user),
            ..PreferenceRecord::default()
        }
    }

    #[test]
    fn vectors_round_trip_beside_the_preference_columns_and_errors_name_the_row() {
        let dir = std::env::temp_dir().join(format!("prefopt-vectors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("train.parquet");
        let records = vec![record(3), record(1)];
        let chosen = vec![vec![0.5, -1.0], vec![2.0, 0.25]];
        let rejected = vec![vec![1.0, 1.0], vec![0.0, -0.5]];
        let columns = Columns {
            user_id: true,
            ..Columns::default()
        };
        write_with_vectors(
            &path,
            &records,
            columns,
            &[(CHOSEN_FEATURES, &chosen), (REJECTED_FEATURES, &rejected)],
            &WriteOptions::default(),
        )
        .unwrap();
        let table = read_vectors(
            &path,
            Some("user_id"),
            &[CHOSEN_FEATURES, REJECTED_FEATURES],
        )
        .unwrap();
        assert_eq!(table.ids, Some(vec![3, 1]));
        assert_eq!(table.columns[0].width, 2);
        assert_eq!(table.columns[0].row(1), &[2.0, 0.25]);
        assert_eq!(table.columns[1].values, vec![1.0, 1.0, 0.0, -0.5]);
        // The file stays a preference dataset.
        let dataset = crate::PreferenceDataset::open(&path).unwrap();
        let read: Vec<PreferenceRecord> = dataset
            .reader(crate::ReadOptions::default())
            .flat_map(|b| b.unwrap())
            .collect();
        assert_eq!(read, records);
        let missing = read_vectors(&path, None, &[PROMPT_EMBEDDING]).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("missing column `prompt_embedding`")
        );
        let wrong = read_vectors(&path, None, &["prompt"]).unwrap_err();
        assert!(
            wrong.to_string().contains("list of floating-point"),
            "{wrong}"
        );
        let ragged = write_with_vectors(
            &dir.join("ragged.parquet"),
            &records,
            columns,
            &[(CHOSEN_FEATURES, &[vec![1.0], vec![1.0, 2.0]])],
            &WriteOptions::default(),
        )
        .unwrap_err();
        assert!(ragged.to_string().contains("row 1"), "{ragged}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
