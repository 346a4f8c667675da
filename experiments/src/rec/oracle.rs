//! The preference oracle of RosePO's smoothing and the graded labels of LiPO-λ: a conventional
//! sequential recommender trained on the same training split, not the policy
//! (`docs/methods/rec.md` §5 decides "SASRec-like"; an item-kNN is the classic conventional
//! baseline and needs no training loop of its own).
//!
//! Item-kNN over "followed by" co-occurrence: every training example links each history item to
//! the target, weighted by recency (the last history item counts 1, the one before 1/2, …).
//! Similarity is the cosine-normalised count, `c(a, b) / sqrt(n(a) n(b))`; a user's score for an
//! item is the sum of its similarities to the history items, again recency-weighted.

use std::collections::HashMap;

use prefopt_data::{ItemId, PreferenceRecord};

#[derive(Clone, Debug)]
pub struct ItemKnn {
    /// Sparse rows: `neighbours[a]` maps b → similarity(a, b).
    neighbours: Vec<HashMap<u32, f64>>,
}

fn recency(position_from_end: usize) -> f64 {
    1.0 / (position_from_end as f64 + 1.0)
}

impl ItemKnn {
    /// Fits on the training records (their history and chosen item ids).
    pub fn fit(records: &[PreferenceRecord], catalog: usize) -> Self {
        let mut counts: Vec<HashMap<u32, f64>> = vec![HashMap::new(); catalog];
        let mut totals = vec![0.0; catalog];
        for record in records {
            let (Some(target), Some(history)) = (record.chosen_item, &record.history_items) else {
                continue;
            };
            for (back, &item) in history.iter().rev().enumerate() {
                let w = recency(back);
                let (a, b) = (item as usize, target as usize);
                if a == b || a >= catalog || b >= catalog {
                    continue;
                }
                *counts[a].entry(b as u32).or_default() += w;
                *counts[b].entry(a as u32).or_default() += w;
                totals[a] += w;
                totals[b] += w;
            }
        }
        let neighbours = counts
            .into_iter()
            .enumerate()
            .map(|(a, row)| {
                row.into_iter()
                    .map(|(b, c)| (b, c / (totals[a] * totals[b as usize]).sqrt()))
                    .collect()
            })
            .collect();
        Self { neighbours }
    }

    /// The score of `item` for a user with this history (0 for unrelated or unknown items).
    pub fn score(&self, history: &[ItemId], item: ItemId) -> f64 {
        history
            .iter()
            .rev()
            .enumerate()
            .map(|(back, &h)| {
                let similarity = self
                    .neighbours
                    .get(h as usize)
                    .and_then(|row| row.get(&(item as u32)))
                    .copied()
                    .unwrap_or(0.0);
                recency(back) * similarity
            })
            .sum()
    }

    /// Scores of every candidate of a record, in candidate order.
    pub fn candidate_scores(&self, record: &PreferenceRecord) -> Vec<f64> {
        let history = record.history_items.as_deref().unwrap_or(&[]);
        record
            .candidate_items
            .iter()
            .flatten()
            .map(|&c| self.score(history, c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(history: &[ItemId], target: ItemId, candidates: &[ItemId]) -> PreferenceRecord {
        PreferenceRecord {
            prompt: String::new(),
            chosen: String::new(),
            rejected: vec![],
            user_id: None,
            chosen_item: Some(target),
            rejected_items: None,
            history_items: Some(history.to_vec()),
            candidate_items: Some(candidates.to_vec()),
            weight: None,
            smoothing: None,
            ref_chosen_logp: None,
            ref_rejected_logps: None,
        }
    }

    #[test]
    fn items_that_follow_the_history_score_higher() {
        // 0 is always followed by 1; 2 by 3.
        let train: Vec<_> = (0..5)
            .flat_map(|_| [record(&[0], 1, &[]), record(&[2], 3, &[])])
            .collect();
        let knn = ItemKnn::fit(&train, 5);
        let scores = knn.candidate_scores(&record(&[0], 1, &[1, 3, 4]));
        assert!(scores[0] > 0.0);
        assert_eq!(scores[1], 0.0);
        assert_eq!(scores[2], 0.0);
        // One pair only: cosine of the counts is 1.
        assert!((knn.score(&[0], 1) - 1.0).abs() < 1e-12);
        // The most recent history item weighs most.
        let mixed = ItemKnn::fit(&train, 5);
        assert!(mixed.score(&[2, 0], 1) > mixed.score(&[2, 0], 3));
        // Unknown ids are ignored, not a panic.
        assert_eq!(knn.score(&[99], 1), 0.0);
    }
}
