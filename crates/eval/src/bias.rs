//! Popularity bias of top-1 recommendations (`docs/methods/rec.md` §1, a decision of this project:
//! the papers' exact definitions were not published). `pop(item)` is the item's training
//! interaction count.

use serde::Serialize;

use crate::error::{EvalError, Result};

/// Popularity measures of a set of top-1 recommendations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PopularityBias {
    /// Mean pop of the recommended items.
    pub mean_popularity: f64,
    /// The same divided by the catalog's mean pop (1 = no preference for popular items).
    pub relative_popularity: f64,
    /// Mean pop of the targets, for comparison.
    pub target_mean_popularity: f64,
    /// Share of recommendations in the head: the most popular 20% of the catalog.
    pub head_share: f64,
    /// Gini index of how often each catalog item is recommended (0 = every item equally often,
    /// → 1 = one item always).
    pub gini: f64,
    /// Share of the catalog recommended at least once.
    pub coverage: f64,
}

/// `popularity[i]` is item i's training count; `recommended` and `targets` are item ids.
pub fn popularity_bias(
    popularity: &[u64],
    recommended: &[usize],
    targets: &[usize],
) -> Result<PopularityBias> {
    let catalog = popularity.len();
    if catalog == 0 {
        return Err(EvalError::Empty("catalog popularity"));
    }
    if recommended.is_empty() {
        return Err(EvalError::Empty("recommendations"));
    }
    if let Some(&item) = recommended.iter().chain(targets).find(|&&i| i >= catalog) {
        return Err(EvalError::InvalidParameter(format!(
            "item {item} is outside the catalog of {catalog} items"
        )));
    }
    let mean = |items: &[usize]| {
        items.iter().map(|&i| popularity[i] as f64).sum::<f64>() / items.len().max(1) as f64
    };
    let catalog_mean = popularity.iter().map(|&p| p as f64).sum::<f64>() / catalog as f64;
    let mean_popularity = mean(recommended);
    // Head: the ceil(20%) most popular items, ties broken by id for determinism.
    let mut order: Vec<usize> = (0..catalog).collect();
    order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
    let head_size = catalog.div_ceil(5);
    let mut in_head = vec![false; catalog];
    for &i in &order[..head_size] {
        in_head[i] = true;
    }
    let head_share =
        recommended.iter().filter(|&&i| in_head[i]).count() as f64 / recommended.len() as f64;
    let mut counts = vec![0u64; catalog];
    for &i in recommended {
        counts[i] += 1;
    }
    let coverage = counts.iter().filter(|&&c| c > 0).count() as f64 / catalog as f64;
    Ok(PopularityBias {
        mean_popularity,
        relative_popularity: if catalog_mean > 0.0 {
            mean_popularity / catalog_mean
        } else {
            f64::NAN
        },
        target_mean_popularity: if targets.is_empty() {
            f64::NAN
        } else {
            mean(targets)
        },
        head_share,
        gini: gini(&counts),
        coverage,
    })
}

/// Gini index of non-negative counts: `Σ_i (2i − n − 1) x_(i) / (n Σ x)` over the sorted
/// values (0 for all-equal; (n−1)/n when one value holds everything).
pub fn gini(counts: &[u64]) -> f64 {
    let n = counts.len();
    let total: u64 = counts.iter().sum();
    if n == 0 || total == 0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| (2.0 * (i + 1) as f64 - n as f64 - 1.0) * x as f64)
        .sum();
    weighted / (n as f64 * total as f64)
}
