//! Hallucination-based negatives: what the model itself generates that is not a valid answer —
//! an item outside the candidate set, or a title that is not in the catalog at all.

use std::collections::{HashMap, HashSet};

use rand::Rng;

use super::exclusion::Exclusion;
use super::weighted::draw_uniform;
use super::{NegativeSampler, SampleRequest};
use crate::error::Result;
use crate::schema::ItemId;

/// One hallucinated answer: its text, and the catalog item it names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HallucinatedNegative {
    pub text: String,
    /// `None` for a title that is in no catalog (a pure hallucination).
    pub item: Option<ItemId>,
}

/// Matches the caller's generations for a request (`generate(request) -> answers`) against the
/// catalog titles (trimmed, exact) and keeps the hallucinations: answers naming no candidate.
///
/// As a [`NegativeSampler`] it draws uniformly among the distinct catalog items so named; the
/// free-text ones (no item id) are available from [`HallucinationSampler::hallucinations`].
pub struct HallucinationSampler<G> {
    generate: G,
    by_title: HashMap<String, ItemId>,
}

impl<G> HallucinationSampler<G>
where
    G: Fn(&SampleRequest<'_>) -> Vec<String> + Send + Sync,
{
    /// `titles[i]` is the title of item `i`; a title shared by several items maps to the first.
    pub fn new(titles: &[String], generate: G) -> Self {
        let mut by_title = HashMap::with_capacity(titles.len());
        for (item, title) in titles.iter().enumerate() {
            by_title
                .entry(title.trim().to_string())
                .or_insert(item as ItemId);
        }
        Self { generate, by_title }
    }

    /// The distinct hallucinated answers for `request`, in generation order: answers that name
    /// an item outside the candidates (and not the positive or the history), or no item at all.
    pub fn hallucinations(&self, request: &SampleRequest<'_>) -> Vec<HallucinatedNegative> {
        let exclusion = Exclusion::of(request);
        let candidates: HashSet<ItemId> = request.candidates.iter().copied().collect();
        let mut seen = HashSet::new();
        (self.generate)(request)
            .into_iter()
            .filter_map(|text| {
                let text = text.trim().to_string();
                if text.is_empty() || !seen.insert(text.clone()) {
                    return None;
                }
                match self.by_title.get(&text) {
                    Some(&item) if candidates.contains(&item) || exclusion.contains(item) => None,
                    Some(&item) => Some(HallucinatedNegative {
                        text,
                        item: Some(item),
                    }),
                    None => Some(HallucinatedNegative { text, item: None }),
                }
            })
            .collect()
    }
}

impl<G> NegativeSampler for HallucinationSampler<G>
where
    G: Fn(&SampleRequest<'_>) -> Vec<String> + Send + Sync,
{
    fn name(&self) -> &'static str {
        "hallucination"
    }

    fn sample(&self, request: &SampleRequest<'_>, rng: &mut dyn Rng) -> Result<Vec<ItemId>> {
        let pool: Vec<ItemId> = self
            .hallucinations(request)
            .into_iter()
            .filter_map(|h| h.item)
            .collect();
        draw_uniform(self.name(), pool, request.count, rng)
    }
}
