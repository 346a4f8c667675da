//! Parquet on disk: listing part files, streaming reads, validated atomic writes.

mod column_types;
pub mod decoder;
mod reader;
mod sink;
mod source;
mod writer;

pub use crate::atomic::AtomicFile;
pub use reader::{InvalidRows, PreferenceDataset, PreferenceReader, ReadOptions, ReadReport};
pub use sink::{Codec, ParquetSink, WriteOptions};
pub use source::parquet_files;
pub use writer::{PreferenceWriter, records_to_batch};
