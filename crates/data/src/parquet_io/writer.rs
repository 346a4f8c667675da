//! Writing preference records: buffered into Arrow record batches, validated, published atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::sink::{ParquetSink, WriteOptions};
use crate::error::{DataError, Result};
use crate::schema::{self, Columns, PreferenceRecord};
use crate::validate::{self, Rules};

/// Streams [`PreferenceRecord`]s into one Parquet file.
///
/// Every record is validated before it is buffered, so a file this writer publishes always reads
/// back without errors. Dropping the writer without [`PreferenceWriter::finish`] leaves no file.
pub struct PreferenceWriter {
    path: PathBuf,
    columns: Columns,
    schema: SchemaRef,
    rules: Rules,
    batch_rows: usize,
    buffer: Vec<PreferenceRecord>,
    sink: ParquetSink,
}

impl PreferenceWriter {
    /// Creates `path` (atomically, on `finish`) with the given optional columns.
    pub fn create(path: &Path, columns: Columns, options: &WriteOptions) -> Result<Self> {
        let schema = columns.arrow_schema();
        let sink =
            ParquetSink::create_with_unique_text(path, schema.clone(), options, &[schema::PROMPT])?;
        Ok(Self {
            path: path.to_path_buf(),
            columns,
            schema,
            rules: Rules::default(),
            batch_rows: options.batch_rows.max(1),
            buffer: Vec::with_capacity(options.batch_rows.max(1)),
            sink,
        })
    }

    /// Also checks ids against a catalog size and user count.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Adds one record; it must carry exactly the optional columns the file was created with.
    pub fn write(&mut self, record: PreferenceRecord) -> Result<()> {
        let row = self.sink.rows() + self.buffer.len() as u64;
        let present = Columns::of_record(&record);
        if present != self.columns {
            return Err(DataError::invalid_row(
                &self.path,
                row,
                "*",
                format!(
                    "record fills optional columns {present:?}, the file was created with {:?}",
                    self.columns
                ),
            ));
        }
        validate::check_record(&record, &self.rules)
            .map_err(|p| DataError::invalid_row(&self.path, row, p.column, p.reason))?;
        self.buffer.push(record);
        if self.buffer.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows accepted so far.
    pub fn rows(&self) -> u64 {
        self.sink.rows() + self.buffer.len() as u64
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = records_to_batch(&self.buffer, self.schema.clone(), self.columns)
            .map_err(|e| DataError::arrow(&self.path, e))?;
        self.buffer.clear();
        self.sink.write(&batch)
    }

    /// Writes what is buffered and the footer, then renames the file into place.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.sink.finish()
    }
}

/// Builds one record batch with `columns`' optional columns from records that all carry them.
pub fn records_to_batch(
    records: &[PreferenceRecord],
    schema: SchemaRef,
    columns: Columns,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut prompt = StringBuilder::new();
    let mut chosen = StringBuilder::new();
    let mut rejected = ListBuilder::new(StringBuilder::new());
    for record in records {
        prompt.append_value(&record.prompt);
        chosen.append_value(&record.chosen);
        for text in &record.rejected {
            rejected.values().append_value(text);
        }
        rejected.append(true);
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(prompt.finish()),
        Arc::new(chosen.finish()),
        Arc::new(rejected.finish()),
    ];
    if columns.user_id {
        arrays.push(int_column(records, |r| r.user_id));
    }
    if columns.chosen_item {
        arrays.push(int_column(records, |r| r.chosen_item));
    }
    if columns.rejected_items {
        arrays.push(int_list_column(records, |r| r.rejected_items.as_deref()));
    }
    if columns.history_items {
        arrays.push(int_list_column(records, |r| r.history_items.as_deref()));
    }
    if columns.candidate_items {
        arrays.push(int_list_column(records, |r| r.candidate_items.as_deref()));
    }
    if columns.weight {
        arrays.push(f32_column(records, |r| r.weight));
    }
    if columns.smoothing {
        arrays.push(f32_column(records, |r| r.smoothing));
    }
    if columns.ref_chosen_logp {
        let mut builder = Float64Builder::with_capacity(records.len());
        for record in records {
            builder.append_option(record.ref_chosen_logp);
        }
        arrays.push(Arc::new(builder.finish()));
    }
    if columns.ref_rejected_logps {
        let mut builder = ListBuilder::new(Float64Builder::new());
        for record in records {
            match &record.ref_rejected_logps {
                Some(values) => {
                    builder.values().append_slice(values);
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        arrays.push(Arc::new(builder.finish()));
    }
    RecordBatch::try_new(schema, arrays)
}

fn int_column(
    records: &[PreferenceRecord],
    get: impl Fn(&PreferenceRecord) -> Option<i64>,
) -> ArrayRef {
    let mut builder = Int64Builder::with_capacity(records.len());
    for record in records {
        builder.append_option(get(record));
    }
    Arc::new(builder.finish())
}

fn f32_column(
    records: &[PreferenceRecord],
    get: impl Fn(&PreferenceRecord) -> Option<f32>,
) -> ArrayRef {
    let mut builder = Float32Builder::with_capacity(records.len());
    for record in records {
        builder.append_option(get(record));
    }
    Arc::new(builder.finish())
}

fn int_list_column(
    records: &[PreferenceRecord],
    get: impl Fn(&PreferenceRecord) -> Option<&[i64]>,
) -> ArrayRef {
    let mut builder = ListBuilder::new(Int64Builder::new());
    for record in records {
        match get(record) {
            Some(values) => {
                builder.values().append_slice(values);
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}
