//! One preference stage of the text pipeline: any trained module, evaluated on the held-out
//! split before training, at each of the trainer's evaluations, and after the last update.

use std::cell::RefCell;
use std::path::Path;

use burn::module::Module;
use prefopt_models::train::{Evaluation, Task, TrainConfig, train};
use prefopt_models::transformer::Transformer;

use super::evaluate::HeldOut;
use crate::common::checkpoints::{read_cbor, write_cbor};
use crate::error::Result;

/// What each evaluation during training measured, at which update.
pub type Curve = Vec<(usize, HeldOut)>;

/// What a preference stage returns: the trained policy with its evaluations, and P-DPO's user
/// model with the dataset user id of each of its users (1, 2, …).
pub struct Stage {
    pub run: Evaluated<Transformer>,
    pub users: Option<(prefopt_user_models::prlhf::UserModel, Vec<i64>)>,
}

/// The training outcome of one module with held-out evaluations before, during and after.
pub struct Evaluated<M> {
    pub last: M,
    pub before: HeldOut,
    pub after: HeldOut,
    pub curve: Curve,
    pub losses: Vec<f64>,
    pub updates: usize,
    pub update_seconds: f64,
    /// Updates this process timed (the rest came from a checkpoint).
    pub timed_updates: usize,
}

impl<M> Evaluated<M> {
    /// The same outcome with the trained module replaced by `f` of it.
    pub fn map<N>(self, f: impl FnOnce(M) -> N) -> Evaluated<N> {
        Evaluated {
            last: f(self.last),
            before: self.before,
            after: self.after,
            curve: self.curve,
            losses: self.losses,
            updates: self.updates,
            update_seconds: self.update_seconds,
            timed_updates: self.timed_updates,
        }
    }
}

/// Trains `model` on `task`, evaluating with `evaluate` before training, at every evaluation
/// of the trainer (logged under TRL's `eval_` names) and after the last update.
pub fn evaluate_while_training<M: Module + 'static>(
    model: M,
    task: &(dyn Task<M> + Sync),
    evaluate: &dyn Fn(&M) -> Result<HeldOut>,
    config: &TrainConfig,
    description: &str,
) -> Result<Evaluated<M>> {
    let before = evaluate(&model.valid())?;
    // With checkpoints, every evaluation is also kept in `curve.cbor` beside them: a resumed
    // run starts from the evaluations its checkpoint had seen.
    let kept = config.checkpoint_dir.as_ref().map(|d| d.join("curve.cbor"));
    let curve: RefCell<Vec<HeldOut>> = RefCell::new(earlier_evaluations(config, kept.as_deref())?);
    let mut evaluator = |m: &M| {
        let held = evaluate(&m.valid())
            .map_err(|e| prefopt_models::ModelError::external("held-out evaluation", e))?;
        let evaluation = Evaluation {
            score: held.score(),
            logged: held.logged(),
        };
        curve.borrow_mut().push(held);
        if let Some(path) = &kept {
            write_cbor(path, &*curve.borrow())
                .map_err(|e| prefopt_models::ModelError::external("held-out evaluations", e))?;
        }
        Ok(evaluation)
    };
    let outcome = train(model, task, config, description, Some(&mut evaluator))?;
    let after = evaluate(&outcome.last.valid())?;
    let curve = outcome
        .evaluations
        .iter()
        .map(|(step, _)| *step)
        .zip(curve.into_inner())
        .collect();
    Ok(Evaluated {
        last: outcome.last,
        before,
        after,
        curve,
        losses: outcome.losses,
        updates: outcome.state.step,
        update_seconds: outcome.update_seconds,
        timed_updates: outcome.timed_updates,
    })
}

/// The held-out evaluations a resumed run's checkpoint covers (none for a fresh run).
fn earlier_evaluations(config: &TrainConfig, kept: Option<&Path>) -> Result<Vec<HeldOut>> {
    let (Some(dir), Some(kept)) = (&config.checkpoint_dir, kept) else {
        return Ok(Vec::new());
    };
    let checkpoint = dir.join("checkpoint.safetensors");
    if !config.resume || !checkpoint.exists() {
        return Ok(Vec::new());
    }
    let done = prefopt_models::checkpoint::read_state(&checkpoint)?
        .evaluations
        .len();
    let mut earlier: Vec<HeldOut> = if kept.exists() {
        read_cbor(kept)?
    } else {
        Vec::new()
    };
    if earlier.len() < done {
        return Err(crate::error::ExperimentError::Invalid(format!(
            "{} holds {} evaluations, but the checkpoint beside it was written after {done}",
            kept.display(),
            earlier.len()
        )));
    }
    // Evaluations after the checkpoint are done again by the resumed run.
    earlier.truncate(done);
    Ok(earlier)
}

/// The trained policy and what was measured on the way.
pub struct Trained {
    /// The preference stage: the policy after its last update (`run.last`) and its evaluations.
    pub run: Evaluated<Transformer>,
    /// P-DPO's user model and the dataset user id of each of its users (1, 2, …).
    pub users: Option<(prefopt_user_models::prlhf::UserModel, Vec<i64>)>,
    /// Seconds of the preference stage, reference log-probs and evaluations included.
    pub seconds: f64,
    pub sft_seconds: Option<f64>,
}
