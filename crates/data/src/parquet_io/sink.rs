//! A Parquet file written batch by batch and published atomically.

use std::fs::File;
use std::path::Path;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::atomic::AtomicFile;
use crate::error::{DataError, Result};

/// The codec of written files. Reading accepts all of these (and LZ4) whatever is chosen here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Fast, the pyarrow and Spark default.
    #[default]
    Snappy,
    /// Smaller files; level 1..=22.
    Zstd(i32),
    /// Level 0..=9.
    Gzip(u32),
    /// Level 0..=11.
    Brotli(u32),
    Uncompressed,
}

impl Codec {
    fn to_parquet(self) -> Result<Compression> {
        let bad = |e: parquet::errors::ParquetError| DataError::parameter("codec", e.to_string());
        Ok(match self {
            Self::Snappy => Compression::SNAPPY,
            Self::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).map_err(bad)?),
            Self::Gzip(level) => Compression::GZIP(GzipLevel::try_new(level).map_err(bad)?),
            Self::Brotli(level) => Compression::BROTLI(BrotliLevel::try_new(level).map_err(bad)?),
            Self::Uncompressed => Compression::UNCOMPRESSED,
        })
    }
}

impl std::str::FromStr for Codec {
    type Err = DataError;

    /// `snappy`, `zstd`, `zstd:9`, `gzip`, `gzip:6`, `brotli`, `brotli:5`, `none`.
    fn from_str(text: &str) -> Result<Self> {
        let (name, level) = match text.split_once(':') {
            Some((name, level)) => (name, Some(level)),
            None => (text, None),
        };
        let level = |default: i64| -> Result<i64> {
            level.map_or(Ok(default), |l| {
                l.parse()
                    .map_err(|_| DataError::parameter("codec", format!("bad level in `{text}`")))
            })
        };
        Ok(match name.to_ascii_lowercase().as_str() {
            "snappy" => Self::Snappy,
            "zstd" => Self::Zstd(level(3)? as i32),
            "gzip" => Self::Gzip(level(6)? as u32),
            "brotli" => Self::Brotli(level(5)? as u32),
            "none" | "uncompressed" => Self::Uncompressed,
            _ => {
                return Err(DataError::parameter(
                    "codec",
                    format!(
                        "unknown codec `{text}` (snappy, zstd[:L], gzip[:L], brotli[:L], none)"
                    ),
                ));
            }
        })
    }
}

/// Options of every Parquet file this crate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub codec: Codec,
    /// Rows buffered per record batch.
    pub batch_rows: usize,
    /// Rows per row group (the unit readers can skip or read in parallel).
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            codec: Codec::default(),
            batch_rows: 8192,
            row_group_rows: 131_072,
        }
    }
}

/// Writes record batches to a temporary file; [`ParquetSink::finish`] publishes it.
pub struct ParquetSink {
    writer: ArrowWriter<File>,
    guard: AtomicFile,
    rows: u64,
}

impl ParquetSink {
    pub fn create(path: &Path, schema: SchemaRef, options: &WriteOptions) -> Result<Self> {
        Self::create_with_unique_text(path, schema, options, &[])
    }

    /// As [`ParquetSink::create`]; the `unique_text` columns (one distinct long string per row,
    /// like prompts) are written without dictionary encoding or min/max statistics, which would
    /// cost a hash and comparisons per value and buy nothing.
    pub fn create_with_unique_text(
        path: &Path,
        schema: SchemaRef,
        options: &WriteOptions,
        unique_text: &[&str],
    ) -> Result<Self> {
        let (guard, file) = AtomicFile::create(path)?;
        let mut properties = WriterProperties::builder()
            .set_compression(options.codec.to_parquet()?)
            .set_max_row_group_row_count(Some(options.row_group_rows.max(1)));
        for column in unique_text {
            let column = ColumnPath::from(*column);
            properties = properties
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_statistics_enabled(column, EnabledStatistics::None);
        }
        let properties = properties.build();
        let writer = ArrowWriter::try_new(file, schema, Some(properties))
            .map_err(|e| DataError::parquet(path, e))?;
        Ok(Self {
            writer,
            guard,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| DataError::parquet(self.guard.target(), e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer, syncs and renames into place; returns the number of rows.
    pub fn finish(self) -> Result<u64> {
        let target = self.guard.target().to_path_buf();
        let file = self
            .writer
            .into_inner()
            .map_err(|e| DataError::parquet(&target, e))?;
        self.guard.commit(file)?;
        Ok(self.rows)
    }
}
