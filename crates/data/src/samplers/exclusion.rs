//! The set of items a draw must avoid: the positive, the history, and what was already drawn.

use std::collections::HashSet;

use super::SampleRequest;
use crate::schema::ItemId;

#[derive(Debug, Clone)]
pub(crate) struct Exclusion {
    items: HashSet<ItemId>,
}

impl Exclusion {
    pub fn of(request: &SampleRequest<'_>) -> Self {
        let mut items = HashSet::with_capacity(request.history.len() + request.count + 1);
        items.insert(request.positive);
        items.extend(request.history.iter().copied());
        Self { items }
    }

    pub fn contains(&self, item: ItemId) -> bool {
        self.items.contains(&item)
    }

    /// Adds `item`; false when it was already excluded.
    pub fn insert(&mut self, item: ItemId) -> bool {
        self.items.insert(item)
    }

    /// How many excluded items fall in the catalog `0..n`.
    pub fn count_within(&self, n: usize) -> usize {
        self.items
            .iter()
            .filter(|&&item| item >= 0 && (item as u64) < n as u64)
            .count()
    }

    /// The distinct items of `pool` that are not excluded, in pool order.
    pub fn filter(&self, pool: &[ItemId]) -> Vec<ItemId> {
        let mut seen = HashSet::with_capacity(pool.len());
        pool.iter()
            .copied()
            .filter(|&item| !self.contains(item) && seen.insert(item))
            .collect()
    }
}
