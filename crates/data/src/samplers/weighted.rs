//! Drawing without replacement from small explicit pools.

use rand::{Rng, RngExt};

use crate::error::{DataError, Result};
use crate::schema::ItemId;

/// `count` items of `pool` uniformly without replacement, or `NotEnoughItems` for `sampler`.
pub(crate) fn draw_uniform(
    sampler: &'static str,
    pool: Vec<ItemId>,
    count: usize,
    rng: &mut dyn Rng,
) -> Result<Vec<ItemId>> {
    if count > pool.len() {
        return Err(DataError::NotEnoughItems {
            sampler,
            requested: count,
            available: pool.len(),
        });
    }
    Ok(uniform_without_replacement(pool, count, rng))
}

/// `count` items of `pool` uniformly without replacement (partial Fisher–Yates), in draw order.
pub(crate) fn uniform_without_replacement(
    mut pool: Vec<ItemId>,
    count: usize,
    rng: &mut dyn Rng,
) -> Vec<ItemId> {
    let count = count.min(pool.len());
    for i in 0..count {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(count);
    pool
}

/// `count` items drawn successively with probability ∝ weight among those not yet drawn
/// (Efraimidis–Spirakis keys `ln(u)/w`, the same distribution as repeated weighted draws).
/// Items of weight 0 are never drawn; the caller checks there are enough positive weights.
pub(crate) fn weighted_without_replacement(
    pool: &[ItemId],
    weights: &[f64],
    count: usize,
    rng: &mut dyn Rng,
) -> Vec<ItemId> {
    let mut keyed: Vec<(f64, ItemId)> = pool
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&item, &w)| {
            // u in (0, 1]: ln(u) is finite and ≤ 0; larger key wins.
            let u: f64 = 1.0 - rng.random::<f64>();
            (u.ln() / w, item)
        })
        .collect();
    let count = count.min(keyed.len());
    if count == 0 {
        return Vec::new();
    }
    keyed.select_nth_unstable_by(count - 1, |a, b| b.0.total_cmp(&a.0));
    keyed.truncate(count);
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().map(|(_, item)| item).collect()
}
