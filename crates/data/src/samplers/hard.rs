//! Hard negatives from a caller-supplied score function: RosePO's self-hard negatives score the
//! candidates with the current (or SFT) model and keep its most likely mistakes.

use rand::{Rng, RngExt};

use super::exclusion::Exclusion;
use super::{NegativeSampler, SampleRequest};
use crate::error::{DataError, Result};
use crate::schema::ItemId;

/// Which items a [`HardNegativeSampler`] scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    /// The request's candidates (self-hard negatives among what the prompt offers).
    #[default]
    Candidates,
    /// The whole catalog `0..num_items`.
    Catalog { num_items: usize },
}

/// Scores the eligible items with `score(request, items) -> one score per item` (higher = the
/// model prefers it more) and returns the top `count`, ties broken at random; with a temperature
/// `T`, draws instead ∝ exp(score / T) without replacement (Gumbel top-k).
pub struct HardNegativeSampler<F> {
    score: F,
    pool: Pool,
    temperature: Option<f64>,
}

impl<F> HardNegativeSampler<F>
where
    F: Fn(&SampleRequest<'_>, &[ItemId]) -> Vec<f64> + Send + Sync,
{
    pub fn new(score: F, pool: Pool) -> Self {
        Self {
            score,
            pool,
            temperature: None,
        }
    }

    /// Samples ∝ exp(score / temperature) instead of taking the top items.
    pub fn with_temperature(mut self, temperature: f64) -> Result<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(DataError::parameter(
                "temperature",
                format!("{temperature} must be finite and > 0"),
            ));
        }
        self.temperature = Some(temperature);
        Ok(self)
    }
}

impl<F> NegativeSampler for HardNegativeSampler<F>
where
    F: Fn(&SampleRequest<'_>, &[ItemId]) -> Vec<f64> + Send + Sync,
{
    fn name(&self) -> &'static str {
        "hard"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let exclusion = Exclusion::of(request);
        let pool = match self.pool {
            Pool::Candidates => exclusion.filter(request.candidates),
            Pool::Catalog { num_items } => (0..num_items as ItemId)
                .filter(|&item| !exclusion.contains(item))
                .collect(),
        };
        if request.count > pool.len() {
            return Err(DataError::NotEnoughItems {
                sampler: self.name(),
                requested: request.count,
                available: pool.len(),
            });
        }
        let scores = (self.score)(request, &pool);
        if scores.len() != pool.len() {
            return Err(DataError::parameter(
                "score",
                format!("returned {} scores for {} items", scores.len(), pool.len()),
            ));
        }
        if let Some(bad) = scores.iter().position(|s| s.is_nan()) {
            return Err(DataError::parameter(
                "score",
                format!("score of item {} is NaN", pool[bad]),
            ));
        }
        // Key per item: the score (plus Gumbel noise when sampling); a uniform secondary key
        // breaks exact ties at random instead of by pool order.
        let mut keyed: Vec<(f64, f64, ItemId)> = pool
            .iter()
            .zip(&scores)
            .map(|(&item, &score)| {
                let key = match self.temperature {
                    None => score,
                    Some(t) => {
                        let u: f64 = 1.0 - rng.random::<f64>();
                        score / t - (-u.ln()).ln()
                    }
                };
                (key, rng.random::<f64>(), item)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
        Ok(keyed
            .into_iter()
            .take(request.count)
            .map(|(_, _, item)| item)
            .collect())
    }
}
