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
//! ndarray, with faer for decompositions. `docs/personalization.md` covers both and the
//! experiments that use them.
//!
//! ```
//! use ndarray::array;
//! use prefopt_user_models::lore::{JointFit, UserComparisons, fit_new_user};
//!
//! // Two users who disagree; rows are feature differences φ(chosen) − φ(rejected).
//! let data = UserComparisons::new(vec![
//!     array![[30.0, -10.0], [25.0, 5.0]],
//!     array![[-20.0, 30.0], [-5.0, 40.0]],
//! ])?;
//! let model = JointFit { steps: 200, ..JointFit::new(2) }.fit(&data)?;
//! // A new user from one comparison, the basis frozen, to a duality gap of 1e-8.
//! let newcomer = fit_new_user(model.basis.view(), array![[10.0, -30.0]].view(), 1e-8, 10_000)?;
//! assert!(newcomer.gap <= 1e-8);
//! // The newcomer's rewards of two responses, to rank them.
//! let rewards = model.rewards(array![[1.0, 0.0], [0.0, 1.0]].view(), newcomer.weights.view())?;
//! assert_eq!(rewards.len(), 2);
//! # Ok::<(), prefopt_user_models::UserModelError>(())
//! ```

pub mod error;
pub mod lore;
pub mod prlhf;
mod tensor_file;

pub use error::{Result, UserModelError};
