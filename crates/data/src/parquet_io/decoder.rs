//! The Parquet decoder behind a guard. The `parquet` crate can panic on a corrupt file (a
//! negative column extent in the footer, a zero divisor in a page header: both found by this
//! workspace's fuzz tests), so every call into it that reads a file's bytes runs here, and a
//! panic becomes a [`DataError::Corrupt`] naming the file. The decoder is not used again
//! after it panicked. While a thread runs the decoder here, the panic hook stays quiet for that
//! thread (the message goes into the error instead of onto stderr); every other panic is
//! reported by the hook that was installed before.

use std::cell::Cell;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::{DataError, Result};

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the decoder panicked".into())
}

thread_local! {
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once, a panic hook that is silent on threads inside [`guarded`].
fn quiet_while_decoding() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `step` of the decoder on `path`'s bytes, a panic turned into an error.
fn guarded<T>(path: &Path, step: impl FnOnce() -> Result<T>) -> Result<T> {
    quiet_while_decoding();
    let outer = DECODING.with(|d| d.replace(true));
    let result = catch_unwind(AssertUnwindSafe(step));
    DECODING.with(|d| d.set(outer));
    result.unwrap_or_else(|payload| {
        Err(DataError::Corrupt {
            path: path.to_path_buf(),
            reason: panic_message(payload.as_ref()),
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
