//! Ranking a candidate set: each candidate is scored as a response to the prompt (sequence
//! log-prob, all candidates sharing the prompt in one row). The metrics of the ranking
//! (HitRatio@K, NDCG@K, MRR with ties against the target) are `prefopt-eval`'s.

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
            .map_err(|e| ModelError::device_read("scores", e))?;
        for (row, item) in items.iter().enumerate() {
            let start = row * scores.responses;
            out.push(values[start..start + item.responses.len()].to_vec());
        }
    }
    Ok(out)
}
