//! # prefopt-experiments
//!
//! One binary per paper table, wiring the crates together, and `reproduce` for all of them:
//!
//! | binary | what |
//! |---|---|
//! | `reproduce` | every table below on small defaults; one Markdown report with plots |
//! | `sdpo` | SFT vs DPO vs S-DPO (K ∈ {1, 3, 8, 15}) vs DMPO (paper and official) vs DynamicPO vs LiPO-λ, and S-DPO's β sweep |
//! | `rosepo` | RosePO's rejected-sampling strategies, bias mitigations and personalized smoothing |
//! | `prlhf` | vanilla DPO vs P-DPO (individual and cluster user models, several α and user-token counts) on conflicting preferences |
//! | `lore` | LoRe vs one shared reward vs per-user rewards, seen and unseen users (k shots), ranks, basis recovery, re-ranking |
//! | `rpo` | DPO vs RPO paired / uniform / unpaired / diagonal over τ and batch sizes; the effective-β shrinkage |
//! | `prefopt` | `data convert|inspect|generate`, and `train|eval|score --config <file.toml>` |
//! | `losses` | every objective on a generated batch of log-probs (a demo) |
//!
//! The library holds what they share: the TOML [`config`], the recommendation pipeline
//! ([`rec`]), the tables of paper experiments ([`tables`]), the personalization experiments
//! ([`personal`]) and the report writer ([`report`]).

pub mod config;
pub mod data_cli;
pub mod error;
pub mod personal;
pub mod pipeline_cli;
pub mod rec;
pub mod report;
pub mod runner;
pub mod synthetic;
pub mod tables;

pub use config::ExperimentConfig;
pub use error::{ExperimentError, Result};
