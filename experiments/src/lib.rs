//! # prefopt-experiments
//!
//! Small binaries, one per paper table, wiring the crates together, and `reproduce` for all of
//! them (added by the experiment issues). For now it holds `losses`, a demo that evaluates every
//! objective of `prefopt-objectives` on a generated batch of log-probs and prints a table, and
//! the synthetic batch generator it uses.

pub mod data_cli;
pub mod synthetic;
