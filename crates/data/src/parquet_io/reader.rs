//! Reading preference data in record batches: one file or a folder of part files, TRL's pairwise
//! files unchanged, each row validated.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::decoder::{self, Batches};

use super::column_types::COLUMNS;
use super::source::parquet_files;
use crate::error::{DataError, Result};
use crate::schema::{Columns, PreferenceRecord};
use crate::validate::{self, Rules};

/// What to do with a row that breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvalidRows {
    /// Stop with an error naming the file, row and column (the default: no silent data loss).
    #[default]
    Fail,
    /// Skip the row and count it in the [`ReadReport`].
    SkipAndCount,
}

/// Options of [`PreferenceDataset::reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Rows per record batch read from disk.
    pub batch_rows: usize,
    pub rules: Rules,
    pub invalid_rows: InvalidRows,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            batch_rows: 8192,
            rules: Rules::default(),
            invalid_rows: InvalidRows::Fail,
        }
    }
}

/// Counts of what a reader saw, including each skipped row's cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub rows_read: u64,
    pub rows_skipped: u64,
    /// Skipped rows by `column: rule` (the reason without the row-specific values).
    pub skipped_by_column: BTreeMap<String, u64>,
    /// The full message of the first skipped rows (at most 10), to show the user.
    pub first_skipped: Vec<String>,
}

impl ReadReport {
    fn skip(&mut self, error: &DataError) {
        self.rows_skipped += 1;
        let column = match error {
            DataError::InvalidRow { column, .. } => column.clone(),
            other => other.kind().to_string(),
        };
        *self.skipped_by_column.entry(column).or_default() += 1;
        if self.first_skipped.len() < 10 {
            self.first_skipped.push(error.to_string());
        }
    }
}

/// A preference dataset on disk: one Parquet file or a folder of part files.
#[derive(Debug, Clone)]
pub struct PreferenceDataset {
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl PreferenceDataset {
    /// Lists the dataset's files; nothing is read yet.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        let files = parquet_files(&root)?;
        Ok(Self { root, files })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The row count from the files' footers (no data is read).
    pub fn num_rows(&self) -> Result<u64> {
        let mut rows = 0;
        for path in &self.files {
            let builder = open_builder(path)?;
            rows += builder.metadata().file_metadata().num_rows() as u64;
        }
        Ok(rows)
    }

    /// The optional columns present in every file (checked against the schema's types).
    pub fn columns(&self) -> Result<Columns> {
        let mut common: Option<Columns> = None;
        for path in &self.files {
            let plan = FilePlan::new(path)?;
            let present = plan.columns;
            common = Some(match common {
                None => present,
                Some(c) => intersect(c, present),
            });
        }
        Ok(common.unwrap_or_default())
    }

    /// A streaming reader over all files, in order, yielding batches of validated records.
    pub fn reader(&self, options: ReadOptions) -> PreferenceReader {
        PreferenceReader {
            files: self.files.clone(),
            next_file: 0,
            current: None,
            options,
            report: ReadReport::default(),
        }
    }

    /// Reads every record into memory (for small datasets and tests).
    pub fn read_all(&self, options: ReadOptions) -> Result<(Vec<PreferenceRecord>, ReadReport)> {
        let mut reader = self.reader(options);
        let mut records = Vec::new();
        for batch in reader.by_ref() {
            records.extend(batch?);
        }
        Ok((records, reader.report().clone()))
    }
}

fn intersect(a: Columns, b: Columns) -> Columns {
    Columns {
        user_id: a.user_id && b.user_id,
        chosen_item: a.chosen_item && b.chosen_item,
        rejected_items: a.rejected_items && b.rejected_items,
        history_items: a.history_items && b.history_items,
        candidate_items: a.candidate_items && b.candidate_items,
        weight: a.weight && b.weight,
        smoothing: a.smoothing && b.smoothing,
        ref_chosen_logp: a.ref_chosen_logp && b.ref_chosen_logp,
        ref_rejected_logps: a.ref_rejected_logps && b.ref_rejected_logps,
    }
}

fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    decoder::open(path)
}

/// Which schema columns a file has, where, and what they are cast to.
struct FilePlan {
    builder: ParquetRecordBatchReaderBuilder<File>,
    /// For each entry of `COLUMNS`: the cast target when the file has the column.
    targets: Vec<Option<DataType>>,
    columns: Columns,
}

impl FilePlan {
    fn new(path: &Path) -> Result<Self> {
        let builder = open_builder(path)?;
        let schema = builder.schema().clone();
        let mut targets = Vec::with_capacity(COLUMNS.len());
        for (name, kind, required) in COLUMNS {
            match schema.field_with_name(name) {
                Ok(field) => {
                    let target =
                        kind.target(field.data_type())
                            .ok_or_else(|| DataError::ColumnType {
                                path: path.to_path_buf(),
                                column: name.to_string(),
                                expected: kind.expected().to_string(),
                                found: field.data_type().to_string(),
                            })?;
                    targets.push(Some(target));
                }
                Err(_) if required => {
                    let found = schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(DataError::MissingColumn {
                        path: path.to_path_buf(),
                        column: name.to_string(),
                        found,
                    });
                }
                Err(_) => targets.push(None),
            }
        }
        let has = |i: usize| targets[i].is_some();
        let columns = Columns {
            user_id: has(3),
            chosen_item: has(4),
            rejected_items: has(5),
            history_items: has(6),
            candidate_items: has(7),
            weight: has(8),
            smoothing: has(9),
            ref_chosen_logp: has(10),
            ref_rejected_logps: has(11),
        };
        Ok(Self {
            builder,
            targets,
            columns,
        })
    }

    /// A batch reader over the schema's columns only (other columns are never decoded).
    fn into_reader(
        self,
        path: &Path,
        batch_rows: usize,
    ) -> Result<(Batches, Vec<Option<DataType>>)> {
        let arrow_schema = self.builder.schema().clone();
        let roots: Vec<usize> = COLUMNS
            .iter()
            .filter_map(|(name, _, _)| arrow_schema.index_of(name).ok())
            .collect();
        let mask = ProjectionMask::roots(self.builder.parquet_schema(), roots);
        let builder = self
            .builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1));
        Ok((decoder::batches(path, builder)?, self.targets))
    }
}

struct FileCursor {
    path: PathBuf,
    reader: Batches,
    targets: Vec<Option<DataType>>,
    next_row: u64,
}

/// Iterator over batches of validated records (see [`PreferenceDataset::reader`]).
pub struct PreferenceReader {
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<FileCursor>,
    options: ReadOptions,
    report: ReadReport,
}

impl PreferenceReader {
    /// Rows read and skipped so far.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    fn open_next(&mut self) -> Option<Result<()>> {
        let path = self.files.get(self.next_file)?.clone();
        self.next_file += 1;
        let opened = FilePlan::new(&path)
            .and_then(|plan| plan.into_reader(&path, self.options.batch_rows))
            .map(|(reader, targets)| {
                self.current = Some(FileCursor {
                    path,
                    reader,
                    targets,
                    next_row: 0,
                });
            });
        Some(opened)
    }

    fn convert(&mut self, batch: RecordBatch) -> Result<Vec<PreferenceRecord>> {
        let cursor = self.current.as_mut().expect("a file is open");
        let first_row = cursor.next_row;
        cursor.next_row += batch.num_rows() as u64;
        let path = cursor.path.clone();
        let columns = cast_columns(&path, &batch, &cursor.targets)?;
        let mut records = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let row = first_row + i as u64;
            let record = record_at(&path, row, &columns, i).and_then(|record| {
                validate::check_record(&record, &self.options.rules)
                    .map(|()| record)
                    .map_err(|p| DataError::invalid_row(&path, row, p.column, p.reason))
            });
            match record {
                Ok(record) => records.push(record),
                Err(error) if self.options.invalid_rows == InvalidRows::SkipAndCount => {
                    self.report.skip(&error)
                }
                Err(error) => return Err(error),
            }
        }
        self.report.rows_read += records.len() as u64;
        Ok(records)
    }
}

impl Iterator for PreferenceReader {
    type Item = Result<Vec<PreferenceRecord>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none()
                && let Err(error) = self.open_next()?
            {
                self.next_file = self.files.len();
                return Some(Err(error));
            }
            let cursor = self.current.as_mut().expect("opened above");
            match cursor.reader.next() {
                Some(Ok(batch)) => {
                    let converted = self.convert(batch);
                    if converted.is_err() {
                        self.next_file = self.files.len();
                        self.current = None;
                    }
                    return Some(converted);
                }
                Some(Err(error)) => {
                    self.next_file = self.files.len();
                    self.current = None;
                    return Some(Err(error));
                }
                None => self.current = None,
            }
        }
    }
}

/// The batch's schema columns cast to their canonical types, indexed like `COLUMNS`.
fn cast_columns(
    path: &Path,
    batch: &RecordBatch,
    targets: &[Option<DataType>],
) -> Result<Vec<Option<ArrayRef>>> {
    // `safe: false`: an id that does not fit in i64 is an error, not a null.
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    COLUMNS
        .iter()
        .zip(targets)
        .map(|((name, _, _), target)| {
            let Some(target) = target else {
                return Ok(None);
            };
            let column = batch
                .column_by_name(name)
                .expect("projected columns are present");
            cast_with_options(column, target, &options)
                .map(Some)
                .map_err(|e| DataError::arrow(path, e))
        })
        .collect()
}

fn record_at(
    path: &Path,
    row: u64,
    columns: &[Option<ArrayRef>],
    i: usize,
) -> Result<PreferenceRecord> {
    let null = |column: &str| DataError::invalid_row(path, row, column, "null value");
    let text = |index: usize| -> Result<String> {
        let array = columns[index].as_ref().expect("required column");
        let name = COLUMNS[index].0;
        if array.is_null(i) {
            return Err(null(name));
        }
        Ok(array.as_string::<i32>().value(i).to_string())
    };
    let prompt = text(0)?;
    let chosen = text(1)?;
    let rejected_array = columns[2].as_ref().expect("required column");
    let rejected = if rejected_array.is_null(i) {
        return Err(null(COLUMNS[2].0));
    } else if matches!(rejected_array.data_type(), DataType::Utf8) {
        vec![rejected_array.as_string::<i32>().value(i).to_string()]
    } else {
        let values = rejected_array.as_list::<i32>().value(i);
        let strings = values.as_string::<i32>();
        if strings.null_count() > 0 {
            return Err(DataError::invalid_row(
                path,
                row,
                COLUMNS[2].0,
                "null element",
            ));
        }
        strings.iter().flatten().map(str::to_string).collect()
    };
    let int = |index: usize| -> Option<i64> {
        let array = columns[index].as_ref()?;
        (!array.is_null(i)).then(|| array.as_primitive::<Int64Type>().value(i))
    };
    let float32 = |index: usize| -> Option<f32> {
        let array = columns[index].as_ref()?;
        (!array.is_null(i)).then(|| array.as_primitive::<Float32Type>().value(i))
    };
    let int_list = |index: usize| -> Result<Option<Vec<i64>>> {
        let Some(array) = columns[index].as_ref() else {
            return Ok(None);
        };
        if array.is_null(i) {
            return Ok(None);
        }
        let values = array.as_list::<i32>().value(i);
        let values = values.as_primitive::<Int64Type>();
        if values.null_count() > 0 {
            return Err(DataError::invalid_row(
                path,
                row,
                COLUMNS[index].0,
                "null element",
            ));
        }
        Ok(Some(values.values().to_vec()))
    };
    let ref_rejected_logps = match columns[11].as_ref() {
        Some(array) if !array.is_null(i) => {
            let values = array.as_list::<i32>().value(i);
            let values = values.as_primitive::<Float64Type>();
            if values.null_count() > 0 {
                return Err(DataError::invalid_row(
                    path,
                    row,
                    COLUMNS[11].0,
                    "null element",
                ));
            }
            Some(values.values().to_vec())
        }
        _ => None,
    };
    Ok(PreferenceRecord {
        prompt,
        chosen,
        rejected,
        user_id: int(3),
        chosen_item: int(4),
        rejected_items: int_list(5)?,
        history_items: int_list(6)?,
        candidate_items: int_list(7)?,
        weight: float32(8),
        smoothing: float32(9),
        ref_chosen_logp: columns[10]
            .as_ref()
            .and_then(|a| (!a.is_null(i)).then(|| a.as_primitive::<Float64Type>().value(i))),
        ref_rejected_logps,
    })
}
