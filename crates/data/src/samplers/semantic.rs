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
/// once and kept: later queries walk that list and skip the excluded items, and only fall back to
/// a fresh search when exclusions leave fewer than `count` of them. A search scans the catalog,
/// or, for catalogs of at least `index_threshold` items (default 4096), a [`ClusterIndex`] that
/// skips whole clusters whose upper bound cannot beat the current k-th best. Results are exact
/// either way; ties are broken by the smaller item id, so the sampler is deterministic.
pub struct SemanticNeighbourSampler {
    dim: usize,
    unit: Vec<f32>,
    cache_width: usize,
    cache: Mutex<HashMap<ItemId, Arc<[ItemId]>>>,
    index: Option<ClusterIndex>,
}

/// Catalog items clustered by spherical k-means; for a unit query q and a cluster with centre c
/// and radius r = max ‖x − c‖, every member satisfies q·x ≤ q·c + r (Cauchy–Schwarz), which is
/// what lets an exact search skip clusters.
struct ClusterIndex {
    centroids: Vec<f32>,
    radius: Vec<f32>,
    members: Vec<Vec<ItemId>>,
}

/// Slack on the cluster bound for f32 rounding, so no true neighbour is ever pruned.
const BOUND_SLACK: f32 = 1e-4;

impl ClusterIndex {
    fn build(unit: &[f32], dim: usize) -> Self {
        let n = unit.len() / dim;
        let clusters = ((n as f64).sqrt() as usize).max(1);
        let row = |i: usize| &unit[i * dim..(i + 1) * dim];
        // Deterministic initialisation: evenly spaced items.
        let mut centroids: Vec<f32> = (0..clusters)
            .flat_map(|j| row(j * n / clusters).to_vec())
            .collect();
        let mut assignment = vec![0usize; n];
        for _ in 0..8 {
            for (i, slot) in assignment.iter_mut().enumerate() {
                *slot = nearest(&centroids, dim, row(i));
            }
            let mut sums = vec![0.0f32; clusters * dim];
            let mut counts = vec![0usize; clusters];
            for (i, &j) in assignment.iter().enumerate() {
                counts[j] += 1;
                sums[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .zip(row(i))
                    .for_each(|(s, x)| *s += x);
            }
            for j in 0..clusters {
                if counts[j] > 0 {
                    let centre = &mut centroids[j * dim..(j + 1) * dim];
                    centre.copy_from_slice(&sums[j * dim..(j + 1) * dim]);
                    let norm = centre.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    centre.iter_mut().for_each(|v| *v /= norm);
                }
            }
        }
        let mut members = vec![Vec::new(); clusters];
        let mut radius = vec![0.0f32; clusters];
        for i in 0..n {
            let j = nearest(&centroids, dim, row(i));
            members[j].push(i as ItemId);
            let centre = &centroids[j * dim..(j + 1) * dim];
            let distance = centre
                .iter()
                .zip(row(i))
                .map(|(c, x)| (c - x) * (c - x))
                .sum::<f32>()
                .sqrt();
            radius[j] = radius[j].max(distance);
        }
        Self {
            centroids,
            radius,
            members,
        }
    }
}

fn nearest(centroids: &[f32], dim: usize, x: &[f32]) -> usize {
    centroids
        .chunks(dim)
        .map(|c| c.iter().zip(x).map(|(a, b)| a * b).sum::<f32>())
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(j, _)| j)
}

impl SemanticNeighbourSampler {
    /// `embeddings` holds `num_items × dim` values, row-major.
    pub fn new(embeddings: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !embeddings.len().is_multiple_of(dim) {
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
        let mut sampler = Self {
            dim,
            unit,
            cache_width: 64,
            cache: Mutex::new(HashMap::new()),
            index: None,
        };
        sampler = sampler.with_index_threshold(4096);
        Ok(sampler)
    }

    /// Builds the cluster index when the catalog has at least `threshold` items (default 4096);
    /// `usize::MAX` disables it.
    pub fn with_index_threshold(mut self, threshold: usize) -> Self {
        self.index =
            (self.num_items() >= threshold).then(|| ClusterIndex::build(&self.unit, self.dim));
        self
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
        let mut scored: Vec<(f32, ItemId)> = match &self.index {
            None => (0..self.num_items() as ItemId)
                .filter(|&other| other != item && keep(other))
                .map(|other| (self.cosine(item, other), other))
                .collect(),
            Some(index) => self.indexed_candidates(index, item, count, &keep),
        };
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

    /// Scores the members of every cluster that could hold one of the top `count` items; the
    /// result is a superset of the exact top `count`.
    fn indexed_candidates(
        &self,
        index: &ClusterIndex,
        item: ItemId,
        count: usize,
        keep: &impl Fn(ItemId) -> bool,
    ) -> Vec<(f32, ItemId)> {
        let d = self.dim;
        let query = &self.unit[item as usize * d..(item as usize + 1) * d];
        let mut bounds: Vec<(f32, usize)> = index
            .centroids
            .chunks(d)
            .zip(&index.radius)
            .map(|(c, r)| c.iter().zip(query).map(|(a, b)| a * b).sum::<f32>() + r + BOUND_SLACK)
            .enumerate()
            .map(|(j, bound)| (bound, j))
            .collect();
        bounds.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut scored: Vec<(f32, ItemId)> = Vec::new();
        // The k-th best score so far (a min-heap of the best `count` scores).
        let mut best: std::collections::BinaryHeap<std::cmp::Reverse<OrderedScore>> =
            std::collections::BinaryHeap::new();
        for (bound, cluster) in bounds {
            if best.len() == count
                && let Some(std::cmp::Reverse(kth)) = best.peek().copied()
                && bound < kth.0
            {
                break;
            }
            for &other in &index.members[cluster] {
                if other == item || !keep(other) {
                    continue;
                }
                let score = self.cosine(item, other);
                scored.push((score, other));
                best.push(std::cmp::Reverse(OrderedScore(score)));
                if best.len() > count {
                    best.pop();
                }
            }
        }
        scored
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

/// An f32 with a total order, for the heap of best scores.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedScore(f32);

impl Eq for OrderedScore {}

impl PartialOrd for OrderedScore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedScore {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
