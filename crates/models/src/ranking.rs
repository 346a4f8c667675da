//! Ranking a candidate set: each candidate is scored as a response to the prompt (sequence
//! log-prob, all candidates sharing the prompt in one row). The metrics of the ranking
//! (HitRatio@K, NDCG@K, MRR with ties against the target) are `prefopt-eval`'s.

use crate::error::{ModelError, Result};
use crate::scoring::{ScoreItem, ScoringMode, score_in_chunks};
use crate::tokenizer::EncodedExample;
use crate::transformer::Transformer;

/// Candidate scores of every example that has a candidate set, `batch_size` prompts at a time
/// and up to `threads` batches at once (the same scores whatever `threads` is). Returns, per
/// example, the log-prob of each candidate in prompt order.
pub fn candidate_scores(
    model: &Transformer,
    examples: &[EncodedExample],
    batch_size: usize,
    pad: u32,
    threads: usize,
) -> Result<Vec<Vec<f64>>> {
    let items = examples
        .iter()
        .enumerate()
        .map(|(i, example)| {
            let candidates = example.candidates.as_ref().ok_or_else(|| {
                ModelError::example(i, "no candidate set to rank (candidate_items column)")
            })?;
            Ok(ScoreItem {
                prompt: &example.prompt,
                responses: &candidates.responses,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    score_in_chunks(
        model,
        &items,
        batch_size,
        ScoringMode::SharedPrefix,
        None,
        pad,
        threads,
    )
}
