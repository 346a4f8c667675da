//! # prefopt-data
//!
//! Will hold: Parquet preference datasets (arrow/parquet, streamed in record batches), converters
//! from interaction logs (MovieLens, Amazon, LastFM, Goodreads) to sequential-recommendation
//! preference data, seeded negative samplers, and synthetic generators with known ground truth.
//! It depends on arrow, parquet and rand only: no ML framework.
