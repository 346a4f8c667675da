//! Ranking a candidate set: each candidate is scored as a response to the prompt (sequence
//! log-prob, all candidates sharing the prompt in one row), and the target's rank is read off.

use crate::error::{ModelError, Result};
use crate::scoring::{ScoreItem, ScoringMode, score};
use crate::tokenizer::EncodedExample;
use crate::transformer::Transformer;

/// Candidate scores of every example that has a candidate set, `batch_size` prompts at a time.
/// Returns, per example, the log-prob of each candidate in prompt order.
pub fn candidate_scores(
    model: &Transformer,
    examples: &[EncodedExample],
    batch_size: usize,
    pad: u32,
) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(examples.len());
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items = chunk
            .iter()
            .map(|&i| {
                let candidates = examples[i].candidates.as_ref().ok_or_else(|| {
                    ModelError::example(i, "no candidate set to rank (candidate_items column)")
                })?;
                Ok(ScoreItem {
                    prompt: &examples[i].prompt,
                    responses: &candidates.responses,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let scores = score(model, &items, ScoringMode::SharedPrefix, None, pad)?;
        let values: Vec<f64> = scores
            .logps
            .to_data()
            .convert::<f64>()
            .try_to_vec()
            .map_err(|e| ModelError::InvalidConfig(format!("reading scores: {e:?}")))?;
        for (row, item) in items.iter().enumerate() {
            let start = row * scores.responses;
            out.push(values[start..start + item.responses.len()].to_vec());
        }
    }
    Ok(out)
}

/// 1-based rank of the target among the scores, ties counted against it (a candidate scoring
/// the same as the target ranks above it); `None` when `target` is not an index of `scores`.
pub fn pessimistic_rank(scores: &[f64], target: usize) -> Option<usize> {
    let own = *scores.get(target)?;
    Some(
        1 + scores
            .iter()
            .enumerate()
            .filter(|&(i, &s)| i != target && (s >= own || s.is_nan()))
            .count(),
    )
}

/// Fraction of examples whose target ranks first (HitRatio@1 over the candidate set).
pub fn hit_ratio_at_1(
    model: &Transformer,
    examples: &[EncodedExample],
    batch_size: usize,
    pad: u32,
) -> Result<f64> {
    let scores = candidate_scores(model, examples, batch_size, pad)?;
    if scores.is_empty() {
        return Err(ModelError::InvalidConfig("no examples to evaluate".into()));
    }
    let hits = scores
        .iter()
        .zip(examples)
        .filter(|(s, e)| {
            e.candidates
                .as_ref()
                .is_some_and(|c| pessimistic_rank(s, c.target) == Some(1))
        })
        .count();
    Ok(hits as f64 / scores.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::pessimistic_rank;

    #[test]
    fn ties_count_against_the_target() {
        assert_eq!(pessimistic_rank(&[0.5, 0.1, 0.2], 0), Some(1));
        assert_eq!(pessimistic_rank(&[0.5, 0.5, 0.2], 0), Some(2));
        assert_eq!(pessimistic_rank(&[0.1, 0.5, f64::NAN], 0), Some(3));
        assert_eq!(pessimistic_rank(&[0.1], 3), None);
    }
}
