//! Negative samplers: which items become the rejected responses (or fill a candidate set).
//!
//! Every sampler implements [`NegativeSampler`]: it is given the positive, the user's history and
//! the candidate set of one example and a random generator, and returns distinct items, never the
//! positive, never an item of the history. The caller owns the randomness: seed one generator per
//! example with [`example_rng`] and a run is reproducible whatever order examples are processed in.
//!
//! | sampler | draws | from |
//! |---|---|---|
//! | [`UniformSampler`] | uniformly | the catalog |
//! | [`PopularitySampler`] | ∝ (pop + smoothing)^α, alias table, O(1) per draw | the catalog |
//! | [`PopularityDebiasingSampler`] | ∝ (pop + smoothing)^α (RosePO's popularity-aware negatives) | the candidates (or the catalog) |
//! | [`InCandidateSampler`] | uniformly | the candidates |
//! | [`HardNegativeSampler`] | the top-scored, or ∝ exp(score/T) | the candidates or the catalog |
//! | [`SemanticNeighbourSampler`] | the nearest by cosine of item embeddings | the catalog |
//! | [`HallucinationSampler`] | uniformly among generated items outside the candidates | generations |

mod exclusion;
mod hallucination;
mod hard;
mod popularity;
mod semantic;
mod title_embedding;
mod uniform;
mod weighted;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

pub use hallucination::{HallucinatedNegative, HallucinationSampler};
pub use hard::{HardNegativeSampler, Pool};
pub use popularity::{
    DebiasingScope, PopularityDebiasingSampler, PopularitySampler, popularity_weights,
};
pub use semantic::SemanticNeighbourSampler;
pub use title_embedding::hashed_title_embeddings;
pub use uniform::{InCandidateSampler, UniformSampler};

use crate::error::Result;
use crate::schema::ItemId;

/// What one example asks of a sampler.
#[derive(Debug, Clone, Copy)]
pub struct SampleRequest<'a> {
    /// The chosen (target) item: never drawn.
    pub positive: ItemId,
    /// Items the user interacted with: never drawn.
    pub history: &'a [ItemId],
    /// The candidate set shown to the model (may be empty for catalog-wide samplers).
    pub candidates: &'a [ItemId],
    /// How many distinct negatives to draw.
    pub count: usize,
}

impl<'a> SampleRequest<'a> {
    pub fn new(positive: ItemId, history: &'a [ItemId], count: usize) -> Self {
        Self {
            positive,
            history,
            candidates: &[],
            count,
        }
    }

    pub fn with_candidates(mut self, candidates: &'a [ItemId]) -> Self {
        self.candidates = candidates;
        self
    }
}

/// A seeded strategy for drawing negatives; see the module docs for the implementations.
pub trait NegativeSampler: Send + Sync {
    /// A short name for logs and configs (`uniform`, `popularity`, ...).
    fn name(&self) -> &'static str;

    /// Draws `request.count` distinct items, excluding the positive and the history.
    ///
    /// Errors with [`crate::DataError::NotEnoughItems`] when fewer items are eligible.
    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>>;
}

/// The generator every sampler and generator of this crate draws from: xoshiro256++, a named
/// algorithm (so a seed means the same stream in every rand release, unlike `StdRng`), fast, and
/// statistically sound for sampling (not for cryptography).
pub type SampleRng = Xoshiro256PlusPlus;

/// The generator of example `index` of a run seeded with `seed`: independent streams per example
/// (SplitMix64 of both), so results do not depend on processing order or parallelism.
pub fn example_rng(seed: u64, index: u64) -> SampleRng {
    SampleRng::seed_from_u64(splitmix64(
        seed ^ splitmix64(index.wrapping_add(0x9E37_79B9_7F4A_7C15)),
    ))
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
