//! W3: interaction log (Parquet, `PREFOPT_W3_INTERACTIONS` rows, default 1M) → preference Parquet
//! with 19 popularity negatives per row, then read back; the same job in Polars (subprocess, so
//! its time includes Python's start-up and import of Polars, about 0.3 s); and negative-sampler
//! throughput in draws per second.
//!
//! `cargo bench -p prefopt-benches --bench w3 -- --noplot`

use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prefopt_benches::w3::{W3Fixture, convert_fixture, read_back, write_fixture};
use prefopt_data::ItemId;
use prefopt_data::samplers::{
    DebiasingScope, HallucinationSampler, HardNegativeSampler, InCandidateSampler, NegativeSampler,
    Pool, PopularityDebiasingSampler, PopularitySampler, SampleRequest, SemanticNeighbourSampler,
    UniformSampler, example_rng, popularity_weights,
};

fn scratch() -> PathBuf {
    let folder = std::env::temp_dir().join(format!("prefopt-w3-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder
}

fn peer_available() -> bool {
    Command::new("python3")
        .args(["-c", "import polars, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_peer(fixture: &W3Fixture, output: &std::path::Path) -> u64 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/w3_polars.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&fixture.interactions)
        .arg(&fixture.items)
        .arg(output)
        .arg("0")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("row count")
}

fn conversion(c: &mut Criterion) {
    let rows: usize = std::env::var("PREFOPT_W3_INTERACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let folder = scratch();
    let fixture = write_fixture(&folder, rows, 0).expect("fixture");
    let output = folder.join("prefopt");
    let summary = convert_fixture(&fixture, &output, 0).expect("conversion");
    let written: u64 = summary.rows.values().sum();
    eprintln!(
        "W3 fixture: {} interactions, {} users, {} items -> {written} preference rows",
        fixture.rows, summary.users, summary.items
    );

    let mut group = c.benchmark_group("w3");
    group.sample_size(10);
    group.throughput(Throughput::Elements(fixture.rows as u64));
    group.bench_function("prefopt/convert", |b| {
        b.iter(|| convert_fixture(&fixture, &output, 0).expect("conversion"))
    });
    group.bench_function("prefopt/read_back", |b| {
        b.iter(|| assert_eq!(read_back(&output).expect("read"), written))
    });
    group.bench_function("prefopt/convert_and_read", |b| {
        b.iter(|| {
            convert_fixture(&fixture, &output, 0).expect("conversion");
            read_back(&output).expect("read")
        })
    });
    if peer_available() {
        let peer_output = folder.join("polars");
        std::fs::create_dir_all(&peer_output).expect("peer folder");
        let peer_rows = run_peer(&fixture, &peer_output);
        assert_eq!(
            peer_rows, written,
            "the peer writes the same number of rows"
        );
        group.bench_function("polars/convert_and_read", |b| {
            b.iter(|| run_peer(&fixture, &peer_output))
        });
    } else {
        eprintln!("W3 peer skipped: python3 with polars and numpy is not available");
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&folder);
}

fn samplers(c: &mut Criterion) {
    const ITEMS: usize = 20_000;
    const DRAWS: usize = 19;
    let counts: Vec<u64> = (0..ITEMS as u64).map(|i| 1 + 100_000 / (i + 1)).collect();
    let weights = popularity_weights(&counts, 1.0, 1.0).expect("weights");
    let history: Vec<ItemId> = (0..10).map(|i| i * 97).collect();
    let candidates: Vec<ItemId> = (0..20).map(|i| 5 + i * 31).collect();
    let mut rng = example_rng(0, 0);
    let embeddings: Vec<f32> = (0..ITEMS * 32)
        .map(|_| rand::RngExt::random::<f32>(&mut rng) - 0.5)
        .collect();
    let titles: Vec<String> = (0..ITEMS).map(|i| format!("Item {i}")).collect();
    let score = |_: &SampleRequest<'_>, items: &[ItemId]| -> Vec<f64> {
        items.iter().map(|&i| ((i * 7919) % 1000) as f64).collect()
    };
    let generate = |_: &SampleRequest<'_>| -> Vec<String> {
        (0..30).map(|i| format!("Item {}", 1000 + i * 13)).collect()
    };
    let samplers: Vec<(Box<dyn NegativeSampler>, usize)> = vec![
        (Box::new(UniformSampler::new(ITEMS)), DRAWS),
        (
            Box::new(PopularitySampler::new(weights.clone()).expect("alias")),
            DRAWS,
        ),
        (
            Box::new(
                PopularityDebiasingSampler::new(weights.clone(), DebiasingScope::Candidates)
                    .expect("weights"),
            ),
            DRAWS,
        ),
        (Box::new(InCandidateSampler), DRAWS),
        (
            Box::new(HardNegativeSampler::new(score, Pool::Candidates)),
            DRAWS,
        ),
        (
            Box::new(SemanticNeighbourSampler::new(&embeddings, 32).expect("embeddings")),
            DRAWS,
        ),
        (
            Box::new(HallucinationSampler::new(&titles, generate)),
            DRAWS,
        ),
    ];
    let mut group = c.benchmark_group("w3_samplers");
    for (sampler, count) in &samplers {
        let request = SampleRequest::new(3, &history, *count).with_candidates(&candidates);
        group.throughput(Throughput::Elements(*count as u64));
        let mut rng = example_rng(1, 1);
        group.bench_function(sampler.name(), |b| {
            b.iter(|| sampler.sample(&request, &mut rng).expect("draw"))
        });
    }
    group.finish();
}

criterion_group!(w3, conversion, samplers);
criterion_main!(w3);
