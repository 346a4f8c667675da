//! W4: mean NDCG@10 for 100k users × 100 candidates (one target each, ties against it), and
//! the same metric in vectorized numpy (`peers/w4_numpy.py`, timed inside Python, metric only).
//!
//! `cargo bench --profile dev --workspace --bench w4 -- --noplot`

use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prefopt_eval::ranking::mean_ndcg_at_k;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const USERS: usize = 100_000;
const CANDIDATES: usize = 100;

fn w4(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let scores: Vec<f32> = (0..USERS * CANDIDATES)
        .map(|_| rng.random::<f32>())
        .collect();
    let targets: Vec<u32> = (0..USERS)
        .map(|_| rng.random_range(0..CANDIDATES as u32))
        .collect();
    let mut group = c.benchmark_group("w4");
    group.throughput(Throughput::Elements(USERS as u64));
    group.bench_function("ndcg_at_10", |b| {
        b.iter(|| mean_ndcg_at_k(&scores, CANDIDATES, &targets, 10).expect("valid input"))
    });
    group.finish();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/w4_numpy.py");
    match Command::new("python3")
        .args([script, &USERS.to_string(), &CANDIDATES.to_string(), "10"])
        .output()
    {
        Ok(out) if out.status.success() => {
            println!(
                "w4/numpy (peer): {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        _ => println!("w4/numpy (peer): skipped (python3 with numpy not available)"),
    }
}

criterion_group!(benches, w4);
criterion_main!(benches);
