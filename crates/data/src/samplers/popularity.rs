//! Popularity-weighted negatives: catalog-wide with an alias table, and RosePO's
//! popularity-debiasing negatives among the candidates.

use rand::Rng;
use rand_distr::Distribution;
use rand_distr::weighted::WeightedAliasIndex;

use super::exclusion::Exclusion;
use super::weighted::weighted_without_replacement;
use super::{NegativeSampler, SampleRequest};
use crate::error::{DataError, Result};
use crate::schema::ItemId;

/// `(count + smoothing)^alpha` per item: the sampling weights of both popularity samplers.
///
/// `smoothing` > 0 lets items never seen in training be drawn (the converters use 1).
pub fn popularity_weights(counts: &[u64], alpha: f64, smoothing: f64) -> Result<Vec<f64>> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(DataError::parameter(
            "alpha",
            format!("{alpha} must be finite and ≥ 0"),
        ));
    }
    if !(smoothing.is_finite() && smoothing >= 0.0) {
        return Err(DataError::parameter(
            "smoothing",
            format!("{smoothing} must be finite and ≥ 0"),
        ));
    }
    Ok(counts
        .iter()
        .map(|&c| {
            let base = c as f64 + smoothing;
            if base == 0.0 { 0.0 } else { base.powf(alpha) }
        })
        .collect())
}

fn check_weights(weights: &[f64]) -> Result<()> {
    match weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        Some(bad) => Err(DataError::parameter(
            "weights",
            format!(
                "weight of item {bad} is {}: weights must be finite and ≥ 0",
                weights[bad]
            ),
        )),
        None => Ok(()),
    }
}

/// Catalog-wide draws ∝ weight with Walker/Vose's alias method (O(1) per draw).
///
/// Excluded and already-drawn items are rejected and redrawn; when rejections pile up (the
/// excluded items carry most of the mass) the sampler switches to an exact draw over the
/// eligible items, so it never loops for long and never changes the distribution.
#[derive(Debug, Clone)]
pub struct PopularitySampler {
    weights: Vec<f64>,
    alias: WeightedAliasIndex<f64>,
}

impl PopularitySampler {
    /// From per-item weights (see [`popularity_weights`]).
    pub fn new(weights: Vec<f64>) -> Result<Self> {
        check_weights(&weights)?;
        let alias = WeightedAliasIndex::new(weights.clone())
            .map_err(|e| DataError::parameter("weights", e.to_string()))?;
        Ok(Self { weights, alias })
    }

    /// From training interaction counts: weight `(count + smoothing)^alpha`.
    pub fn from_counts(counts: &[u64], alpha: f64, smoothing: f64) -> Result<Self> {
        Self::new(popularity_weights(counts, alpha, smoothing)?)
    }

    pub fn num_items(&self) -> usize {
        self.weights.len()
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    fn eligible(&self, exclusion: &Exclusion) -> (Vec<ItemId>, Vec<f64>) {
        (0..self.weights.len())
            .filter(|&i| self.weights[i] > 0.0 && !exclusion.contains(i as ItemId))
            .map(|i| (i as ItemId, self.weights[i]))
            .unzip()
    }
}

impl NegativeSampler for PopularitySampler {
    fn name(&self) -> &'static str {
        "popularity"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let mut exclusion = Exclusion::of(request);
        let mut drawn = Vec::with_capacity(request.count);
        let budget = 32 * request.count + 64;
        let mut tries = 0;
        while drawn.len() < request.count && tries < budget {
            tries += 1;
            let item = self.alias.sample(rng) as ItemId;
            if exclusion.insert(item) {
                drawn.push(item);
            }
        }
        if drawn.len() == request.count {
            return Ok(drawn);
        }
        // Too many rejections: finish exactly over what is still eligible.
        let (pool, weights) = self.eligible(&exclusion);
        let missing = request.count - drawn.len();
        if missing > pool.len() {
            return Err(DataError::NotEnoughItems {
                sampler: self.name(),
                requested: request.count,
                available: drawn.len() + pool.len(),
            });
        }
        drawn.extend(weighted_without_replacement(&pool, &weights, missing, rng));
        Ok(drawn)
    }
}

/// Where [`PopularityDebiasingSampler`] draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebiasingScope {
    /// The candidates other than the target (RosePO's popularity-aware negatives).
    #[default]
    Candidates,
    /// The whole catalog.
    Catalog,
}

/// RosePO's popularity-aware rejected items: popular items drawn ∝ weight among the candidates
/// (or the catalog), so that preference training pushes down items liked only for being popular.
#[derive(Debug, Clone)]
pub struct PopularityDebiasingSampler {
    weights: Vec<f64>,
    scope: DebiasingScope,
}

impl PopularityDebiasingSampler {
    pub fn new(weights: Vec<f64>, scope: DebiasingScope) -> Result<Self> {
        check_weights(&weights)?;
        Ok(Self { weights, scope })
    }
}

impl NegativeSampler for PopularityDebiasingSampler {
    fn name(&self) -> &'static str {
        "popularity-debiasing"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let exclusion = Exclusion::of(request);
        let pool = match self.scope {
            DebiasingScope::Candidates => exclusion.filter(request.candidates),
            DebiasingScope::Catalog => (0..self.weights.len() as ItemId)
                .filter(|&item| !exclusion.contains(item))
                .collect(),
        };
        let weights = pool
            .iter()
            .map(|&item| {
                self.weights
                    .get(usize::try_from(item).unwrap_or(usize::MAX))
                    .copied()
                    .ok_or(DataError::UnknownItem {
                        item,
                        catalog_size: self.weights.len(),
                    })
            })
            .collect::<Result<Vec<f64>>>()?;
        let available = weights.iter().filter(|&&w| w > 0.0).count();
        if request.count > available {
            return Err(DataError::NotEnoughItems {
                sampler: self.name(),
                requested: request.count,
                available,
            });
        }
        Ok(weighted_without_replacement(
            &pool,
            &weights,
            request.count,
            rng,
        ))
    }
}
