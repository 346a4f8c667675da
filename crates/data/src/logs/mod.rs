//! Interaction logs: reading the formats users download into one in-memory [`InteractionLog`].

mod formats;
mod log;
pub mod text;

pub use formats::{LogColumns, LogFormat, LogSource};
pub use log::{Interaction, InteractionLog, ItemCatalog, parse_goodreads_date};

/// LLaRA's MovieLens title clean-up (year dropped, trailing article moved to the front).
pub use formats::clean_movielens_title;
