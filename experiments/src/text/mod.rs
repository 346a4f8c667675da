//! The text pipeline of `prefopt train`: any loss on a TRL-format preference dataset with a
//! pretrained checkpoint, as TRL's `DPOTrainer` / `KTOTrainer` / `CPOTrainer` would run it.
//!
//! - [`data`]: the dataset's splits read and laid out as tokens for the checkpoint;
//! - [`evaluate`]: held-out metrics under TRL's names, with per-example reward accuracies;
//! - [`stage`]: one preference stage with held-out evaluations before, during and after;
//! - [`personal`]: P-DPO's user model on rows with `user_id`;
//! - [`run`]: optional SFT, the preference stage, the outputs (adapter, merged checkpoint,
//!   report).

pub mod data;
pub mod evaluate;
pub mod personal;
pub mod report;
pub mod run;
pub mod settings;
pub mod stage;

pub use data::{TextData, TextPipeline};
pub use run::train_text;
