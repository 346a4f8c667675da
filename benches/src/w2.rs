//! W2 (docs/benchmarks.md): one preference step (policy forward over K+1 responses, S-DPO loss,
//! backward, AdamW update) with B = 8 prompts of 256 tokens, K+1 = 20 responses of 16 tokens,
//! d = 256, 4 layers, 4 heads, ff 1024, vocabulary 8192; the prompt shared across responses or
//! repeated for each (naive). Reference log-probs are cached, as in training.

use burn::tensor::Device;
use prefopt_models::config::{Preset, TransformerConfig};
use prefopt_models::optim::{AdamW, AdamWConfig};
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::{PreferenceTask, ReferenceLogps, update_gradients};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::{Objective, ObjectiveConfig};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The workload's shape.
#[derive(Clone, Copy, Debug)]
pub struct W2Shape {
    pub batch: usize,
    pub prompt_tokens: usize,
    pub responses: usize,
    pub response_tokens: usize,
}

pub const W2: W2Shape = W2Shape {
    batch: 8,
    prompt_tokens: 256,
    responses: 20,
    response_tokens: 16,
};

impl W2Shape {
    /// Tokens through the transformer per step: shared-prefix and naive.
    pub fn tokens(&self) -> (usize, usize) {
        let shared = self.batch * (self.prompt_tokens + self.responses * self.response_tokens);
        let naive = self.batch * self.responses * (self.prompt_tokens + self.response_tokens);
        (shared, naive)
    }
}

/// The W2 model config: `small` at vocabulary 8192.
pub fn w2_config() -> TransformerConfig {
    Preset::Small.config(8192)
}

/// Random prompts and responses (ids ≥ 3, responses end in eos = 2).
pub fn w2_examples(shape: W2Shape, vocab: usize, seed: u64) -> Vec<EncodedExample> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut tokens =
        |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random_range(3..vocab as u32)).collect() };
    (0..shape.batch)
        .map(|_| {
            let mut prompt = tokens(shape.prompt_tokens);
            prompt[0] = 1;
            let responses = (0..shape.responses)
                .map(|_| {
                    let mut r = tokens(shape.response_tokens);
                    r[shape.response_tokens - 1] = 2;
                    r
                })
                .collect();
            EncodedExample::new(prompt, responses)
        })
        .collect()
}

/// Everything one step needs, built once.
pub struct W2Step {
    pub model: Transformer,
    pub examples: Vec<EncodedExample>,
    pub reference: ReferenceLogps,
    pub objective: Box<dyn Objective>,
    pub optimizer: AdamW,
    /// Prompts per micro-batch (the whole batch by default).
    pub micro_batch: usize,
    /// Micro-batches in flight at once (`TrainConfig::micro_batch_threads`).
    pub threads: usize,
}

impl W2Step {
    pub fn new(shape: W2Shape, device: &Device) -> Self {
        let model = Transformer::new(&w2_config(), 0, device).expect("W2 config is valid");
        Self::with_model(shape, model)
    }

    /// The step on any model (a LoRA-adapted one, another architecture).
    pub fn with_model(shape: W2Shape, model: Transformer) -> Self {
        let examples = w2_examples(shape, model.config.vocab_size, 0);
        let micro_batch = examples.len();
        let reference = ReferenceLogps(
            examples
                .iter()
                .map(|e| vec![-40.0; e.responses.len()])
                .collect(),
        );
        Self {
            model,
            examples,
            reference,
            objective: ObjectiveConfig::from_name("sdpo")
                .and_then(|c| c.check())
                .expect("sdpo exists"),
            optimizer: AdamW::new(AdamWConfig::default()).expect("defaults are valid"),
            micro_batch,
            threads: 1,
        }
    }

    /// The same step as micro-batches of `micro_batch` prompts, `threads` of them at once (the
    /// trainer's `batch_size`, `grad_accum` and `micro_batch_threads`): S-DPO is a mean over
    /// prompts, so the loss and gradient are the whole batch's.
    pub fn in_micro_batches(mut self, micro_batch: usize, threads: usize) -> Self {
        self.micro_batch = micro_batch.max(1);
        self.threads = threads.max(1);
        self
    }

    /// One preference step in `mode`; returns the loss.
    pub fn step(&mut self, mode: ScoringMode) -> f64 {
        let task = PreferenceTask {
            mode,
            ..PreferenceTask::new(
                &self.examples,
                self.objective.as_ref(),
                Some(&self.reference),
                0,
            )
        };
        let indices: Vec<usize> = (0..self.examples.len()).collect();
        let micro_batches: Vec<&[usize]> = indices.chunks(self.micro_batch).collect();
        let update =
            update_gradients(&task, &self.model, &micro_batches, self.threads, 0).expect("W2 step");
        let (value, gradients) = (update.loss, update.gradients);
        self.model = self
            .optimizer
            .step(self.model.clone(), &gradients, 1e-5)
            .expect("AdamW step");
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_are_about_nine_times_apart() {
        let (shared, naive) = W2.tokens();
        assert_eq!((shared, naive), (4608, 43520));
        assert!((naive as f64 / shared as f64 - 9.44).abs() < 0.01);
    }

    #[test]
    fn a_reduced_step_runs_in_both_modes_and_agrees() {
        let shape = W2Shape {
            batch: 2,
            prompt_tokens: 12,
            responses: 3,
            response_tokens: 4,
        };
        let device = Device::flex().autodiff();
        let mut shared = W2Step::new(shape, &device);
        let mut naive = W2Step::new(shape, &device);
        let a = shared.step(ScoringMode::SharedPrefix);
        let b = naive.step(ScoringMode::Naive);
        assert!(
            a.is_finite() && (a - b).abs() < 1e-4 * a.abs().max(1.0),
            "{a} vs {b}"
        );
    }

    #[test]
    fn micro_batches_on_threads_give_the_same_step_as_one_after_another() {
        let shape = W2Shape {
            batch: 4,
            prompt_tokens: 12,
            responses: 3,
            response_tokens: 4,
        };
        let device = Device::flex().autodiff();
        let mut whole = W2Step::new(shape, &device);
        let mut sequential = W2Step::new(shape, &device).in_micro_batches(1, 1);
        let mut threaded = W2Step::new(shape, &device).in_micro_batches(1, 3);
        let losses = [
            whole.step(ScoringMode::SharedPrefix),
            sequential.step(ScoringMode::SharedPrefix),
            threaded.step(ScoringMode::SharedPrefix),
        ];
        // One batch of 4 and four micro-batches of 1: the same mean, up to rounding.
        assert!((losses[0] - losses[1]).abs() < 1e-6, "{losses:?}");
        // The threads change nothing, not even the last bit.
        assert_eq!(losses[1].to_bits(), losses[2].to_bits());
        let values = |step: &W2Step| prefopt_models::params::named_values(&step.model);
        assert_eq!(values(&sequential), values(&threaded));
        assert_ne!(
            values(&whole),
            values(&W2Step::new(shape, &device)),
            "the step trained"
        );
    }
}
