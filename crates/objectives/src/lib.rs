//! # prefopt-objectives
//!
//! Every DPO-family preference loss, written once over burn tensors so it runs on every backend
//! (the CPU `flex` backend, `wgpu` GPUs) and autodiff supplies the gradient.
//!
//! * Input: [`PreferenceLogps`], policy and reference sequence log-probs of one chosen and K
//!   rejected responses per prompt, with optional lengths, masks, weights, smoothing, prompt
//!   embeddings, user ids and per-token log-probs.
//! * Output: [`LossOutput`], the loss, per-example losses, detached implicit rewards and named
//!   extras, plus TRL-named [`Metrics`].
//! * One [`Objective`] trait; one [`ObjectiveConfig`] enum that (de)serialises with serde and
//!   parses TRL's `loss_type` names, validated once by [`ObjectiveConfig::check`].
//!
//! The losses match the reference implementations (TRL 1.16 and the papers' official code) on
//! the golden files in `tests/golden/`. This crate depends on burn only: no models, no data.
//!
//! ```
//! use burn::tensor::{DType, Device, Tensor};
//! use prefopt_objectives::{ObjectiveConfig, PreferenceLogps};
//!
//! let device = Device::flex().autodiff();
//! let f64s = (&device, DType::F64);
//! let policy_chosen = Tensor::<1>::from_data([-4.0, -6.0], f64s.clone()).require_grad();
//! let policy_rejected = Tensor::<2>::from_data([[-5.0, -7.5], [-5.5, -9.0]], f64s.clone()).require_grad();
//! let batch = PreferenceLogps::new(policy_chosen.clone(), policy_rejected)
//!     .with_reference(
//!         Tensor::<1>::from_data([-4.5, -6.0], f64s.clone()),
//!         Tensor::<2>::from_data([[-5.0, -7.0], [-5.0, -9.5]], f64s),
//!     );
//!
//! // S-DPO with K = 2 negatives, chosen by name as a config file would.
//! let objective = "sdpo".parse::<ObjectiveConfig>()?.check()?;
//! let output = objective.compute(&batch)?;
//! let gradients = output.loss.backward();
//! let grad = policy_chosen.grad(&gradients).expect("leaf gradient");
//! assert!(grad.into_data().to_vec::<f64>().unwrap().iter().all(|g| *g < 0.0));
//! assert!(output.metrics().get("rewards/accuracies").unwrap() > 0.0);
//! # Ok::<(), prefopt_objectives::ObjectiveError>(())
//! ```

mod config;
pub mod cpo;
pub mod dpo;
mod error;
mod input;
pub mod kto;
pub mod numerics;
mod objective;
pub mod orpo;
mod output;
mod pairs;
pub mod personal;
pub mod rec;

pub use config::{LOSS_NAMES, ObjectiveConfig};
pub use error::{ObjectiveError, Result};
pub use input::{BatchDims, KlLogps, PreferenceLogps, PromptLogps, TokenLogps};
pub use objective::{Inputs, Objective, Use};
pub use output::{Extra, LossOutput, Metrics};
