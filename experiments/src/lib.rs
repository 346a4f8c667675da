//! # prefopt-experiments
//!
//! One binary per paper table, wiring the crates together, and `reproduce` for all of them:
//!
//! | binary | what |
//! |---|---|
//! | `reproduce` | every table below on small defaults; one Markdown report with plots; `--track llm` runs the recommendation tables with a pretrained LLM on a real log ([`llm_track`]); `--seeds N` reports over seeds |
//! | `sdpo` | SFT vs DPO vs S-DPO (K ∈ {1, 3, 8, 15}) vs DMPO (paper and official) vs DynamicPO vs LiPO-λ, and S-DPO's β sweep |
//! | `rosepo` | RosePO's rejected-sampling strategies, bias mitigations and personalized smoothing |
//! | `prlhf` | vanilla DPO vs P-DPO (individual and cluster user models, several α and user-token counts) on conflicting preferences |
//! | `lore` | LoRe vs one shared reward vs per-user rewards, seen and unseen users (k shots), ranks, basis recovery, re-ranking |
//! | `rpo` | DPO vs RPO paired / uniform / unpaired / diagonal over τ and batch sizes; the effective-β shrinkage |
//! | `prefopt` | `data convert|inspect|generate`, and `train|eval|score --config <file.toml>` |
//! | `losses` | every objective on a generated batch of log-probs (a demo) |
//!
//! The library is laid out in three layers, each importing only from the layers below it:
//!
//! - one folder per experiment — [`sdpo`], [`rosepo`], [`prlhf`], [`lore`], [`rpo`] — each with
//!   its `settings` (a leaf that [`config`] imports), the runs, and the report section;
//! - what experiments of one kind share: the recommendation pipeline and its table helpers
//!   ([`rec`], used by the S-DPO and RosePO tables) and the text policy of the
//!   personalization experiments ([`personal`]);
//! - what every experiment shares: the worker pool, claim statistics, training-log series and
//!   plots ([`common`]), the report writer ([`report`]), the TOML [`config`] and the
//!   [`error`] type.
//!
//! [`runner`] runs a set of experiments into one report (or one per seed and one over seeds); [`data_cli`] and [`pipeline_cli`] are
//! the `prefopt` subcommands. `tests/module_layers.rs` checks that no module imports upwards.

mod checks;
pub mod common;
pub mod config;
pub mod data_cli;
pub mod error;
pub mod llm_track;
pub mod lore;
pub mod personal;
pub mod pipeline_cli;
pub mod prlhf;
pub mod rec;
pub mod report;
pub mod rosepo;
pub mod rpo;
pub mod runner;
pub mod sdpo;
pub mod synthetic;
pub mod text;

pub use config::ExperimentConfig;
pub use error::{ExperimentError, Result};
