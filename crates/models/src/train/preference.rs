//! Preference training: the policy scores the chosen and K rejected responses of each prompt
//! (sharing the prompt), the frozen reference's log-probs come from a cache filled once before
//! training, and any [`Objective`] turns them into a loss.

use burn::tensor::{Bool, DType, Device, Tensor, TensorData};
use prefopt_objectives::{Objective, PreferenceLogps, TokenLogps};

use super::Task;
use crate::error::{ModelError, Result};
use crate::scoring::{ScoreItem, Scores, ScoringMode, items_of, score, score_in_chunks};
use crate::tokenizer::EncodedExample;
use crate::transformer::Transformer;

/// Reference log-probs of `[chosen, rejected…]` for every training example.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceLogps(pub Vec<Vec<f64>>);

impl ReferenceLogps {
    /// The dataset's cached `ref_*` columns, when every example carries them.
    pub fn from_examples(examples: &[EncodedExample]) -> Option<Self> {
        examples
            .iter()
            .map(|e| e.reference.clone())
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }
}

impl ReferenceLogps {
    /// Stores the cached log-probs in the records' `ref_chosen_logp` / `ref_rejected_logps`
    /// columns (write them back with `prefopt_data::PreferenceWriter`, `Columns` with both
    /// set), so a later run reads them instead of running the reference model again.
    pub fn attach(&self, records: &mut [prefopt_data::PreferenceRecord]) -> Result<()> {
        if records.len() != self.0.len() {
            return Err(ModelError::InvalidConfig(format!(
                "{} reference rows for {} records",
                self.0.len(),
                records.len()
            )));
        }
        for (index, (record, logps)) in records.iter_mut().zip(&self.0).enumerate() {
            if logps.len() != record.rejected.len() + 1 {
                return Err(ModelError::example(
                    index,
                    format!(
                        "{} reference log-probs for {} responses",
                        logps.len(),
                        record.rejected.len() + 1
                    ),
                ));
            }
            record.ref_chosen_logp = Some(logps[0]);
            record.ref_rejected_logps = Some(logps[1..].to_vec());
        }
        Ok(())
    }
}

/// Runs the (frozen) reference model once over every example, `batch_size` prompts at a time,
/// up to `threads` batches at once (the same values whatever `threads` is).
/// Pass the model without autodiff (`model.valid()`): no graph is built.
pub fn reference_logps(
    reference: &Transformer,
    examples: &[EncodedExample],
    batch_size: usize,
    mode: ScoringMode,
    pad: u32,
    threads: usize,
) -> Result<ReferenceLogps> {
    let items: Vec<ScoreItem<'_>> = examples.iter().map(ScoreItem::of).collect();
    let logps = score_in_chunks(reference, &items, batch_size, mode, None, pad, threads)?;
    Ok(ReferenceLogps(logps))
}

/// Preference optimisation of a policy with any objective.
pub struct PreferenceTask<'a> {
    pub examples: &'a [EncodedExample],
    pub objective: &'a dyn Objective,
    /// `None` for reference-free objectives (SimPO, CPO, ORPO).
    pub reference: Option<&'a ReferenceLogps>,
    pub mode: ScoringMode,
    pub pad: u32,
    /// Graded labels of `[chosen, rejected…]` per example, higher is better (LiPO-λ's listwise
    /// input; e.g. a conventional recommender's ranking of the candidates).
    pub list_labels: Option<&'a [Vec<f64>]>,
    /// One embedding per example (RPO's prompt similarity), all of one width; constants.
    pub prompt_embeddings: Option<&'a [Vec<f64>]>,
}

impl Task<Transformer> for PreferenceTask<'_> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    fn loss(
        &self,
        model: &Transformer,
        indices: &[usize],
    ) -> Result<(Tensor<1>, Vec<(String, f64)>)> {
        self.loss_with_soft_tokens(model, indices, None)
    }
}

impl<'a> PreferenceTask<'a> {
    /// The loss of the batch `indices` with `soft_tokens` (`[batch, T, d]`, row `i` for
    /// `indices[i]`) placed before every response's prompt: the hook through which a model
    /// that conditions the policy (P-DPO's user model) trains with this task unchanged.
    pub fn loss_with_soft_tokens(
        &self,
        model: &Transformer,
        indices: &[usize],
        soft_tokens: Option<Tensor<3>>,
    ) -> Result<(Tensor<1>, Vec<(String, f64)>)> {
        let batch = items_of(self.examples, indices)?;
        if let Some((row, _)) = batch
            .iter()
            .enumerate()
            .find(|(_, item)| item.responses.len() < 2)
        {
            return Err(ModelError::example(
                indices[row],
                "a preference example needs a chosen and at least one rejected response",
            ));
        }
        let scores = score(model, &batch, self.mode, soft_tokens, self.pad)?;
        let input = self.logps(&scores, indices)?;
        let output = self.objective.compute(&input)?;
        let mut metrics = output.metrics().values;
        metrics.extend(policy_logp_means(&scores));
        Ok((output.loss.clone(), metrics))
    }

    /// A task that scores with the shared prompt (switch with `mode` for the naive reference).
    pub fn new(
        examples: &'a [EncodedExample],
        objective: &'a dyn Objective,
        reference: Option<&'a ReferenceLogps>,
        pad: u32,
    ) -> Self {
        Self {
            examples,
            objective,
            reference,
            mode: ScoringMode::SharedPrefix,
            pad,
            list_labels: None,
            prompt_embeddings: None,
        }
    }

    /// Passes prompt embeddings to objectives that weigh pairs across prompts (RPO): one row per
    /// example (from the dataset's `prompt_embedding` column, or
    /// [`crate::transformer::Transformer::mean_prompt_states`]).
    pub fn with_prompt_embeddings(mut self, embeddings: &'a [Vec<f64>]) -> Self {
        self.prompt_embeddings = Some(embeddings);
        self
    }

    /// Passes graded labels to listwise objectives (one row per example, `[chosen, rejected…]`).
    pub fn with_list_labels(mut self, labels: &'a [Vec<f64>]) -> Self {
        self.list_labels = Some(labels);
        self
    }

    /// Assembles the objective's input from the policy's scores and the cached extras.
    pub fn logps(&self, scores: &Scores, indices: &[usize]) -> Result<PreferenceLogps> {
        let [b, r] = [scores.batch, scores.responses];
        if r < 2 {
            return Err(ModelError::InvalidConfig(
                "preference scores need a chosen and at least one rejected response".into(),
            ));
        }
        let k = r - 1;
        let device = scores.logps.device();
        let dtype = scores.logps.dtype();
        let chosen = scores.logps.clone().narrow(1, 0, 1).reshape([b]);
        let rejected = scores.logps.clone().narrow(1, 1, k);
        let lengths = scores.lengths_tensor();
        let mut input = PreferenceLogps::new(chosen, rejected).with_lengths(
            lengths.clone().narrow(1, 0, 1).reshape([b]),
            lengths.narrow(1, 1, k),
        );
        let examples: Vec<&EncodedExample> = indices
            .iter()
            .map(|&i| {
                self.examples
                    .get(i)
                    .ok_or_else(|| ModelError::example(i, "no such example"))
            })
            .collect::<Result<_>>()?;
        if examples.iter().any(|e| e.responses.len() != r) {
            input = input.with_rejected_mask(scores.present.clone().narrow(1, 1, k));
        }
        if let Some(reference) = self.reference {
            let rows: Vec<&Vec<f64>> = indices
                .iter()
                .map(|&i| {
                    reference.0.get(i).ok_or_else(|| {
                        ModelError::example(i, "no reference log-probs for this example")
                    })
                })
                .collect::<Result<_>>()?;
            let grid = padded(&rows, r);
            let full = float_tensor::<2>(grid, [b, r], &device, dtype);
            input = input.with_reference(
                full.clone().narrow(1, 0, 1).reshape([b]),
                full.narrow(1, 1, k),
            );
        }
        if let Some(weights) = examples
            .iter()
            .map(|e| e.weight.map(f64::from))
            .collect::<Option<Vec<_>>>()
        {
            input = input.with_weights(float_tensor::<1>(weights, [b], &device, dtype));
        }
        if let Some(smoothing) = examples
            .iter()
            .map(|e| e.smoothing.map(f64::from))
            .collect::<Option<Vec<_>>>()
        {
            let grid: Vec<f64> = smoothing
                .iter()
                .flat_map(|&s| std::iter::repeat_n(s, k))
                .collect();
            input = input.with_smoothing(float_tensor::<2>(grid, [b, k], &device, dtype));
        }
        if let Some(users) = examples
            .iter()
            .map(|e| e.user.map(|u| u.max(0) as u64))
            .collect::<Option<Vec<_>>>()
        {
            input = input.with_user_ids(users);
        }
        if let Some(labels) = self.list_labels {
            let rows: Vec<&Vec<f64>> = indices
                .iter()
                .map(|&i| {
                    labels
                        .get(i)
                        .filter(|row| row.len() == self.examples[i].responses.len())
                        .ok_or_else(|| {
                            ModelError::example(
                                i,
                                "no list labels (one per response) for this example",
                            )
                        })
                })
                .collect::<Result<_>>()?;
            let grid = padded(&rows, r);
            input = input.with_list_labels(float_tensor::<2>(grid, [b, r], &device, dtype));
        }
        if let Some(embeddings) = self.prompt_embeddings {
            let rows: Vec<&Vec<f64>> = indices
                .iter()
                .map(|&i| {
                    embeddings
                        .get(i)
                        .ok_or_else(|| ModelError::example(i, "no prompt embedding"))
                })
                .collect::<Result<_>>()?;
            let width = rows.first().map_or(0, |r| r.len());
            if let Some(position) = rows.iter().position(|r| r.len() != width || width == 0) {
                return Err(ModelError::example(
                    indices[position],
                    format!(
                        "a prompt embedding of {} values, others have {width}",
                        rows[position].len()
                    ),
                ));
            }
            let grid: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
            input =
                input.with_prompt_embeddings(float_tensor::<2>(grid, [b, width], &device, dtype));
        }
        let l = scores.token_logps.dims()[2];
        let tokens = scores.token_logps.clone();
        let mask: Tensor<3, Bool> = scores.token_mask.clone();
        input = input.with_tokens(TokenLogps {
            chosen: tokens.clone().narrow(1, 0, 1).reshape([b, l]),
            chosen_mask: mask.clone().narrow(1, 0, 1).reshape([b, l]),
            rejected: tokens.narrow(1, 1, k),
            rejected_mask: mask.narrow(1, 1, k),
            chosen_log_sum_sq_probs: None,
            rejected_log_sum_sq_probs: None,
        });
        Ok(input)
    }
}

/// TRL's `logps/chosen` and `logps/rejected`: the policy's mean sequence log-probs of the
/// chosen and of the (present) rejected responses.
pub fn policy_logp_means(scores: &Scores) -> Vec<(String, f64)> {
    let values: Vec<f64> = scores
        .logps
        .to_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap_or_default();
    let (mut chosen, mut rejected, mut count) = (0.0, 0.0, 0usize);
    for b in 0..scores.batch {
        for r in 0..scores.responses {
            let index = b * scores.responses + r;
            if scores.lengths.get(index).is_none_or(|&l| l == 0) {
                continue;
            }
            if r == 0 {
                chosen += values.get(index).copied().unwrap_or(0.0);
            } else {
                rejected += values.get(index).copied().unwrap_or(0.0);
                count += 1;
            }
        }
    }
    vec![
        ("logps/chosen".into(), chosen / scores.batch.max(1) as f64),
        ("logps/rejected".into(), rejected / count.max(1) as f64),
    ]
}

fn padded(rows: &[&Vec<f64>], width: usize) -> Vec<f64> {
    rows.iter()
        .flat_map(|row| (0..width).map(|j| row.get(j).copied().unwrap_or(0.0)))
        .collect()
}

fn float_tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::<D>::from_data(TensorData::new(values, shape), (device, DType::F64)).cast(dtype)
}
