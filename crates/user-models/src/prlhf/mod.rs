//! P-RLHF (arXiv 2402.05133): implicit user models whose embeddings become soft prompt tokens
//! of the policy (`docs/methods/personal.md` §2a).

mod file;
mod user_model;

pub use user_model::{UserInit, UserModel, UserModelConfig, UserModelKind};
