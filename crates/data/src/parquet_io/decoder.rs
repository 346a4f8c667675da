//! The Parquet decoder behind a guard. The `parquet` crate can panic on a corrupt file (a
//! negative column extent in the footer, a zero divisor in a page header: both found by this
//! workspace's fuzz tests), so every call into it that reads a file's bytes runs here, and a
//! panic becomes a [`DataError::Corrupt`] naming the file. The decoder is not used again
//! after it panicked ([`crate::guard`] keeps the panic message off stderr).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::{DataError, Result};

/// Runs `step` of the decoder on `path`'s bytes, a panic turned into an error.
fn guarded<T>(path: &Path, step: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::guard::contain(step).unwrap_or_else(|reason| {
        Err(DataError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    })
}

/// Opens `path` and reads its footer.
pub fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    guarded(path, || {
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| DataError::parquet(path, e))
    })
}

/// The batches of a configured builder.
pub fn batches(path: &Path, builder: ParquetRecordBatchReaderBuilder<File>) -> Result<Batches> {
    let reader = guarded(path, || {
        builder.build().map_err(|e| DataError::parquet(path, e))
    })?;
    Ok(Batches {
        path: path.to_path_buf(),
        reader: Some(reader),
    })
}

/// Record batches of one file, each decoded under the guard; after an error, none follow.
pub struct Batches {
    path: PathBuf,
    reader: Option<ParquetRecordBatchReader>,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        let path = &self.path;
        let next = guarded(path, || {
            reader
                .next()
                .transpose()
                .map_err(|e| DataError::arrow(path, e))
        })
        .transpose();
        if !matches!(next, Some(Ok(_))) {
            self.reader = None;
        }
        next
    }
}
