//! Supervised fine-tuning on the chosen responses: token-mean negative log-likelihood of the
//! response given the prompt (prompt tokens are context, not targets, as in TRL's SFT with
//! completion-only loss).

use burn::tensor::Tensor;

use super::Task;
use crate::error::Result;
use crate::scoring::{ScoringMode, items_of, score};
use crate::tokenizer::EncodedExample;
use crate::transformer::Transformer;

/// SFT over encoded examples (their first response is the target).
pub struct SftTask<'a> {
    pub examples: &'a [EncodedExample],
    pub pad: u32,
}

impl Task<Transformer> for SftTask<'_> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    fn loss(
        &self,
        model: &Transformer,
        indices: &[usize],
    ) -> Result<(Tensor<1>, Vec<(String, f64)>)> {
        // SFT learns the chosen response only.
        let mut items = items_of(self.examples, indices)?;
        for item in &mut items {
            item.responses = &item.responses[..1.min(item.responses.len())];
        }
        let scores = score(model, &items, ScoringMode::SharedPrefix, None, self.pad)?;
        let tokens: usize = scores.lengths.iter().sum();
        let nll = scores
            .token_logps
            .sum()
            .neg()
            .mul_scalar(1.0 / tokens as f64);
        Ok((nll, vec![("tokens".to_string(), tokens as f64)]))
    }
}
