//! Uniform negatives: from the whole catalog (LLaRA/S-DPO candidate sets) or from the candidates
//! shown in the prompt (DPO with random in-candidate negatives).

use rand::{Rng, RngExt};

use super::exclusion::Exclusion;
use super::weighted::{draw_uniform, uniform_without_replacement};
use super::{NegativeSampler, SampleRequest};
use crate::error::{DataError, Result};
use crate::schema::ItemId;

/// Uniform over the catalog `0..num_items` minus the positive and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniformSampler {
    num_items: usize,
}

impl UniformSampler {
    pub fn new(num_items: usize) -> Self {
        Self { num_items }
    }
}

impl NegativeSampler for UniformSampler {
    fn name(&self) -> &'static str {
        "uniform"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let mut exclusion = Exclusion::of(request);
        let available = self.num_items - exclusion.count_within(self.num_items);
        if request.count > available {
            return Err(DataError::NotEnoughItems {
                sampler: self.name(),
                requested: request.count,
                available,
            });
        }
        // Rejection sampling costs about n / available draws per item: cheap unless the excluded
        // items are most of the catalog, where listing the eligible ones is cheaper.
        if available < 2 * request.count || available * 2 < self.num_items {
            let pool: Vec<ItemId> = (0..self.num_items as ItemId)
                .filter(|&item| !exclusion.contains(item))
                .collect();
            return Ok(uniform_without_replacement(pool, request.count, rng));
        }
        let mut drawn = Vec::with_capacity(request.count);
        while drawn.len() < request.count {
            let item = rng.random_range(0..self.num_items) as ItemId;
            if exclusion.insert(item) {
                drawn.push(item);
            }
        }
        Ok(drawn)
    }
}

/// Uniform over the request's candidates minus the positive and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InCandidateSampler;

impl NegativeSampler for InCandidateSampler {
    fn name(&self) -> &'static str {
        "in-candidate"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let pool = Exclusion::of(request).filter(request.candidates);
        draw_uniform(self.name(), pool, request.count, rng)
    }
}
