//! The pretrained families at the `small` size on flex (see `prefopt_benches::pretrained`):
//! forward throughput (tokens/s, B = 8 × 128 tokens), one LoRA preference step (S-DPO, r = 8 on
//! PEFT's default targets, B = 4 prompts of 128 tokens, K + 1 = 4 responses of 16), and greedy
//! generation of 32 tokens after a 64-token prompt with and without the KV cache (tokens/s).
//!
//! `cargo bench --profile dev --workspace --bench pretrained -- --noplot`

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prefopt_benches::pretrained::small_architectures;
use prefopt_benches::w2::{W2Shape, W2Step};
use prefopt_models::generate::{GenerateConfig, generate};
use prefopt_models::lora::{self, LoraConfig};
use prefopt_models::scoring::ScoringMode;
use prefopt_models::transformer::{PackedBatch, Transformer};

const ROWS: usize = 8;
const LEN: usize = 128;

fn causal_batch() -> PackedBatch {
    let mut packed = PackedBatch::new(ROWS, LEN, 0, 0);
    let slots: Vec<usize> = (0..LEN).collect();
    for row in 0..ROWS {
        for slot in 0..LEN {
            packed.put(row, slot, (3 + (row * 131 + slot * 17) % 8000) as u32, slot);
        }
        packed.causal(row, &[], &slots);
    }
    packed
}

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("pretrained_forward");
    group.sample_size(10);
    group.throughput(Throughput::Elements((ROWS * LEN) as u64));
    let batch = causal_batch();
    for (name, config) in small_architectures() {
        let model = Transformer::new(&config, 0, &device).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let hidden = model.hidden(&batch, None).unwrap();
                let [rows, len, d] = hidden.dims();
                let logits = model.logits(hidden.reshape([rows * len, d]));
                logits.into_data()
            })
        });
    }
    group.finish();
}

fn lora_step(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let shape = W2Shape {
        batch: 4,
        prompt_tokens: 128,
        responses: 4,
        response_tokens: 16,
    };
    let mut group = c.benchmark_group("pretrained_lora_step");
    group.sample_size(10);
    group.throughput(Throughput::Elements((shape.batch * shape.responses) as u64));
    for (name, config) in small_architectures() {
        let base = Transformer::new(&config, 0, &device).unwrap();
        let lora = LoraConfig {
            rank: 8,
            alpha: 16.0,
            ..LoraConfig::default()
        };
        let mut step = W2Step::with_model(shape, lora::attach(base, &lora).unwrap());
        group.bench_function(name, |b| b.iter(|| step.step(ScoringMode::SharedPrefix)));
    }
    group.finish();
}

fn generation(c: &mut Criterion) {
    let device = Device::flex();
    let (name, config) = small_architectures().remove(0);
    let model = Transformer::new(&config, 0, &device).unwrap();
    let prompt: Vec<u32> = (0..64).map(|i| 3 + (i * 37) % 8000).collect();
    let mut group = c.benchmark_group(format!("pretrained_generation_{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(32));
    for (label, kv_cache) in [("kv_cache", true), ("no_cache", false)] {
        let config = GenerateConfig {
            beams: 1,
            max_tokens: 32,
            kv_cache,
        };
        // No token ends the answer (eos outside the vocabulary's reach): always 32 steps.
        group.bench_function(label, |b| {
            b.iter(|| generate(&model, &prompt, &config, None, u32::MAX, 0).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, forward, lora_step, generation);
criterion_main!(benches);
