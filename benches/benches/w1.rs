//! W1: every loss, forward + backward, B = 64, K ∈ {1, 20}, on the flex CPU backend in f32.

use burn::tensor::{DType, Device};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prefopt_benches::W1_LOSSES;
use prefopt_experiments::synthetic::{SyntheticSpec, generate};
use prefopt_objectives::ObjectiveConfig;

fn w1(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("w1");
    group.throughput(Throughput::Elements(64));
    for negatives in [1usize, 20] {
        for name in W1_LOSSES {
            let objective = ObjectiveConfig::from_name(name)
                .and_then(|c| c.check())
                .expect("valid loss");
            let spec = SyntheticSpec {
                batch: 64,
                negatives,
                signal: 2.0,
                seed: 0,
            };
            group.bench_with_input(
                BenchmarkId::new(name.replace('/', "_"), format!("K{negatives}")),
                &spec,
                |b, spec| {
                    b.iter_batched(
                        || generate(spec, &device, DType::F32),
                        |batch| {
                            let output = objective.compute(&batch.input).expect("loss");
                            let grads = output.loss.backward();
                            batch.policy_chosen.grad(&grads).expect("gradient")
                        },
                        criterion::BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, w1);
criterion_main!(benches);
