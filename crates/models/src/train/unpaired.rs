//! KTO on unpaired rows (a prompt, one completion, desirable or not): each completion is scored
//! beside a mismatched one — another row's completion after this row's prompt — whose
//! policy/reference log-ratio is KTO's estimate of the KL reference point.
//!
//! The mismatched completions are chosen once, before training, as TRL's KTO trainer chooses
//! them: in dataset order, in blocks of the batch size, each row takes the completion of the
//! row before it in its block (the first row takes the block's last). Both completions share
//! the row's prompt, so one shared-prefix forward pass scores them.

use burn::tensor::{Bool, DType, Device, Tensor, TensorData};
use prefopt_objectives::Extra;
use prefopt_objectives::kto::{Kto, UnpairedLogps, UnpairedOutput};
use prefopt_objectives::numerics::{mask_to_host, to_host};

use super::Task;
use crate::error::{ModelError, Result};
use crate::scoring::{ScoringMode, score, score_in_chunks};
use crate::tokenizer::UnpairedExample;
use crate::transformer::Transformer;

/// For every row, the row whose completion is its mismatched (KL) completion.
pub fn kl_partners(rows: usize, batch_size: usize) -> Vec<usize> {
    let block = batch_size.max(1);
    (0..rows)
        .map(|i| {
            let start = i - i % block;
            let end = (start + block).min(rows);
            if i == start { end - 1 } else { i - 1 }
        })
        .collect()
}

/// `[completion, mismatched completion]` token sequences of every row.
pub fn kl_responses(examples: &[UnpairedExample], partners: &[usize]) -> Vec<[Vec<u32>; 2]> {
    examples
        .iter()
        .zip(partners)
        .map(|(e, &p)| [e.completion.clone(), examples[p].completion.clone()])
        .collect()
}

/// The frozen reference's log-probs of `[completion, mismatched completion]` per row, up to
/// `threads` batches at once.
pub fn unpaired_reference_logps(
    reference: &Transformer,
    examples: &[UnpairedExample],
    responses: &[[Vec<u32>; 2]],
    batch_size: usize,
    pad: u32,
    threads: usize,
) -> Result<Vec<[f64; 2]>> {
    let items: Vec<crate::scoring::ScoreItem<'_>> = examples
        .iter()
        .zip(responses)
        .map(|(e, r)| crate::scoring::ScoreItem {
            prompt: &e.prompt,
            responses: r.as_slice(),
        })
        .collect();
    let logps = score_in_chunks(
        reference,
        &items,
        batch_size,
        ScoringMode::SharedPrefix,
        None,
        pad,
        threads,
    )?;
    Ok(logps.into_iter().map(|r| [r[0], r[1]]).collect())
}

/// KTO (or APO-zero unpaired) training on unpaired rows.
pub struct UnpairedTask<'a> {
    pub examples: &'a [UnpairedExample],
    /// `[completion, mismatched completion]` of every row ([`kl_responses`]).
    pub responses: &'a [[Vec<u32>; 2]],
    pub objective: &'a Kto,
    /// The reference's log-probs of `responses`, or the rows' cached `ref_logp` first.
    pub reference: &'a [[f64; 2]],
    pub pad: u32,
}

fn floats(values: Vec<f64>, device: &Device, dtype: DType) -> Tensor<1> {
    let n = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [n]), (device, DType::F64)).cast(dtype)
}

impl UnpairedTask<'_> {
    /// The objective's input for rows `indices` (policy log-probs tracked, the mismatched ones
    /// detached), and the policy's completion log-probs.
    pub fn logps(&self, model: &Transformer, indices: &[usize]) -> Result<UnpairedLogps> {
        let items = indices
            .iter()
            .map(|&i| {
                let (example, responses) = self
                    .examples
                    .get(i)
                    .zip(self.responses.get(i))
                    .ok_or_else(|| ModelError::example(i, "no such example"))?;
                Ok(crate::scoring::ScoreItem {
                    prompt: &example.prompt,
                    responses: responses.as_slice(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let scores = score(model, &items, ScoringMode::SharedPrefix, None, self.pad)?;
        let n = indices.len();
        let device = scores.logps.device();
        let dtype = scores.logps.dtype();
        let policy = scores.logps.clone().narrow(1, 0, 1).reshape([n]);
        let kl_policy = scores.logps.narrow(1, 1, 1).reshape([n]).detach();
        let reference = |slot: usize| -> Result<Tensor<1>> {
            let values = indices
                .iter()
                .map(|&i| {
                    self.reference
                        .get(i)
                        .map(|r| r[slot])
                        .ok_or_else(|| ModelError::example(i, "no reference log-probs"))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(floats(values, &device, dtype))
        };
        let labels: Vec<bool> = indices.iter().map(|&i| self.examples[i].label).collect();
        let desirable = Tensor::<1, Bool>::from_data(TensorData::new(labels, [n]), &device);
        Ok(UnpairedLogps {
            policy,
            reference: reference(0)?,
            desirable,
            prompt_embeddings: None,
            kl_policy: Some(kl_policy),
            kl_reference: Some(reference(1)?),
        })
    }
}

/// KTO's logged metrics under TRL's names: means over the desirable (`chosen`) and undesirable
/// (`rejected`) rows of the batch, their margin, and the KL estimate.
pub fn unpaired_metrics(input: &UnpairedLogps, output: &UnpairedOutput) -> Vec<(String, f64)> {
    let rewards = to_host(&output.rewards);
    let logps = to_host(&input.policy);
    let labels = mask_to_host(&input.desirable);
    let loss = to_host(&output.loss).first().copied().unwrap_or(f64::NAN);
    let kl = match output.extras.get("kl") {
        Some(Extra::Scalar(x)) => to_host(x).first().copied(),
        _ => None,
    };
    let mean = |values: &[f64], label: bool| -> Option<f64> {
        let picked: Vec<f64> = values
            .iter()
            .zip(&labels)
            .filter(|(_, l)| **l == label)
            .map(|(v, _)| *v)
            .collect();
        (!picked.is_empty()).then(|| picked.iter().sum::<f64>() / picked.len() as f64)
    };
    let mut values = vec![("loss".to_string(), loss)];
    let chosen = mean(&rewards, true);
    let rejected = mean(&rewards, false);
    for (name, value) in [
        ("rewards/chosen", chosen),
        ("rewards/rejected", rejected),
        ("logps/chosen", mean(&logps, true)),
        ("logps/rejected", mean(&logps, false)),
        ("rewards/margins", chosen.zip(rejected).map(|(c, r)| c - r)),
        ("kl", kl),
    ] {
        if let Some(v) = value {
            values.push((name.to_string(), v));
        }
    }
    values
}

impl Task<Transformer> for UnpairedTask<'_> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    fn loss(
        &self,
        model: &Transformer,
        indices: &[usize],
    ) -> Result<(Tensor<1>, Vec<(String, f64)>)> {
        let input = self.logps(model, indices)?;
        let output = self.objective.compute_unpaired(&input)?;
        let metrics = unpaired_metrics(&input, &output);
        Ok((output.loss, metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_takes_the_previous_completion_of_its_block() {
        assert_eq!(kl_partners(5, 2), vec![1, 0, 3, 2, 4]);
        assert_eq!(kl_partners(3, 8), vec![2, 0, 1]);
        assert_eq!(kl_partners(1, 1), vec![0]);
    }
}
