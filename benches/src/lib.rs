//! # prefopt-benches
//!
//! Criterion benchmarks, one bench target per workload of docs/benchmarks.md:
//! `w1` (every loss, forward + backward, B = 64, K ∈ {1, 20}, flex); `w3` (interaction log →
//! preference Parquet with 19 popularity negatives, read back, beside a Polars peer; sampler
//! throughput); `w2` (one preference step, shared-prefix vs naive scoring); `w4` (NDCG@10 over
//! 100k users × 100 candidates, beside numpy); `pretrained` (the Llama, Qwen2 and GPT-2 blocks at
//! the `small` size: forward tokens/s, one LoRA preference step, generation with and without
//! the KV cache); `w5` (one LoRA S-DPO step at SmolLM2-135M's shape, beside `transformers` +
//! `peft`). Run one with
//! `cargo bench --profile dev --workspace --bench w1` (see `docs/benchmarks.md`).

pub mod pretrained;
pub mod w2;
pub mod w3;
pub mod w5;

/// The losses W1 times: every objective of prefopt-objectives under its canonical name.
pub use prefopt_objectives::LOSS_NAMES as W1_LOSSES;

#[cfg(test)]
mod tests {
    use super::W1_LOSSES;
    use prefopt_objectives::ObjectiveConfig;

    #[test]
    fn every_w1_loss_name_parses_and_validates() {
        for name in W1_LOSSES {
            ObjectiveConfig::from_name(name)
                .and_then(|c| c.check())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
