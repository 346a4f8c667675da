//! # prefopt-data
//!
//! Preference data for DPO-family training, with no ML framework dependency:
//!
//! - [`atomic`]: files that appear whole or not at all (every command's outputs);
//! - [`schema`]: the on-disk preference schema (docs/data.md, "The schema") and [`PreferenceRecord`];
//! - [`parquet_io`]: streaming Parquet reads (one file or a folder of part files, TRL's pairwise
//!   files unchanged) with row validation, and atomic writes;
//! - [`logs`] and [`convert`]: interaction logs (MovieLens, Amazon, LastFM, Goodreads, generic
//!   CSV/Parquet) to sequential-recommendation preference data as S-DPO, DMPO and RosePO build it;
//! - [`samplers`]: seeded negative samplers behind one trait;
//! - [`synthetic`]: generators with known ground truth;
//! - [`inspect`]: schema, size and statistics of a dataset, validating every row;
//! - [`vectors`]: response features and prompt embeddings in `list<float32>` columns beside the
//!   preference columns (LoRe, RPO).
//!
//! ```no_run
//! use prefopt_data::{PreferenceDataset, ReadOptions};
//!
//! let dataset = PreferenceDataset::open("datasets/synthetic-rec/train.parquet")?;
//! for batch in dataset.reader(ReadOptions::default()) {
//!     for record in batch? {
//!         println!("{} -> {} (vs {} rejected)", record.prompt, record.chosen, record.rejected.len());
//!     }
//! }
//! # Ok::<(), prefopt_data::DataError>(())
//! ```

pub mod atomic;
pub mod convert;
pub mod corrupt;
pub mod error;
pub mod guard;
pub mod inspect;
pub mod logs;
pub mod parquet_io;
pub mod progress;
pub mod samplers;
pub mod schema;
pub mod synthetic;
pub mod trl;
pub mod validate;
pub mod vectors;

pub use error::{DataError, Result};
pub use parquet_io::{
    Codec, InvalidRows, PreferenceDataset, PreferenceReader, PreferenceWriter, ReadOptions,
    ReadReport, WriteOptions,
};
pub use schema::{Columns, ItemId, PreferenceRecord};
