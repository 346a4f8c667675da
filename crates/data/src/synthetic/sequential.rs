//! Sequential recommendation with known ground truth: items with Zipf popularity and latent unit
//! vectors, users whose latent taste drifts toward what they just consumed.
//!
//! Each step draws a pool of items by popularity (alias table), then picks one of them with
//! probability ∝ exp(strength · ⟨taste, item⟩) among those the user has not consumed yet; the taste
//! then moves toward the picked item. So popularity, taste and recency all matter, as in real logs,
//! and each one's effect is known.

use std::collections::HashSet;

use rand::RngExt;
use rand_distr::Distribution;
use rand_distr::weighted::WeightedAliasIndex;

use super::{normal, words};
use crate::error::{DataError, Result};
use crate::logs::{InteractionLog, ItemCatalog};
use crate::samplers::example_rng;

/// Shape of a sequential dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SequentialSpec {
    pub users: usize,
    pub items: usize,
    /// Latent dimension of items and tastes.
    pub dim: usize,
    /// Popularity of the item of popularity rank r ∝ 1 / r^zipf_exponent.
    pub zipf_exponent: f64,
    /// Sequence lengths are uniform in `min_length..=max_length`.
    pub min_length: usize,
    pub max_length: usize,
    /// How far the taste moves toward each consumed item (0: fixed taste).
    pub drift: f64,
    /// Inverse temperature of the taste term.
    pub taste_strength: f64,
    /// Items drawn by popularity per step, among which taste decides.
    pub pool: usize,
    pub vocabulary: usize,
    pub seed: u64,
}

impl Default for SequentialSpec {
    fn default() -> Self {
        Self {
            users: 500,
            items: 1000,
            dim: 8,
            zipf_exponent: 1.0,
            min_length: 8,
            max_length: 40,
            drift: 0.2,
            taste_strength: 4.0,
            pool: 50,
            vocabulary: 600,
            seed: 0,
        }
    }
}

/// The generated log and its ground truth.
#[derive(Debug, Clone)]
pub struct SequentialData {
    /// Users `u0..`, items `i0..` with word titles; one interaction per step, 60 s apart on
    /// average, users starting at random times.
    pub log: InteractionLog,
    /// `items × dim` unit vectors, row-major.
    pub item_vectors: Vec<f64>,
    /// The Zipf weights items were drawn with (not normalised).
    pub popularity_weights: Vec<f64>,
    /// Each user's taste after the last step, `users × dim`.
    pub final_tastes: Vec<f64>,
}

impl SequentialSpec {
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("users", self.users),
            ("items", self.items),
            ("dim", self.dim),
            ("pool", self.pool),
            ("vocabulary", self.vocabulary),
            ("min_length", self.min_length),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(DataError::parameter(
                "synthetic",
                format!("{name} must be ≥ 1"),
            ));
        }
        if self.max_length < self.min_length || self.max_length >= self.items {
            return Err(DataError::parameter(
                "synthetic",
                format!(
                    "lengths {}..={} must be ordered and below the catalog size {}",
                    self.min_length, self.max_length, self.items
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.drift)
            || !self.zipf_exponent.is_finite()
            || !self.taste_strength.is_finite()
        {
            return Err(DataError::parameter(
                "synthetic",
                "drift must be in [0, 1]; exponent and strength finite",
            ));
        }
        Ok(())
    }

    pub fn generate(&self) -> Result<SequentialData> {
        self.check()?;
        let (n, d) = (self.items, self.dim);
        let mut rng = example_rng(self.seed, u64::MAX);
        let vocabulary = words::vocabulary(self.vocabulary, &mut rng);
        let mut catalog = ItemCatalog::new();
        let mut titles = HashSet::with_capacity(n);
        for item in 0..n {
            let title = loop {
                let count = rng.random_range(2..=4);
                let title = words::title(&vocabulary, count, &mut rng);
                if titles.insert(title.clone()) {
                    break title;
                }
            };
            catalog.insert(&format!("i{item}"), &title);
        }
        let mut item_vectors = vec![0.0; n * d];
        for row in item_vectors.chunks_mut(d) {
            fill_unit(row, &mut rng);
        }
        // Popularity rank is a random permutation of the ids, so id order carries no signal.
        let mut ranks: Vec<usize> = (1..=n).collect();
        for i in (1..n).rev() {
            ranks.swap(i, rng.random_range(0..=i));
        }
        let popularity_weights: Vec<f64> = ranks
            .iter()
            .map(|&r| (r as f64).powf(-self.zipf_exponent))
            .collect();
        let alias = WeightedAliasIndex::new(popularity_weights.clone())
            .map_err(|e| DataError::parameter("zipf_exponent", e.to_string()))?;

        let mut log = InteractionLog::with_catalog(catalog);
        let mut final_tastes = vec![0.0; self.users * d];
        let mut pool = Vec::with_capacity(self.pool);
        let mut scores = Vec::with_capacity(self.pool);
        for user in 0..self.users {
            let mut rng = example_rng(self.seed, user as u64);
            let taste = &mut final_tastes[user * d..(user + 1) * d];
            fill_unit(taste, &mut rng);
            let length = rng.random_range(self.min_length..=self.max_length);
            let mut time: i64 = rng.random_range(0..10_000_000);
            let mut consumed = HashSet::with_capacity(length);
            let user_id = format!("u{user}");
            for _ in 0..length {
                pool.clear();
                for _ in 0..self.pool * 4 {
                    let item = alias.sample(&mut rng);
                    if !consumed.contains(&item) && !pool.contains(&item) {
                        pool.push(item);
                        if pool.len() == self.pool {
                            break;
                        }
                    }
                }
                if pool.is_empty() {
                    // The popular items are all consumed: fall back to any unconsumed item.
                    pool.extend((0..n).filter(|i| !consumed.contains(i)).take(self.pool));
                }
                scores.clear();
                scores.extend(pool.iter().map(|&item| {
                    let v = &item_vectors[item * d..(item + 1) * d];
                    self.taste_strength * dot(taste, v)
                }));
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                let mut u = rng.random::<f64>() * total;
                let mut pick = pool[pool.len() - 1];
                for (&item, &w) in pool.iter().zip(&weights) {
                    if u < w {
                        pick = item;
                        break;
                    }
                    u -= w;
                }
                consumed.insert(pick);
                time += rng.random_range(1..120);
                log.push(&user_id, &format!("i{pick}"), Some(5.0), Some(time));
                let v = &item_vectors[pick * d..(pick + 1) * d];
                for (t, &x) in taste.iter_mut().zip(v) {
                    *t = (1.0 - self.drift) * *t + self.drift * x;
                }
                normalize(taste);
            }
        }
        Ok(SequentialData {
            log,
            item_vectors,
            popularity_weights,
            final_tastes,
        })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(v: &mut [f64]) {
    let norm = dot(v, v).sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

fn fill_unit(v: &mut [f64], rng: &mut dyn rand::Rng) {
    v.iter_mut().for_each(|x| *x = normal(rng));
    normalize(v);
}
