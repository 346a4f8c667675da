//! A seeded generator of preference batches with known structure: the policy has moved towards
//! the chosen responses (chosen log-ratios are positive on average, rejected ones negative), so
//! every sensible loss should report a reward accuracy above one half.

use burn::tensor::{DType, Device, Tensor, TensorData};
use prefopt_objectives::{KlLogps, PreferenceLogps, PromptLogps};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Sizes and the strength of the preference signal.
#[derive(Clone, Debug)]
pub struct SyntheticSpec {
    /// Prompts per batch.
    pub batch: usize,
    /// Rejected responses per prompt.
    pub negatives: usize,
    /// Mean shift of the chosen log-ratio over the rejected ones, in nats.
    pub signal: f64,
    /// Seed of the generator.
    pub seed: u64,
}

/// A generated batch and the leaf tensors its gradients flow to.
pub struct SyntheticBatch {
    /// The batch, with every optional input a loss of the crate may ask for.
    pub input: PreferenceLogps,
    /// `[B]` policy chosen log-probs (a leaf requiring gradients when autodiff is on).
    pub policy_chosen: Tensor<1>,
    /// `[B, K]` policy rejected log-probs (a leaf).
    pub policy_rejected: Tensor<2>,
}

fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

/// Generates a batch on `device` in `dtype`.
pub fn generate(spec: &SyntheticSpec, device: &Device, dtype: DType) -> SyntheticBatch {
    let SyntheticSpec {
        batch,
        negatives,
        signal,
        seed,
    } = *spec;
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 1.0).expect("valid normal");
    let lengths = |rng: &mut StdRng, n: usize| -> Vec<f64> {
        (0..n).map(|_| rng.random_range(4..40) as f64).collect()
    };
    let chosen_lengths = lengths(&mut rng, batch);
    let rejected_lengths = lengths(&mut rng, batch * negatives);
    // Sequence log-probs: about −1 nat per token under the reference.
    let reference = |rng: &mut StdRng, lens: &[f64]| -> Vec<f64> {
        lens.iter()
            .map(|l| -l * (0.8 + 0.4 * rng.random::<f64>()))
            .collect()
    };
    let ref_chosen = reference(&mut rng, &chosen_lengths);
    let ref_rejected = reference(&mut rng, &rejected_lengths);
    let mut shifted = |base: &[f64], shift: f64| -> Vec<f64> {
        base.iter()
            .map(|r| (r + shift + noise.sample(&mut rng)).min(-1e-3))
            .collect()
    };
    let policy_chosen = shifted(&ref_chosen, signal / 2.0);
    let policy_rejected = shifted(&ref_rejected, -signal / 2.0);
    let kl_policy: Vec<f64> = policy_chosen.iter().rev().map(|p| p - 1.0).collect();
    let kl_reference: Vec<f64> = ref_chosen.iter().rev().copied().collect();
    let smoothing: Vec<f64> = (0..batch * negatives)
        .map(|_| 0.3 * rng.random::<f64>())
        .collect();
    let embeddings: Vec<f64> = (0..batch * 16).map(|_| noise.sample(&mut rng)).collect();
    let user_ids: Vec<u64> = (0..batch)
        .map(|i| {
            if i % 2 == 0 {
                0
            } else {
                rng.random_range(1..8)
            }
        })
        .collect();
    let prompt_counts: Vec<f64> = (0..batch).map(|_| rng.random_range(8..64) as f64).collect();
    let prompt_sums: Vec<f64> = prompt_counts.iter().map(|c| -1.5 * c).collect();

    let policy_chosen = tensor(policy_chosen, [batch], device, dtype).require_grad();
    let policy_rejected = tensor(policy_rejected, [batch, negatives], device, dtype).require_grad();
    let input = PreferenceLogps::new(policy_chosen.clone(), policy_rejected.clone())
        .with_reference(
            tensor(ref_chosen, [batch], device, dtype),
            tensor(ref_rejected, [batch, negatives], device, dtype),
        )
        .with_lengths(
            tensor(chosen_lengths, [batch], device, dtype),
            tensor(rejected_lengths, [batch, negatives], device, dtype),
        )
        .with_smoothing(tensor(smoothing, [batch, negatives], device, dtype))
        .with_prompt_embeddings(tensor(embeddings, [batch, 16], device, dtype))
        .with_user_ids(user_ids)
        .with_chosen_prompt(PromptLogps {
            sum: tensor(prompt_sums, [batch], device, dtype),
            count: tensor(prompt_counts, [batch], device, dtype),
        })
        .with_kl(KlLogps {
            policy: tensor(kl_policy, [batch], device, dtype),
            reference: tensor(kl_reference, [batch], device, dtype),
        });
    SyntheticBatch {
        input,
        policy_chosen,
        policy_rejected,
    }
}
