//! W5: one LoRA S-DPO step at SmolLM2-135M's shape (see `prefopt_benches::w5`), shared-prefix
//! and naive scoring. Throughput is responses scored per second (B × (K+1) = 16 per step).
//!
//! `cargo bench --profile dev --workspace --bench w5 -- --noplot`

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prefopt_benches::w5::{W5, smollm2_135m_config, w5_step};
use prefopt_models::scoring::ScoringMode;

fn w5(c: &mut Criterion) {
    prefopt_models::allocator::keep_freed_memory();
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("w5");
    group.sample_size(10);
    group.throughput(Throughput::Elements((W5.batch * W5.responses) as u64));
    for (name, mode) in [
        ("shared_prefix", ScoringMode::SharedPrefix),
        ("naive", ScoringMode::Naive),
    ] {
        // Built on first use, so a filtered-out mode never allocates its 135M parameters and
        // a run's peak memory is its own mode's.
        let mut step = None;
        group.bench_function(name, |b| {
            let step = step.get_or_insert_with(|| {
                w5_step(&smollm2_135m_config(), W5, &device).expect("W5 model")
            });
            b.iter(|| step.step(mode))
        });
    }
    // The shared-prefix step as 4 micro-batches of 1 prompt computed at once (docs/benchmarks.md).
    let mut step = None;
    group.bench_function("shared_prefix_threads", |b| {
        let step = step.get_or_insert_with(|| {
            w5_step(&smollm2_135m_config(), W5, &device)
                .expect("W5 model")
                .in_micro_batches(1, 4)
        });
        b.iter(|| step.step(ScoringMode::SharedPrefix))
    });
    group.finish();
}

criterion_group!(benches, w5);
criterion_main!(benches);
