//! Building the preference rows of a run from the training records: which items are rejected
//! (the strategies of S-DPO and RosePO), injected label noise, RosePO's smoothing factor and
//! LiPO-λ's graded labels.

use prefopt_data::samplers::{
    DebiasingScope, InCandidateSampler, NegativeSampler, PopularityDebiasingSampler, SampleRequest,
    SemanticNeighbourSampler, example_rng, hashed_title_embeddings, popularity_weights,
};
use prefopt_data::{ItemId, PreferenceRecord};
use rand::RngExt;

use crate::config::{RejectedStrategy, Smoothing};
use crate::error::{ExperimentError, Result};
use crate::rec::data::RecDataset;
use crate::rec::oracle::ItemKnn;

/// Dimension of the hashed title embeddings behind the semantic strategy.
const TITLE_DIM: usize = 256;

/// What the strategies need beyond the records.
pub struct PairContext<'a> {
    pub dataset: &'a RecDataset,
    /// The SFT model's candidate scores of every training record (self-hard).
    pub sft_scores: Option<&'a [Vec<f64>]>,
    pub seed: u64,
}

/// A sampler for the strategies that draw (all but self-hard and in-candidate).
fn sampler(
    strategy: RejectedStrategy,
    dataset: &RecDataset,
) -> Result<Option<Box<dyn NegativeSampler>>> {
    Ok(match strategy {
        RejectedStrategy::Random => Some(Box::new(InCandidateSampler)),
        RejectedStrategy::Popularity => Some(Box::new(PopularityDebiasingSampler::new(
            popularity_weights(dataset.popularity(), 1.0, 1.0)?,
            DebiasingScope::Candidates,
        )?)),
        RejectedStrategy::Semantic => Some(Box::new(SemanticNeighbourSampler::new(
            &hashed_title_embeddings(&dataset.items.titles, TITLE_DIM),
            TITLE_DIM,
        )?)),
        RejectedStrategy::InCandidate | RejectedStrategy::SelfHard => None,
    })
}

/// The rows of a run: for each training record and each strategy, the record with `negatives`
/// rejected items chosen by the strategy (reference log-probs and smoothing cleared).
pub fn build_rows(
    records: &[PreferenceRecord],
    strategies: &[RejectedStrategy],
    negatives: usize,
    context: &PairContext<'_>,
) -> Result<Vec<PreferenceRecord>> {
    let mut rows = Vec::with_capacity(records.len() * strategies.len());
    for (s, &strategy) in strategies.iter().enumerate() {
        let sampler = sampler(strategy, context.dataset)?;
        for (index, record) in records.iter().enumerate() {
            let items = rejected_items(
                record,
                index,
                strategy,
                sampler.as_deref(),
                negatives,
                context,
                s,
            )?;
            rows.push(with_rejected(record, &items, &context.dataset.items.titles));
        }
    }
    Ok(rows)
}

fn rejected_items(
    record: &PreferenceRecord,
    index: usize,
    strategy: RejectedStrategy,
    sampler: Option<&dyn NegativeSampler>,
    negatives: usize,
    context: &PairContext<'_>,
    stream: usize,
) -> Result<Vec<ItemId>> {
    let positive = record.chosen_item.unwrap_or(-1);
    let history = record.history_items.as_deref().unwrap_or(&[]);
    let candidates = record.candidate_items.as_deref().unwrap_or(&[]);
    let at_row = |reason: String| {
        ExperimentError::Invalid(format!(
            "training row {index}: {} negatives: {reason}",
            strategy.name()
        ))
    };
    match strategy {
        RejectedStrategy::InCandidate => {
            let items = record.rejected_items.clone().unwrap_or_default();
            if items.len() < negatives {
                return Err(at_row(format!(
                    "the dataset has {} rejected items, {negatives} asked (regenerate it with more --negatives)",
                    items.len()
                )));
            }
            Ok(items[..negatives].to_vec())
        }
        RejectedStrategy::SelfHard => {
            let scores = context
                .sft_scores
                .and_then(|s| s.get(index))
                .ok_or_else(|| at_row("no SFT scores for this row".into()))?;
            let mut order: Vec<usize> = (0..candidates.len())
                .filter(|&c| candidates[c] != positive && !history.contains(&candidates[c]))
                .collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            if order.len() < negatives {
                return Err(at_row(format!(
                    "only {} candidates besides the target",
                    order.len()
                )));
            }
            Ok(order[..negatives].iter().map(|&c| candidates[c]).collect())
        }
        _ => {
            let sampler = sampler.expect("drawing strategies have a sampler");
            let request =
                SampleRequest::new(positive, history, negatives).with_candidates(candidates);
            let mut rng = example_rng(context.seed ^ (stream as u64) << 32, index as u64);
            Ok(sampler.sample(&request, &mut rng)?)
        }
    }
}

fn with_rejected(
    record: &PreferenceRecord,
    items: &[ItemId],
    titles: &[String],
) -> PreferenceRecord {
    PreferenceRecord {
        rejected: items.iter().map(|&i| titles[i as usize].clone()).collect(),
        rejected_items: Some(items.to_vec()),
        smoothing: None,
        ref_chosen_logp: None,
        ref_rejected_logps: None,
        ..record.clone()
    }
}

/// Swaps the chosen and first rejected response of a `fraction` of rows (seeded); returns how
/// many were swapped.
pub fn inject_label_noise(rows: &mut [PreferenceRecord], fraction: f64, seed: u64) -> usize {
    let mut swapped = 0;
    for (index, row) in rows.iter_mut().enumerate() {
        let mut rng = example_rng(seed ^ 0x006e_6f69_7365, index as u64);
        if rng.random::<f64>() >= fraction {
            continue;
        }
        std::mem::swap(&mut row.chosen, &mut row.rejected[0]);
        if let (Some(chosen), Some(rejected)) =
            (row.chosen_item.as_mut(), row.rejected_items.as_mut())
        {
            std::mem::swap(chosen, &mut rejected[0]);
        }
        swapped += 1;
    }
    swapped
}

/// Writes ε into every row's `smoothing` column (rows with one rejected response; the oracle
/// compares the chosen with the first rejected item). The oracle's differences
/// `d = s_rejected − s_chosen` are put on a unit scale first (divided by their standard
/// deviation over the rows), so `temperature` means the same on every dataset:
/// ε = min(max, σ(d / (temperature · sd))).
pub fn apply_smoothing(rows: &mut [PreferenceRecord], smoothing: Smoothing, oracle: &ItemKnn) {
    let differences: Vec<f64> = rows
        .iter()
        .map(|row| {
            let history = row.history_items.as_deref().unwrap_or(&[]);
            let score = |item: Option<ItemId>| item.map_or(0.0, |i| oracle.score(history, i));
            score(row.rejected_items.as_ref().and_then(|r| r.first().copied()))
                - score(row.chosen_item)
        })
        .collect();
    let n = differences.len().max(1) as f64;
    let mean = differences.iter().sum::<f64>() / n;
    let sd = (differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
    let scale = if sd > 0.0 { sd } else { 1.0 };
    for (row, d) in rows.iter_mut().zip(differences) {
        row.smoothing = match smoothing {
            Smoothing::None => None,
            Smoothing::Constant(eps) => Some(eps as f32),
            Smoothing::Oracle { temperature, max } => {
                let eps = 1.0 / (1.0 + (-d / (temperature * scale)).exp());
                Some(eps.min(max) as f32)
            }
        };
    }
}

/// LiPO-λ's graded labels of `[chosen, rejected…]`: the chosen gets K, the rejected items
/// K−1 … 0 in the order of the oracle's scores (ties by position).
pub fn oracle_list_labels(rows: &[PreferenceRecord], oracle: &ItemKnn) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|row| {
            let history = row.history_items.as_deref().unwrap_or(&[]);
            let rejected = row.rejected_items.as_deref().unwrap_or(&[]);
            let k = rejected.len();
            let scores: Vec<f64> = rejected.iter().map(|&i| oracle.score(history, i)).collect();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let mut labels = vec![0.0; k + 1];
            labels[0] = k as f64;
            for (place, &j) in order.iter().enumerate() {
                labels[j + 1] = (k - 1 - place) as f64;
            }
            labels
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use prefopt_data::convert::ItemTable;

    use super::*;

    fn dataset() -> RecDataset {
        RecDataset {
            dir: "memory".into(),
            train: vec![],
            valid: vec![],
            test: vec![],
            items: ItemTable {
                titles: (0..8).map(|i| format!("item {i}")).collect(),
                popularity: vec![1, 1, 1, 1, 1, 1, 1000, 1],
            },
        }
    }

    fn record() -> PreferenceRecord {
        PreferenceRecord {
            prompt: "p".into(),
            chosen: "item 1".into(),
            rejected: vec!["item 2".into()],
            user_id: Some(0),
            chosen_item: Some(1),
            rejected_items: Some(vec![2]),
            history_items: Some(vec![0]),
            candidate_items: Some(vec![1, 2, 3, 6, 7]),
            weight: None,
            smoothing: None,
            ref_chosen_logp: Some(-1.0),
            ref_rejected_logps: Some(vec![-2.0]),
        }
    }

    #[test]
    fn strategies_pick_the_items_they_promise() {
        let data = dataset();
        let scores = vec![vec![0.0, -5.0, -1.0, -9.0, -0.5]];
        let context = PairContext {
            dataset: &data,
            sft_scores: Some(&scores),
            seed: 1,
        };
        let records = vec![record()];
        // Self-hard: the best-scored wrong candidates, in score order.
        let rows = build_rows(&records, &[RejectedStrategy::SelfHard], 2, &context).unwrap();
        assert_eq!(rows[0].rejected_items, Some(vec![7, 3]));
        assert_eq!(rows[0].rejected, vec!["item 7", "item 3"]);
        assert_eq!(
            rows[0].ref_chosen_logp, None,
            "a new pair has no cached reference"
        );
        // Random and popularity stay inside the candidates, never the target.
        for strategy in [RejectedStrategy::Random, RejectedStrategy::Popularity] {
            let rows = build_rows(&records, &[strategy], 3, &context).unwrap();
            let items = rows[0].rejected_items.clone().unwrap();
            assert_eq!(items.len(), 3);
            assert!(items.iter().all(|i| [2, 3, 6, 7].contains(i)), "{items:?}");
        }
        // Popularity: the item 1000× more popular is drawn nearly always.
        let hits = (0..50)
            .filter(|&seed| {
                let context = PairContext { seed, ..context };
                build_rows(&records, &[RejectedStrategy::Popularity], 1, &context).unwrap()[0]
                    .rejected_items
                    == Some(vec![6])
            })
            .count();
        assert!(hits >= 45, "{hits}/50");
        // Semantic: any catalog item but the target and the history.
        let rows = build_rows(&records, &[RejectedStrategy::Semantic], 2, &context).unwrap();
        assert!(
            rows[0]
                .rejected_items
                .as_ref()
                .unwrap()
                .iter()
                .all(|&i| i != 1 && i != 0)
        );
        // One row per strategy; the dataset's own negatives; too few is an error.
        let rows = build_rows(
            &records,
            &[RejectedStrategy::InCandidate, RejectedStrategy::Random],
            1,
            &context,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].rejected_items, Some(vec![2]));
        assert!(build_rows(&records, &[RejectedStrategy::InCandidate], 2, &context).is_err());
        let no_scores = PairContext {
            sft_scores: None,
            ..context
        };
        assert!(build_rows(&records, &[RejectedStrategy::SelfHard], 1, &no_scores).is_err());
    }

    #[test]
    fn noise_smoothing_and_labels() {
        let mut rows = vec![record(); 400];
        let swapped = inject_label_noise(&mut rows, 0.25, 3);
        assert!((70..=130).contains(&swapped), "{swapped}");
        let flipped = rows.iter().filter(|r| r.chosen_item == Some(2)).count();
        assert_eq!(flipped, swapped);
        assert!(
            rows.iter()
                .filter(|r| r.chosen_item == Some(2))
                .all(|r| r.chosen == "item 2" && r.rejected == ["item 1"])
        );
        // The oracle knows 0 → 1: swapped pairs get the larger ε.
        let mut train = record();
        train.history_items = Some(vec![0]);
        let oracle = ItemKnn::fit(&[train], 8);
        apply_smoothing(
            &mut rows,
            Smoothing::Oracle {
                temperature: 1.0,
                max: 0.49,
            },
            &oracle,
        );
        let eps = |r: &PreferenceRecord| r.smoothing.unwrap();
        let clean = rows.iter().find(|r| r.chosen_item == Some(1)).unwrap();
        let noisy = rows.iter().find(|r| r.chosen_item == Some(2)).unwrap();
        // Differences of ±1 on the scale of their sd (about 0.87): σ(∓1.15), capped at 0.49.
        assert_eq!(eps(noisy), 0.49);
        assert!(eps(clean) > 0.2 && eps(clean) < 0.3, "{}", eps(clean));
        apply_smoothing(&mut rows, Smoothing::Constant(0.1), &oracle);
        assert!(rows.iter().all(|r| r.smoothing == Some(0.1)));
        // LiPO labels: chosen K, rejected by the oracle's order.
        let mut listed = record();
        listed.rejected_items = Some(vec![3, 1, 2]);
        listed.chosen_item = Some(5);
        assert_eq!(
            oracle_list_labels(&[listed], &oracle),
            vec![vec![3.0, 1.0, 2.0, 0.0]]
        );
    }
}
