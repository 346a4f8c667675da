//! Unpaired RPO's training task: single responses tagged chosen or rejected.

use burn::tensor::{Bool, DType, Tensor, TensorData};
use prefopt_models::ModelError;
use prefopt_models::scoring::{ScoringMode, items_of, score};
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::Task;
use prefopt_models::transformer::Transformer;
use prefopt_objectives::kto::UnpairedLogps;
use prefopt_objectives::personal::rpo::Rpo;

/// Unpaired RPO: single (prompt, response) examples tagged chosen or rejected, batched as they
/// come (so a batch's chosen and rejected responses mostly belong to different prompts). A
/// batch without both sides has a loss of 0 (the official trainer's constant), detached so the
/// trainer skips it rather than stepping the optimizer on zero gradients.
pub struct UnpairedRpoTask<'a> {
    /// One response per example.
    pub examples: &'a [EncodedExample],
    pub desirable: &'a [bool],
    pub reference: &'a [f64],
    pub embeddings: &'a [Vec<f64>],
    pub objective: Rpo,
    pub pad: u32,
}

impl Task<Transformer> for UnpairedRpoTask<'_> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    fn loss(
        &self,
        model: &Transformer,
        indices: &[usize],
    ) -> prefopt_models::Result<(Tensor<1>, Vec<(String, f64)>)> {
        let items = items_of(self.examples, indices)?;
        let scores = score(model, &items, ScoringMode::SharedPrefix, None, self.pad)?;
        let n = indices.len();
        let device = scores.logps.device();
        let dtype = scores.logps.dtype();
        let floats = |values: Vec<f64>, shape: [usize; 2]| {
            Tensor::<2>::from_data(TensorData::new(values, shape), (&device, DType::F64))
                .cast(dtype)
        };
        let width = self.embeddings.first().map_or(0, Vec::len);
        let desirable: Vec<bool> = indices.iter().map(|&i| self.desirable[i]).collect();
        let one_sided = desirable.iter().all(|&d| d) || !desirable.iter().any(|&d| d);
        let input = UnpairedLogps {
            policy: scores.logps.narrow(1, 0, 1).reshape([n]),
            reference: floats(indices.iter().map(|&i| self.reference[i]).collect(), [n, 1])
                .reshape([n]),
            desirable: Tensor::<1, Bool>::from_data(TensorData::new(desirable, [n]), &device),
            prompt_embeddings: Some(floats(
                indices
                    .iter()
                    .flat_map(|&i| self.embeddings[i].iter().copied())
                    .collect(),
                [n, width],
            )),
            kl_policy: None,
            kl_reference: None,
        };
        let output = self
            .objective
            .compute_unpaired(&input)
            .map_err(ModelError::from)?;
        // The objective's 0 for a one-sided batch stays attached to the graph (zero gradients);
        // detached, the trainer skips the batch instead of taking an optimizer step on zeros.
        let loss = if one_sided {
            output.loss.detach()
        } else {
            output.loss
        };
        Ok((loss, Vec::new()))
    }
}
