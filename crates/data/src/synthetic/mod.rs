//! Synthetic datasets with known ground truth, seeded, written in the same schema as real data so
//! that everything downstream reads both the same way.
//!
//! - [`sequential`]: a Zipf-popular catalog with latent item vectors, users with drifting latent
//!   tastes (sequential recommendation; converted with [`crate::convert`]);
//! - [`conflicting`]: user groups with opposite preferences over response length (P-RLHF);
//! - [`basis_rewards`]: users as Dirichlet mixtures of a few basis reward functions, preferences
//!   drawn from Bradley–Terry (LoRe);
//! - [`prompt_families`]: prompts in families whose good responses share family-level words,
//!   with prompt embeddings (RPO);
//! - [`stated_style`]: questions whose prompt states the answer style wanted, in TRL's
//!   layout (text preference training with a pretrained LM).

pub mod basis_rewards;
pub mod conflicting;
pub mod prompt_families;
pub mod sequential;
pub mod stated_style;
mod tables;
mod words;

pub use basis_rewards::{BasisRewardData, BasisRewardSpec};
pub use conflicting::{ConflictingData, ConflictingSpec};
pub use prompt_families::{PromptFamilyData, PromptFamilySpec};
pub use sequential::{SequentialData, SequentialSpec};
pub use stated_style::{StatedStyleSpec, Style};

/// Standard normal draws without pulling in a second distribution type everywhere.
pub(crate) fn normal(rng: &mut dyn rand::Rng) -> f64 {
    use rand_distr::Distribution;
    rand_distr::StandardNormal.sample(rng)
}
