//! The training loop shared by SFT and preference training: AdamW, warmup + cosine schedule,
//! global-norm clipping, gradient accumulation, periodic evaluation with early stopping, JSONL
//! metrics, a progress bar, and checkpoints that resume exactly.
//!
//! The loop is generic over the trained module and a [`Task`] that turns a micro-batch of
//! example indices into a loss, so a policy with a user model (P-RLHF) trains through the same
//! code as a bare transformer.

mod accumulate;
mod log;
mod preference;
mod sft;
mod unpaired;

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Tensor;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

pub use accumulate::{UpdateGradients, update_gradients};
pub use preference::{PreferenceTask, ReferenceLogps, policy_logp_means, reference_logps};
pub use sft::SftTask;
pub use unpaired::{
    UnpairedTask, kl_partners, kl_responses, unpaired_metrics, unpaired_reference_logps,
};

use crate::checkpoint::{self, TrainerState};
use crate::error::{ModelError, Result};
use crate::optim::{AdamW, AdamWConfig, Schedule, clip_global_norm};
use crate::params::with_fresh_graph_nodes;

/// Trainer settings (TOML/JSON via serde; every field has a default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer update.
    pub grad_accum: usize,
    /// Micro-batches of one update in flight at once, as tasks of rayon's pool (1: one after
    /// another on the calling thread). The update is the same whatever this is (see
    /// [`update_gradients`]); on a CPU, a few more micro-batches in flight than cores keep every
    /// core busy through burn flex's single-threaded elementwise kernels.
    pub micro_batch_threads: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of the updates spent warming up.
    pub warmup_ratio: f64,
    /// Final learning rate as a fraction of the peak.
    pub min_lr_ratio: f64,
    /// Global gradient-norm bound (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    pub adamw: AdamWConfig,
    /// Evaluate every this many updates (and after the last one).
    pub eval_every: Option<usize>,
    /// Stop after this many evaluations without improvement.
    pub patience: Option<usize>,
    /// Orders the examples of every epoch.
    pub seed: u64,
    /// Visit the examples in a fresh seeded order every epoch; `false` keeps their order
    /// (KTO, whose rows are paired with their neighbours for the KL estimate).
    pub shuffle: bool,
    /// JSONL file receiving one line per update and per evaluation (appended on resume).
    pub log: Option<PathBuf>,
    /// Where `checkpoint.safetensors` (and `best.safetensors`) are written.
    pub checkpoint_dir: Option<PathBuf>,
    /// Write a checkpoint every this many updates (and at the end).
    pub checkpoint_every: Option<usize>,
    /// Continue from `checkpoint_dir/checkpoint.safetensors` when it exists.
    pub resume: bool,
    /// Stop after this many updates in total without changing the schedule (time budgets;
    /// the resume test uses it to interrupt a run).
    pub stop_after: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 8,
            grad_accum: 1,
            micro_batch_threads: 1,
            lr: 5e-4,
            warmup_ratio: 0.1,
            min_lr_ratio: 0.0,
            max_grad_norm: Some(1.0),
            adamw: AdamWConfig::default(),
            eval_every: None,
            patience: None,
            seed: 0,
            shuffle: true,
            log: None,
            checkpoint_dir: None,
            checkpoint_every: None,
            resume: false,
            stop_after: None,
            progress: false,
        }
    }
}

impl TrainConfig {
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0
            || self.batch_size == 0
            || self.grad_accum == 0
            || self.micro_batch_threads == 0
        {
            return Err(ModelError::InvalidConfig(
                "epochs, batch_size, grad_accum and micro_batch_threads must be positive".into(),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(ModelError::InvalidConfig(format!(
                "lr must be positive, got {}",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) || !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(ModelError::InvalidConfig(
                "warmup_ratio must lie in [0, 1) and min_lr_ratio in [0, 1]".into(),
            ));
        }
        if self.max_grad_norm.is_some_and(|n| n <= 0.0) {
            return Err(ModelError::InvalidConfig(
                "max_grad_norm must be positive".into(),
            ));
        }
        if self.eval_every == Some(0) || self.checkpoint_every == Some(0) {
            return Err(ModelError::InvalidConfig(
                "eval_every and checkpoint_every must be positive".into(),
            ));
        }
        if self.resume && self.checkpoint_dir.is_none() {
            return Err(ModelError::InvalidConfig(
                "resume needs a checkpoint_dir".into(),
            ));
        }
        self.adamw.check()
    }
}

/// What the loop trains: a set of examples and the loss of a micro-batch of them.
pub trait Task<M> {
    /// Number of training examples.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Mean loss over `indices` (differentiable with respect to the module's parameters; a
    /// constant when the batch has nothing to learn from, which then adds no gradient) and
    /// named host-side metrics of the micro-batch.
    fn loss(&self, model: &M, indices: &[usize]) -> Result<(Tensor<1>, Vec<(String, f64)>)>;
}

/// What an evaluation measured: the score that selects checkpoints (higher is better) and any
/// named values to log beside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    pub score: f64,
    /// Logged as `eval_<name>` (TRL's prefix for evaluation metrics).
    pub logged: Vec<(String, f64)>,
}

impl From<f64> for Evaluation {
    fn from(score: f64) -> Self {
        Self {
            score,
            logged: Vec::new(),
        }
    }
}

/// A validation metric evaluated on the module without autodiff.
pub type Evaluator<'a, M> = dyn FnMut(&M) -> Result<Evaluation> + 'a;

/// The result of a run.
pub struct TrainOutcome<M> {
    /// The module at the best evaluation when there were evaluations, else the last one.
    pub model: M,
    /// The module after the last update.
    pub last: M,
    pub state: TrainerState,
    /// Mean training loss of each update, in order (of the whole run when it was resumed).
    pub losses: Vec<f64>,
    /// `(update, metric)` of every evaluation of the whole run.
    pub evaluations: Vec<(usize, f64)>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Wall-clock seconds spent in this process's updates (forward, backward, optimizer step),
    /// without evaluations and checkpoints: TRL's `train_runtime` less its evaluations.
    pub update_seconds: f64,
    /// Updates this process did (fewer than `state.step` when the run was resumed): what
    /// `update_seconds` was spent on.
    pub timed_updates: usize,
}

/// Examples of epoch `epoch`, in the order the loop visits them.
fn epoch_order(examples: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..examples).collect();
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(mixed));
    order
}

/// Trains `model` (on an autodiff device) on `task`. `model_description` is stored in
/// checkpoints and must match on resume (pass the model config as JSON).
pub fn train<M: Module + 'static>(
    model: M,
    task: &(dyn Task<M> + Sync),
    config: &TrainConfig,
    model_description: &str,
    mut evaluate: Option<&mut Evaluator<'_, M>>,
) -> Result<TrainOutcome<M>> {
    config.check()?;
    // Callers may train several clones of one model at once, one per thread.
    let model = with_fresh_graph_nodes(model);
    let examples = task.len();
    if task.is_empty() {
        return Err(ModelError::InvalidConfig(
            "the training set is empty".into(),
        ));
    }
    let per_update = config.batch_size * config.grad_accum;
    let updates_per_epoch = examples.div_ceil(per_update);
    let total = updates_per_epoch * config.epochs;
    let schedule = Schedule {
        peak: config.lr,
        warmup: (config.warmup_ratio * total as f64).round() as usize,
        total,
        floor: config.min_lr_ratio,
    };
    let device = model.devices().first().cloned().ok_or_else(|| {
        ModelError::InvalidConfig("the model has no parameters on any device".into())
    })?;
    let checkpoint_path = config
        .checkpoint_dir
        .as_ref()
        .map(|dir| dir.join("checkpoint.safetensors"));
    let (mut model, mut optimizer, mut state) = match &checkpoint_path {
        Some(path) if config.resume && path.exists() => {
            let restored = checkpoint::load(path, model, &device)?;
            if restored.state.model != model_description || restored.state.seed != config.seed {
                return Err(ModelError::Checkpoint {
                    path: path.clone(),
                    reason: "it was written for another model or seed".into(),
                });
            }
            (restored.model, restored.optimizer, restored.state)
        }
        _ => (
            model,
            AdamW::new(config.adamw.clone())?,
            TrainerState::start(config.seed, model_description),
        ),
    };
    let mut best_model = match (&state.best, &config.checkpoint_dir) {
        (Some(_), Some(dir)) if dir.join("best.safetensors").exists() => {
            Some(checkpoint::load(&dir.join("best.safetensors"), model.clone(), &device)?.model)
        }
        _ => None,
    };
    // Lines the killed process logged after its last checkpoint are dropped: the resumed run
    // logs those updates again, so the file reads as one uninterrupted run.
    let mut log = log::JsonLog::open(config.log.as_deref(), state.step)?;
    let bar = progress_bar(config.progress, total as u64, state.step as u64);
    // A run that early stopping ended stays ended when it is resumed.
    let mut stopped_early = config
        .patience
        .is_some_and(|p| state.evals_without_improvement >= p);
    let mut update_seconds = 0.0;
    let resumed_at = state.step;
    let end = config.stop_after.map_or(total, |s| s.min(total));
    let mut order = (usize::MAX, Vec::new());
    while !stopped_early && state.step < end {
        let epoch = state.step / updates_per_epoch;
        if order.0 != epoch {
            let visit = if config.shuffle {
                epoch_order(examples, config.seed, epoch)
            } else {
                (0..examples).collect()
            };
            order = (epoch, visit);
        }
        let start = (state.step % updates_per_epoch) * per_update;
        let update_examples = &order.1[start..(start + per_update).min(examples)];
        let update_start = std::time::Instant::now();
        let micro_batches: Vec<&[usize]> = update_examples.chunks(config.batch_size).collect();
        let UpdateGradients {
            loss: loss_sum,
            metrics,
            mut gradients,
        } = update_gradients(
            task,
            &model,
            &micro_batches,
            config.micro_batch_threads,
            state.step,
        )?;
        let grad_norm = clip_global_norm(&mut gradients, config.max_grad_norm);
        let lr = schedule.lr(state.step);
        model = optimizer.step(model, &gradients, lr)?;
        update_seconds += update_start.elapsed().as_secs_f64();
        state.step += 1;
        state.losses.push(loss_sum);
        log.update(state.step, epoch, loss_sum, lr, grad_norm, &metrics)?;
        bar.set_position(state.step as u64);
        bar.set_message(format!("loss {loss_sum:.4}"));
        let finished = state.step == total;
        if let Some(evaluate) = evaluate.as_deref_mut()
            && (config
                .eval_every
                .is_some_and(|n| state.step.is_multiple_of(n))
                || finished)
        {
            let evaluation = evaluate(&model.valid())?;
            let metric = evaluation.score;
            state.evaluations.push((state.step, metric));
            log.evaluation(state.step, metric, &evaluation.logged)?;
            if state.best.is_none_or(|(best, _)| metric > best) {
                state.best = Some((metric, state.step));
                state.evals_without_improvement = 0;
                best_model = Some(model.clone());
                if let Some(dir) = &config.checkpoint_dir {
                    checkpoint::save(&dir.join("best.safetensors"), &model, &optimizer, &state)?;
                }
            } else {
                state.evals_without_improvement += 1;
            }
            if config
                .patience
                .is_some_and(|p| state.evals_without_improvement >= p)
            {
                stopped_early = true;
            }
        }
        let due = config
            .checkpoint_every
            .is_some_and(|n| state.step.is_multiple_of(n));
        if let Some(path) = &checkpoint_path
            && (due || finished || stopped_early || state.step == end)
        {
            checkpoint::save(path, &model, &optimizer, &state)?;
        }
        if stopped_early {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(TrainOutcome {
        model: best_model.unwrap_or_else(|| model.clone()),
        last: model,
        losses: state.losses.clone(),
        evaluations: state.evaluations.clone(),
        timed_updates: state.step - resumed_at,
        state,
        stopped_early,
        update_seconds,
    })
}

/// The scorer's view of the examples at `indices`: every response, or only the chosen one.
fn scalar(loss: &Tensor<1>) -> f64 {
    loss.clone()
        .inner()
        .to_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

fn progress_bar(visible: bool, total: u64, position: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {pos}/{len} updates [{elapsed_precise} < {eta_precise}] {per_sec} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(position);
    bar
}
