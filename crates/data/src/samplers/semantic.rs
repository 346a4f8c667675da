//! Semantic neighbours: the items whose embeddings are closest (cosine) to the positive's, RosePO's
//! negatives against semantic hallucination (a near-duplicate of the right answer is still wrong).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;

use super::exclusion::Exclusion;
use super::{NegativeSampler, SampleRequest};
use crate::error::{DataError, Result};
use crate::schema::ItemId;

/// Exact top-k cosine neighbours of the positive, excluding the history.
///
/// Embeddings are L2-normalised once, so a cosine is one dot product. Queries repeat (the same
/// target appears for many users), so each item's `cache_width` nearest neighbours are computed
/// once by a full scan and kept: later queries walk that list and skip the excluded items, and only
/// fall back to a fresh scan when exclusions leave fewer than `count` of them. Results are exact
/// either way; ties are broken by the smaller item id, so the sampler is deterministic.
pub struct SemanticNeighbourSampler {
    dim: usize,
    unit: Vec<f32>,
    cache_width: usize,
    cache: Mutex<HashMap<ItemId, Arc<[ItemId]>>>,
}

impl SemanticNeighbourSampler {
    /// `embeddings` holds `num_items × dim` values, row-major.
    pub fn new(embeddings: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || embeddings.len() % dim != 0 {
            return Err(DataError::parameter(
                "embeddings",
                format!(
                    "{} values do not split into rows of dim {dim}",
                    embeddings.len()
                ),
            ));
        }
        let mut unit = embeddings.to_vec();
        for (item, row) in unit.chunks_mut(dim).enumerate() {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if !(norm.is_finite() && norm > 0.0) {
                return Err(DataError::parameter(
                    "embeddings",
                    format!("item {item} has a zero or non-finite embedding"),
                ));
            }
            row.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(Self {
            dim,
            unit,
            cache_width: 64,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// How many neighbours are cached per queried item (default 64).
    pub fn with_cache_width(mut self, width: usize) -> Self {
        self.cache_width = width.max(1);
        self
    }

    pub fn num_items(&self) -> usize {
        self.unit.len() / self.dim
    }

    /// Cosine similarity of two items.
    pub fn cosine(&self, a: ItemId, b: ItemId) -> f32 {
        let row = |i: ItemId| &self.unit[i as usize * self.dim..(i as usize + 1) * self.dim];
        row(a).iter().zip(row(b)).map(|(x, y)| x * y).sum()
    }

    /// The `count` most similar items to `item` that `keep` accepts, most similar first.
    fn scan(&self, item: ItemId, count: usize, keep: impl Fn(ItemId) -> bool) -> Vec<ItemId> {
        let mut scored: Vec<(f32, ItemId)> = (0..self.num_items() as ItemId)
            .filter(|&other| other != item && keep(other))
            .map(|other| (self.cosine(item, other), other))
            .collect();
        let order = |a: &(f32, ItemId), b: &(f32, ItemId)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let count = count.min(scored.len());
        if count == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(count - 1, order);
        scored.truncate(count);
        scored.sort_by(order);
        scored.into_iter().map(|(_, other)| other).collect()
    }

    fn neighbours(&self, item: ItemId) -> Arc<[ItemId]> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .entry(item)
            .or_insert_with(|| self.scan(item, self.cache_width, |_| true).into())
            .clone()
    }
}

impl NegativeSampler for SemanticNeighbourSampler {
    fn name(&self) -> &'static str {
        "semantic"
    }

    fn sample(&self, request: &SampleRequest<'_>, _rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let n = self.num_items();
        let positive = request.positive;
        if !(0..n as ItemId).contains(&positive) {
            return Err(DataError::UnknownItem {
                item: positive,
                catalog_size: n,
            });
        }
        let exclusion = Exclusion::of(request);
        let available = n - exclusion.count_within(n);
        if request.count > available {
            return Err(DataError::NotEnoughItems {
                sampler: self.name(),
                requested: request.count,
                available,
            });
        }
        let cached: Vec<ItemId> = self
            .neighbours(positive)
            .iter()
            .copied()
            .filter(|&item| !exclusion.contains(item))
            .take(request.count)
            .collect();
        if cached.len() == request.count {
            return Ok(cached);
        }
        Ok(self.scan(positive, request.count, |item| !exclusion.contains(item)))
    }
}
