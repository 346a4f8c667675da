//! # prefopt-user-models
//!
//! Personalization on top of the policy and the reward:
//! - [`prlhf`]: P-RLHF user models. Each user is a few soft prompt tokens (individual: a generic
//!   embedding plus a per-user offset; cluster: a per-user softmax mixture of cluster embeddings)
//!   that the models crate's transformer receives through its soft-token hook, trained jointly
//!   with the policy under P-DPO. User 0 is the generic user and also serves unknown users.
//! - [`lore`]: LoRe low-rank reward factorization. `B` basis rewards over response features
//!   (the columns of `V`), per-user weights on the simplex (`softmax(W_u)`), their objectives
//!   with exact gradients, joint fitting, and few-shot fitting of new users with the basis frozen.
//!
//! The user models are burn modules (they train with the policy); LoRe is small dense algebra on
//! ndarray, with faer for decompositions.

pub mod error;
pub mod lore;
pub mod prlhf;
mod tensor_file;

pub use error::{Result, UserModelError};
