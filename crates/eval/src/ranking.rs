//! Metrics of a ranked candidate set with one relevant item (the target), as the S-DPO,
//! DMPO and RosePO protocols use them (`docs/methods/rec.md` §1): candidates are ranked by score,
//! descending, and ties count against the target (it ranks below every candidate scoring the
//! same, and below any NaN score).

use crate::error::{EvalError, Result};

/// 1-based pessimistic rank of `target` among `scores`.
pub fn target_rank(scores: &[f64], target: usize, example: usize) -> Result<usize> {
    if scores.is_empty() {
        return Err(EvalError::EmptyCandidates { example });
    }
    let own = *scores.get(target).ok_or(EvalError::TargetOutOfRange {
        example,
        target,
        candidates: scores.len(),
    })?;
    if own.is_nan() {
        return Ok(scores.len());
    }
    Ok(1 + scores
        .iter()
        .enumerate()
        .filter(|&(i, &s)| i != target && (s >= own || s.is_nan()))
        .count())
}

/// HitRatio@K of one example: 1 if the target ranks in the top K.
pub fn hit_at(rank: usize, k: usize) -> f64 {
    f64::from(u8::from(rank <= k))
}

/// NDCG@K with one relevant item (ideal DCG 1): `1 / log2(rank + 1)` inside the top K, else 0.
pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank <= k {
        1.0 / ((rank + 1) as f64).log2()
    } else {
        0.0
    }
}

/// Reciprocal rank `1 / rank` (MRR is its mean).
pub fn reciprocal_rank(rank: usize) -> f64 {
    1.0 / rank as f64
}

/// Recall@K with several relevant items: the share of the relevant candidates ranked in the
/// top K (each ranked pessimistically against all other candidates). With one relevant item it
/// equals HitRatio@K.
pub fn recall_at(scores: &[f64], relevant: &[usize], k: usize, example: usize) -> Result<f64> {
    if relevant.is_empty() {
        return Err(EvalError::InvalidParameter(format!(
            "example {example}: Recall@K needs at least one relevant candidate"
        )));
    }
    let mut hits = 0usize;
    for &target in relevant {
        if target_rank(scores, target, example)? <= k {
            hits += 1;
        }
    }
    Ok(hits as f64 / relevant.len() as f64)
}

/// Per-example ranking metrics at the given cut-offs.
#[derive(Clone, Debug, PartialEq)]
pub struct RankingMetrics {
    pub ranks: Vec<usize>,
}

impl RankingMetrics {
    /// Ranks every example's target; `scores[i]` are example i's candidate scores.
    pub fn new(scores: &[Vec<f64>], targets: &[usize]) -> Result<Self> {
        if scores.len() != targets.len() {
            return Err(EvalError::LengthMismatch {
                what: "candidate score lists and targets",
                left: scores.len(),
                right: targets.len(),
            });
        }
        let ranks = scores
            .iter()
            .zip(targets)
            .enumerate()
            .map(|(i, (s, &t))| target_rank(s, t, i))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { ranks })
    }

    /// Per-example HitRatio@K values.
    pub fn hit_ratio(&self, k: usize) -> Vec<f64> {
        self.ranks.iter().map(|&r| hit_at(r, k)).collect()
    }

    /// Per-example NDCG@K values.
    pub fn ndcg(&self, k: usize) -> Vec<f64> {
        self.ranks.iter().map(|&r| ndcg_at(r, k)).collect()
    }

    /// Per-example reciprocal ranks.
    pub fn reciprocal_ranks(&self) -> Vec<f64> {
        self.ranks.iter().map(|&r| reciprocal_rank(r)).collect()
    }
}

/// Mean NDCG@K over `users` rows of `candidates` scores each (row-major, f32), the target of row
/// u at `targets[u]`: the W4 workload, one pass over the scores without allocation.
pub fn mean_ndcg_at_k(scores: &[f32], candidates: usize, targets: &[u32], k: usize) -> Result<f64> {
    if candidates == 0 {
        return Err(EvalError::EmptyCandidates { example: 0 });
    }
    if scores.len() != candidates * targets.len() {
        return Err(EvalError::LengthMismatch {
            what: "scores and users × candidates",
            left: scores.len(),
            right: candidates * targets.len(),
        });
    }
    if targets.is_empty() {
        return Err(EvalError::Empty("NDCG"));
    }
    let discounts: Vec<f64> = (1..=k).map(|r| 1.0 / ((r + 1) as f64).log2()).collect();
    let mut total = 0.0;
    for (user, (row, &target)) in scores.chunks_exact(candidates).zip(targets).enumerate() {
        let target = target as usize;
        let own = *row.get(target).ok_or(EvalError::TargetOutOfRange {
            example: user,
            target,
            candidates,
        })?;
        if own.is_nan() {
            continue;
        }
        // Pessimistic: every other candidate scoring at least as high (or NaN) ranks above. The
        // branch-free count includes the target itself once (its own score is not NaN here),
        // and vectorizes.
        let at_least: u32 = row
            .iter()
            .map(|&s| u32::from((s >= own) | s.is_nan()))
            .sum();
        let above = at_least as usize - 1;
        if above < k {
            total += discounts[above];
        }
    }
    Ok(total / targets.len() as f64)
}
