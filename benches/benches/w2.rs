//! W2: one preference step, shared-prefix vs naive scoring (see `prefopt_benches::w2`).
//! Throughput is responses scored per second (B × (K+1) = 160 per step).
//!
//! `cargo bench --profile dev --workspace --bench w2 -- --noplot`

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prefopt_benches::w2::{W2, W2Step};
use prefopt_models::scoring::ScoringMode;

fn w2(c: &mut Criterion) {
    prefopt_models::allocator::keep_freed_memory();
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("w2");
    group.sample_size(10);
    group.throughput(Throughput::Elements((W2.batch * W2.responses) as u64));
    for (name, mode) in [
        ("shared_prefix", ScoringMode::SharedPrefix),
        ("naive", ScoringMode::Naive),
    ] {
        let mut step = W2Step::new(W2, &device);
        group.bench_function(name, |b| b.iter(|| step.step(mode)));
    }
    // The same step as 4 micro-batches of 2 prompts computed at once (docs/benchmarks.md).
    let mut step = W2Step::new(W2, &device).in_micro_batches(2, 4);
    group.bench_function("shared_prefix_threads", |b| {
        b.iter(|| step.step(ScoringMode::SharedPrefix))
    });
    group.finish();
}

criterion_group!(benches, w2);
criterion_main!(benches);
