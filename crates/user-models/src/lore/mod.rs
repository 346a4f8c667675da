//! LoRe (arXiv 2504.14439): low-rank reward modeling (`docs/methods/personal.md` §3).
//!
//! A comparison is a feature difference `x = φ(chosen) − φ(rejected) ∈ R^F`. The basis
//! `V ∈ R^{F×B}` holds `B` reward directions; user `u` weighs them with `π_u = softmax(W_u)`,
//! a point of the simplex, and prefers the chosen response with probability
//! `σ(x · V · π_u / 100)` (the reference's fixed 1/100 scale).

mod file;
mod fit;
mod independent;
mod objective;
mod subspace;

pub use fit::{FewShotFit, JointFit, LoreModel, fit_new_user};
pub use independent::{IndependentReward, fit_independent_reward};
pub use objective::{LoreLoss, LoreObjective, Reduction, Regularizer, UserComparisons, margins};
pub use subspace::principal_angles;
