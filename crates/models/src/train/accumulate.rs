//! The gradient of one update: its micro-batches' losses and gradients, summed with the weight
//! each micro-batch has in the update, computed on one thread or several at once.
//!
//! Why threads per micro-batch: burn flex runs its matrix products on every core but its
//! elementwise and reduction kernels (softmax pieces, activations, norms, the autodiff graph's
//! bookkeeping) on the calling thread only, and those are about half of a transformer step's
//! time on a CPU. Micro-batches are independent until their gradients are added, so running a
//! few of them at once keeps every core busy in those phases too (docs/benchmarks.md, W2 and
//! W5).
//!
//! They run as tasks of rayon's global pool, the pool burn flex's matrix products run on: a
//! worker waiting for the pieces of its product takes up another micro-batch (or another
//! product's pieces) instead of sleeping, which measured 12–15 % faster than one OS thread per
//! micro-batch beside the pool. This cannot deadlock on burn-autodiff's locks: the only lock
//! held across a product is the micro-batch's own graph (during its backward pass), and a
//! micro-batch taken up meanwhile locks only its own graph (fresh nodes, below) and the
//! graph locator, which no product holds.
//!
//! The result does not depend on the thread count: every micro-batch is computed the same way
//! whichever thread runs it, and the gradients and metrics are added in micro-batch order,
//! so one update with 1 thread and with 4 gives the same bits.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::Tensor;
use rayon::iter::{IntoParallelIterator, ParallelIterator};

use super::{Task, scalar};
use crate::error::{ModelError, Result};
use crate::params::{gradients_by_path, with_fresh_graph_nodes};

/// What one update's micro-batches add up to.
#[derive(Debug)]
pub struct UpdateGradients {
    /// Mean loss over the update's examples (each micro-batch weighted by its size).
    pub loss: f64,
    /// The tasks' metrics, weighted the same way.
    pub metrics: BTreeMap<String, f64>,
    /// Sum of the weighted micro-batch gradients by parameter path; parameters without a
    /// gradient are absent.
    pub gradients: BTreeMap<String, Tensor<1>>,
}

/// One micro-batch's weighted loss value, metrics and gradients.
struct MicroBatch {
    value: f64,
    metrics: Vec<(String, f64)>,
    gradients: Option<BTreeMap<String, Tensor<1>>>,
}

/// Loss and gradients of `micro_batches` (example indices of `task`), each weighted by its share
/// of the update's examples, `threads` micro-batches in flight at once (1: one after another
/// on the calling thread). `update` numbers the update in a non-finite-loss error.
///
/// With more than one thread each micro-batch runs on a clone of `model` with its own autodiff
/// graph nodes (the clones share the parameters' storage, not their graph), so the graphs of
/// concurrent micro-batches never merge and their backward passes do not wait on each other.
pub fn update_gradients<M: Module + 'static>(
    task: &(dyn Task<M> + Sync),
    model: &M,
    micro_batches: &[&[usize]],
    threads: usize,
    update: usize,
) -> Result<UpdateGradients> {
    let examples: usize = micro_batches.iter().map(|m| m.len()).sum();
    let mut total = UpdateGradients {
        loss: 0.0,
        metrics: BTreeMap::new(),
        gradients: BTreeMap::new(),
    };
    let threads = threads.max(1);
    for wave in micro_batches.chunks(threads) {
        let results: Vec<Result<MicroBatch>> = if threads == 1 {
            wave.iter()
                .map(|micro| micro_batch(task, model, micro, examples))
                .collect()
        } else {
            // Each micro-batch gets its own clone (made here: `M` need not be `Sync`); rayon's
            // indexed collect keeps micro-batch order whichever worker ran which.
            let jobs: Vec<(&&[usize], M)> = wave.iter().map(|m| (m, model.clone())).collect();
            jobs.into_par_iter()
                .map(|(micro, local)| {
                    micro_batch(task, &with_fresh_graph_nodes(local), micro, examples)
                })
                .collect()
        };
        for result in results {
            let micro = result?;
            if !micro.value.is_finite() {
                return Err(ModelError::NonFiniteLoss {
                    update,
                    value: micro.value,
                });
            }
            total.loss += micro.value;
            for (name, value) in micro.metrics {
                *total.metrics.entry(name).or_default() += value;
            }
            if let Some(gradients) = micro.gradients {
                add_gradients(&mut total.gradients, gradients);
            }
        }
    }
    Ok(total)
}

fn micro_batch<M: Module + 'static>(
    task: &(dyn Task<M> + Sync),
    model: &M,
    micro: &[usize],
    examples: usize,
) -> Result<MicroBatch> {
    let share = micro.len() as f64 / examples as f64;
    let (loss, metrics) = task.loss(model, micro)?;
    let value = scalar(&loss);
    // A constant loss (an objective that skips the batch, e.g. unpaired RPO without one of the
    // two sides) has no graph: it counts in the loss but adds no gradient. A non-finite loss is
    // reported by the caller before anything is added, so its backward pass is skipped.
    let gradients = (value.is_finite() && loss.is_tracked())
        .then(|| gradients_by_path(model, &loss.mul_scalar(share).backward()));
    Ok(MicroBatch {
        value: share * value,
        metrics: metrics
            .into_iter()
            .map(|(name, v)| (name, share * v))
            .collect(),
        gradients,
    })
}

fn add_gradients(total: &mut BTreeMap<String, Tensor<1>>, more: BTreeMap<String, Tensor<1>>) {
    for (path, grad) in more {
        match total.remove(&path) {
            Some(previous) => total.insert(path, previous + grad),
            None => total.insert(path, grad),
        };
    }
}
