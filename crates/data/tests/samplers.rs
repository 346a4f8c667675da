//! Each sampler's distribution (chi-square goodness of fit, fixed seeds, p > 1e-6 so a failure
//! means a real discrepancy) and its exclusions, checked exactly.

use std::collections::{BTreeMap, HashSet};

use prefopt_data::samplers::{
    DebiasingScope, HallucinationSampler, HardNegativeSampler, InCandidateSampler, NegativeSampler,
    Pool, PopularityDebiasingSampler, PopularitySampler, SampleRequest, SemanticNeighbourSampler,
    UniformSampler, example_rng, popularity_weights,
};
use prefopt_data::{DataError, ItemId};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Pearson's chi-square p-value of `observed` against probabilities `expected` (sum 1).
fn chi_square_p(observed: &BTreeMap<ItemId, u64>, expected: &BTreeMap<ItemId, f64>) -> f64 {
    let n: u64 = observed.values().sum();
    for item in observed.keys() {
        assert!(
            expected.contains_key(item),
            "item {item} drawn but not eligible"
        );
    }
    let statistic: f64 = expected
        .iter()
        .map(|(item, p)| {
            let e = p * n as f64;
            let o = *observed.get(item).unwrap_or(&0) as f64;
            (o - e).powi(2) / e
        })
        .sum();
    let df = (expected.len() - 1) as f64;
    1.0 - ChiSquared::new(df).unwrap().cdf(statistic)
}

fn normalise(weights: impl IntoIterator<Item = (ItemId, f64)>) -> BTreeMap<ItemId, f64> {
    let map: BTreeMap<ItemId, f64> = weights.into_iter().filter(|(_, w)| *w > 0.0).collect();
    let total: f64 = map.values().sum();
    map.into_iter().map(|(k, w)| (k, w / total)).collect()
}

/// Draws one item `n` times and counts; checks every draw against the request's exclusions.
fn single_draws(
    sampler: &dyn NegativeSampler,
    request: &SampleRequest<'_>,
    n: u64,
) -> BTreeMap<ItemId, u64> {
    let mut counts = BTreeMap::new();
    let mut rng = example_rng(42, 0);
    for _ in 0..n {
        let drawn = sampler.sample(request, &mut rng).unwrap();
        assert_eq!(drawn.len(), request.count);
        for &item in &drawn {
            assert_ne!(
                item,
                request.positive,
                "{}: drew the positive",
                sampler.name()
            );
            assert!(
                !request.history.contains(&item),
                "{}: drew a history item",
                sampler.name()
            );
        }
        let distinct: HashSet<_> = drawn.iter().collect();
        assert_eq!(
            distinct.len(),
            drawn.len(),
            "{}: repeated an item",
            sampler.name()
        );
        *counts.entry(drawn[0]).or_default() += 1;
    }
    counts
}

const P_MIN: f64 = 1e-6;

#[test]
fn uniform_is_uniform_over_the_eligible_catalog() {
    let sampler = UniformSampler::new(40);
    let history = [0, 1, 2, 10, 39];
    let request = SampleRequest::new(3, &history, 1);
    let counts = single_draws(&sampler, &request, 40_000);
    let expected = normalise(
        (0..40)
            .filter(|i| *i != 3 && !history.contains(i))
            .map(|i| (i, 1.0)),
    );
    let p = chi_square_p(&counts, &expected);
    assert!(p > P_MIN, "p = {p}");
    // Several at once, and the dense-exclusion path (history covers most of the catalog).
    let history: Vec<ItemId> = (0..35).collect();
    let request = SampleRequest::new(37, &history, 4);
    let counts = single_draws(&sampler, &request, 20_000);
    let expected = normalise([35, 36, 38, 39].map(|i| (i, 1.0)));
    assert!(chi_square_p(&counts, &expected) > P_MIN);
    let request = SampleRequest::new(37, &history, 5);
    assert!(matches!(
        sampler.sample(&request, &mut example_rng(0, 0)),
        Err(DataError::NotEnoughItems {
            requested: 5,
            available: 4,
            ..
        })
    ));
}

#[test]
fn popularity_alias_draws_proportional_to_weight_without_replacement() {
    let counts: Vec<u64> = (0..30).map(|i| (i * i) % 37 + 1).collect();
    let weights = popularity_weights(&counts, 0.8, 0.0).unwrap();
    let sampler = PopularitySampler::new(weights.clone()).unwrap();
    let history = [4, 5, 6];
    let request = SampleRequest::new(7, &history, 1);
    let observed = single_draws(&sampler, &request, 60_000);
    let expected = normalise(
        (0..30)
            .filter(|i| ![4, 5, 6, 7].contains(i))
            .map(|i| (i, weights[i as usize])),
    );
    let p = chi_square_p(&observed, &expected);
    assert!(p > P_MIN, "p = {p}");

    // Ordered pairs follow successive sampling: P(i, j) = w_i / W · w_j / (W − w_i).
    let small = PopularitySampler::new(vec![1.0, 2.0, 3.0, 4.0, 0.0]).unwrap();
    let request = SampleRequest::new(4, &[], 2);
    let mut rng = example_rng(7, 0);
    let mut pairs = BTreeMap::new();
    for _ in 0..60_000 {
        let drawn = small.sample(&request, &mut rng).unwrap();
        *pairs.entry(drawn[0] * 10 + drawn[1]).or_default() += 1u64;
    }
    let w = [1.0, 2.0, 3.0, 4.0];
    let expected = normalise((0..4).flat_map(|i| {
        (0..4).filter(move |&j| j != i).map(move |j| {
            (
                i * 10 + j,
                w[i as usize] / 10.0 * w[j as usize] / (10.0 - w[i as usize]),
            )
        })
    }));
    assert!(chi_square_p(&pairs, &expected) > P_MIN);
}

#[test]
fn popularity_fallback_keeps_the_distribution_when_excluded_items_hold_the_mass() {
    // Item 0 holds ~99.9% of the mass and is excluded: rejection sampling gives up quickly and
    // the exact path must reproduce ∝ weight over the rest.
    let mut weights = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    weights[0] = 20_000.0;
    let sampler = PopularitySampler::new(weights.clone()).unwrap();
    let history = [0];
    let request = SampleRequest::new(1, &history, 1);
    let observed = single_draws(&sampler, &request, 30_000);
    let expected = normalise([(2, 3.0), (3, 4.0), (4, 5.0)]);
    assert!(chi_square_p(&observed, &expected) > P_MIN);
    let request = SampleRequest::new(1, &history, 4);
    assert!(matches!(
        sampler.sample(&request, &mut example_rng(0, 0)),
        Err(DataError::NotEnoughItems { .. })
    ));
    assert!(PopularitySampler::new(vec![1.0, f64::NAN]).is_err());
    assert!(PopularitySampler::new(vec![0.0, 0.0]).is_err());
}

#[test]
fn popularity_debiasing_draws_popular_candidates() {
    let counts: Vec<u64> = (0..50).map(|i| 50 - i).collect();
    let weights = popularity_weights(&counts, 1.0, 1.0).unwrap();
    let sampler =
        PopularityDebiasingSampler::new(weights.clone(), DebiasingScope::Candidates).unwrap();
    let candidates = [3, 8, 13, 21, 34, 40, 44];
    let history = [21];
    let request = SampleRequest::new(8, &history, 1).with_candidates(&candidates);
    let observed = single_draws(&sampler, &request, 40_000);
    let expected = normalise([3, 13, 34, 40, 44].map(|i| (i, weights[i as usize])));
    assert!(chi_square_p(&observed, &expected) > P_MIN);
    // Catalog scope: every eligible item.
    let catalog =
        PopularityDebiasingSampler::new(weights.clone(), DebiasingScope::Catalog).unwrap();
    let request = SampleRequest::new(0, &[], 1);
    let observed = single_draws(&catalog, &request, 40_000);
    let expected = normalise((1..50).map(|i| (i, weights[i as usize])));
    assert!(chi_square_p(&observed, &expected) > P_MIN);
    let unknown = [3, 99];
    let request = SampleRequest::new(8, &[], 1).with_candidates(&unknown);
    assert!(matches!(
        sampler.sample(&request, &mut example_rng(0, 0)),
        Err(DataError::UnknownItem { item: 99, .. })
    ));
}

#[test]
fn in_candidate_is_uniform_over_the_other_candidates() {
    let candidates = [5, 9, 2, 7, 11, 5];
    let history = [7];
    let request = SampleRequest::new(9, &history, 1).with_candidates(&candidates);
    let observed = single_draws(&InCandidateSampler, &request, 30_000);
    let expected = normalise([5, 2, 11].map(|i| (i, 1.0)));
    assert!(chi_square_p(&observed, &expected) > P_MIN);
    let request = SampleRequest::new(9, &history, 4).with_candidates(&candidates);
    assert!(matches!(
        InCandidateSampler.sample(&request, &mut example_rng(0, 0)),
        Err(DataError::NotEnoughItems { available: 3, .. })
    ));
}

fn score_by_id(_: &SampleRequest<'_>, items: &[ItemId]) -> Vec<f64> {
    items
        .iter()
        .map(|&i| ((i * 37) % 11) as f64 * 0.3)
        .collect()
}

#[test]
fn hard_negatives_are_the_top_scored_or_softmax_samples() {
    let top = HardNegativeSampler::new(score_by_id, Pool::Catalog { num_items: 20 });
    let history = [8];
    let request = SampleRequest::new(3, &history, 3);
    let drawn = top.sample(&request, &mut example_rng(1, 1)).unwrap();
    // Brute force: the three highest scores among eligible items (scores distinct per residue).
    let mut eligible: Vec<ItemId> = (0..20).filter(|i| *i != 3 && *i != 8).collect();
    eligible.sort_by(|a, b| {
        score_by_id(&request, &[*b])[0].total_cmp(&score_by_id(&request, &[*a])[0])
    });
    let best = score_by_id(&request, &eligible[..3]);
    assert_eq!(score_by_id(&request, &drawn), best);

    let candidates = [1, 2, 4, 5, 6, 3];
    let soft = HardNegativeSampler::new(score_by_id, Pool::Candidates)
        .with_temperature(0.7)
        .unwrap();
    let request = SampleRequest::new(3, &[], 1).with_candidates(&candidates);
    let observed = single_draws(&soft, &request, 40_000);
    let expected =
        normalise([1, 2, 4, 5, 6].map(|i| (i, (score_by_id(&request, &[i])[0] / 0.7).exp())));
    assert!(chi_square_p(&observed, &expected) > P_MIN);

    let wrong = HardNegativeSampler::new(
        |_: &SampleRequest<'_>, _: &[ItemId]| vec![1.0],
        Pool::Candidates,
    );
    assert!(wrong.sample(&request, &mut example_rng(0, 0)).is_err());
    assert!(
        HardNegativeSampler::new(score_by_id, Pool::Candidates)
            .with_temperature(0.0)
            .is_err()
    );
}

#[test]
fn hard_ties_are_broken_at_random() {
    let flat = HardNegativeSampler::new(
        |_: &SampleRequest<'_>, items: &[ItemId]| vec![1.0; items.len()],
        Pool::Candidates,
    );
    let candidates = [10, 11, 12, 13];
    let request = SampleRequest::new(13, &[], 1).with_candidates(&candidates);
    let observed = single_draws(&flat, &request, 30_000);
    assert!(chi_square_p(&observed, &normalise([10, 11, 12].map(|i| (i, 1.0)))) > P_MIN);
}

#[test]
fn semantic_neighbours_are_the_exact_cosine_top_k() {
    let (n, d) = (300, 6);
    let mut rng = example_rng(3, 3);
    let embeddings: Vec<f32> = (0..n * d)
        .map(|_| rand::RngExt::random::<f32>(&mut rng) - 0.5)
        .collect();
    // A small cache forces the exact fallback when exclusions eat the cached neighbours.
    let sampler = SemanticNeighbourSampler::new(&embeddings, d)
        .unwrap()
        .with_cache_width(4);
    let cosine = |a: usize, b: usize| {
        let (x, y) = (
            &embeddings[a * d..(a + 1) * d],
            &embeddings[b * d..(b + 1) * d],
        );
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
        dot / (norm(x) * norm(y))
    };
    for positive in [0usize, 17, 299] {
        for history_len in [0usize, 3, 10] {
            let mut order: Vec<usize> = (0..n).filter(|&i| i != positive).collect();
            order.sort_by(|&a, &b| cosine(positive, b).total_cmp(&cosine(positive, a)));
            let history: Vec<ItemId> = order[..history_len].iter().map(|&i| i as ItemId).collect();
            let request = SampleRequest::new(positive as ItemId, &history, 5);
            let drawn = sampler.sample(&request, &mut example_rng(0, 0)).unwrap();
            let want: Vec<ItemId> = order[history_len..history_len + 5]
                .iter()
                .map(|&i| i as ItemId)
                .collect();
            assert_eq!(drawn, want, "positive {positive}, history {history_len}");
        }
    }
    assert!(SemanticNeighbourSampler::new(&[0.0, 0.0, 1.0, 0.0], 2).is_err());
    assert!(SemanticNeighbourSampler::new(&[1.0, 0.0, 1.0], 2).is_err());
}

#[test]
fn hallucinations_are_generated_items_outside_the_candidates() {
    let titles: Vec<String> = (0..10).map(|i| format!("Title {i}")).collect();
    let generate = |_: &SampleRequest<'_>| {
        vec![
            "Title 1".to_string(),   // a candidate: valid answer, not a hallucination
            " Title 7 ".to_string(), // outside the candidates
            "Title 8".to_string(),   // outside the candidates
            "Title 9".to_string(),   // in the history: excluded
            "Title 8".to_string(),   // repeated
            "Nonexistent Film".to_string(),
        ]
    };
    let sampler = HallucinationSampler::new(&titles, generate);
    let candidates = [0, 1, 2, 3];
    let history = [9];
    let request = SampleRequest::new(0, &history, 1).with_candidates(&candidates);
    let found = sampler.hallucinations(&request);
    let items: Vec<Option<ItemId>> = found.iter().map(|h| h.item).collect();
    assert_eq!(items, vec![Some(7), Some(8), None]);
    assert_eq!(found[2].text, "Nonexistent Film");
    let observed = single_draws(&sampler, &request, 20_000);
    assert!(chi_square_p(&observed, &normalise([(7, 1.0), (8, 1.0)])) > P_MIN);
    let request = SampleRequest::new(0, &history, 3).with_candidates(&candidates);
    assert!(sampler.sample(&request, &mut example_rng(0, 0)).is_err());
}

#[test]
fn example_streams_are_reproducible_and_independent() {
    let sampler = UniformSampler::new(1000);
    let request = SampleRequest::new(0, &[], 10);
    let a = sampler.sample(&request, &mut example_rng(5, 17)).unwrap();
    let b = sampler.sample(&request, &mut example_rng(5, 17)).unwrap();
    let c = sampler.sample(&request, &mut example_rng(5, 18)).unwrap();
    let d = sampler.sample(&request, &mut example_rng(6, 17)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, d);
}

#[test]
fn semantic_cluster_index_is_exact() {
    let (n, d) = (3000, 16);
    let mut rng = example_rng(8, 8);
    let embeddings: Vec<f32> = (0..n * d)
        .map(|_| rand::RngExt::random::<f32>(&mut rng) - 0.5)
        .collect();
    let brute = SemanticNeighbourSampler::new(&embeddings, d)
        .unwrap()
        .with_index_threshold(usize::MAX)
        .with_cache_width(1);
    let indexed = SemanticNeighbourSampler::new(&embeddings, d)
        .unwrap()
        .with_index_threshold(0)
        .with_cache_width(1);
    for positive in (0..n as ItemId).step_by(97) {
        let history: Vec<ItemId> = (0..8)
            .map(|i| (positive * 31 + i * 7) % n as ItemId)
            .filter(|&h| h != positive)
            .collect();
        for count in [1, 10, 40] {
            let request = SampleRequest::new(positive, &history, count);
            let want = brute.sample(&request, &mut example_rng(0, 0)).unwrap();
            let got = indexed.sample(&request, &mut example_rng(0, 0)).unwrap();
            assert_eq!(got, want, "positive {positive}, count {count}");
        }
    }
}
