//! What a loss sees: sequence log-probs of one chosen and K rejected responses per prompt, plus
//! the optional extras some losses need. Nothing here knows about models or tokenizers.

use burn::tensor::{Bool, Tensor};

use crate::error::{ObjectiveError, Result};
use crate::numerics::{mask_to_host, to_host};

/// Per-token log-probs of the completions, padded on the right, for losses that weight tokens
/// (LD-DPO) or need per-token statistics (WPO).
#[derive(Clone, Debug)]
pub struct TokenLogps {
    /// `[B, T]` chosen completion token log-probs.
    pub chosen: Tensor<2>,
    /// `[B, T]` true on real (non-padding) chosen tokens.
    pub chosen_mask: Tensor<2, Bool>,
    /// `[B, K, T]` rejected completion token log-probs.
    pub rejected: Tensor<3>,
    /// `[B, K, T]` true on real rejected tokens.
    pub rejected_mask: Tensor<3, Bool>,
    /// `[B, T]` per-token `log Σ_v p_v²` of the chosen completions (WPO).
    pub chosen_log_sum_sq_probs: Option<Tensor<2>>,
    /// `[B, K, T]` the same for the rejected completions (WPO).
    pub rejected_log_sum_sq_probs: Option<Tensor<3>>,
}

/// Log-probs of the prompt tokens after the first one, for ORPO's NLL term, which (as TRL
/// computes it) runs over prompt and completion tokens of the chosen sequence.
#[derive(Clone, Debug)]
pub struct PromptLogps {
    /// `[B]` sum of the chosen sequence's prompt-token log-probs after position 0.
    pub sum: Tensor<1>,
    /// `[B]` how many prompt tokens that sum covers.
    pub count: Tensor<1>,
}

/// Log-probs of mismatched (prompt, completion) pairs, KTO's estimate of the KL term.
#[derive(Clone, Debug)]
pub struct KlLogps {
    /// `[M]` policy log-probs of the mismatched pairs (no gradient is taken through them).
    pub policy: Tensor<1>,
    /// `[M]` reference log-probs of the same pairs.
    pub reference: Tensor<1>,
}

/// Policy and reference log-probs of a batch of B prompts, each with one chosen and K rejected
/// responses (ragged K through `rejected_mask`), plus the optional inputs of specific losses.
///
/// Build it with [`PreferenceLogps::new`] and the `with_*` methods; [`PreferenceLogps::validate`]
/// checks shapes and values before any loss runs.
#[derive(Clone, Debug)]
pub struct PreferenceLogps {
    /// `[B]` policy sequence log-probs of the chosen responses.
    pub policy_chosen: Tensor<1>,
    /// `[B, K]` policy sequence log-probs of the rejected responses.
    pub policy_rejected: Tensor<2>,
    /// `[B]` reference log-probs of the chosen responses (constants).
    pub reference_chosen: Option<Tensor<1>>,
    /// `[B, K]` reference log-probs of the rejected responses (constants).
    pub reference_rejected: Option<Tensor<2>>,
    /// `[B, K]` true where the negative exists; `None` means every negative is valid.
    pub rejected_mask: Option<Tensor<2, Bool>>,
    /// `[B]` number of chosen completion tokens.
    pub chosen_lengths: Option<Tensor<1>>,
    /// `[B, K]` number of rejected completion tokens.
    pub rejected_lengths: Option<Tensor<2>>,
    /// `[B]` per-example weights (the dataset's `weight` column).
    pub weights: Option<Tensor<1>>,
    /// `[B, K]` per-pair label smoothing ε (RosePO's oracle output, the `smoothing` column).
    pub smoothing: Option<Tensor<2>>,
    /// `[B, E]` prompt embeddings (RPO).
    pub prompt_embeddings: Option<Tensor<2>>,
    /// User id of each example, 0 = the generic user (P-DPO).
    pub user_ids: Option<Vec<u64>>,
    /// `[B, K+1]` graded labels of `[chosen, rejected_1..K]`, higher = better (LiPO-λ).
    pub list_labels: Option<Tensor<2>>,
    /// Per-token log-probs (LD-DPO, WPO).
    pub tokens: Option<TokenLogps>,
    /// Prompt-token log-probs of the chosen sequences (ORPO).
    pub chosen_prompt: Option<PromptLogps>,
    /// Mismatched-pair log-probs (KTO).
    pub kl: Option<KlLogps>,
}

/// The sizes of a validated batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchDims {
    /// Prompts in the batch.
    pub batch: usize,
    /// Rejected slots per prompt (the padded K).
    pub negatives: usize,
}

impl PreferenceLogps {
    /// A batch with policy log-probs only; add the rest with the `with_*` methods.
    pub fn new(policy_chosen: Tensor<1>, policy_rejected: Tensor<2>) -> Self {
        Self {
            policy_chosen,
            policy_rejected,
            reference_chosen: None,
            reference_rejected: None,
            rejected_mask: None,
            chosen_lengths: None,
            rejected_lengths: None,
            weights: None,
            smoothing: None,
            prompt_embeddings: None,
            user_ids: None,
            list_labels: None,
            tokens: None,
            chosen_prompt: None,
            kl: None,
        }
    }

    /// A pairwise batch (K = 1) from `[B]` chosen and `[B]` rejected log-probs.
    pub fn pairwise(policy_chosen: Tensor<1>, policy_rejected: Tensor<1>) -> Self {
        let [batch] = policy_rejected.dims();
        Self::new(policy_chosen, policy_rejected.reshape([batch, 1]))
    }

    /// Adds reference log-probs; they are detached, as the reference model is frozen.
    pub fn with_reference(mut self, chosen: Tensor<1>, rejected: Tensor<2>) -> Self {
        self.reference_chosen = Some(chosen.detach());
        self.reference_rejected = Some(rejected.detach());
        self
    }

    /// Marks which of the K rejected slots exist.
    pub fn with_rejected_mask(mut self, mask: Tensor<2, Bool>) -> Self {
        self.rejected_mask = Some(mask);
        self
    }

    /// Adds completion lengths in tokens.
    pub fn with_lengths(mut self, chosen: Tensor<1>, rejected: Tensor<2>) -> Self {
        self.chosen_lengths = Some(chosen.detach());
        self.rejected_lengths = Some(rejected.detach());
        self
    }

    /// Adds per-example weights.
    pub fn with_weights(mut self, weights: Tensor<1>) -> Self {
        self.weights = Some(weights.detach());
        self
    }

    /// Adds per-pair label smoothing.
    pub fn with_smoothing(mut self, smoothing: Tensor<2>) -> Self {
        self.smoothing = Some(smoothing.detach());
        self
    }

    /// Adds prompt embeddings (constants).
    pub fn with_prompt_embeddings(mut self, embeddings: Tensor<2>) -> Self {
        self.prompt_embeddings = Some(embeddings.detach());
        self
    }

    /// Adds user ids (0 = generic user).
    pub fn with_user_ids(mut self, user_ids: Vec<u64>) -> Self {
        self.user_ids = Some(user_ids);
        self
    }

    /// Adds graded labels for `[chosen, rejected_1..K]`.
    pub fn with_list_labels(mut self, labels: Tensor<2>) -> Self {
        self.list_labels = Some(labels.detach());
        self
    }

    /// Adds per-token log-probs.
    pub fn with_tokens(mut self, tokens: TokenLogps) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Adds the chosen sequences' prompt-token log-probs.
    pub fn with_chosen_prompt(mut self, prompt: PromptLogps) -> Self {
        self.chosen_prompt = Some(prompt);
        self
    }

    /// Adds mismatched-pair log-probs for KTO's KL estimate.
    pub fn with_kl(mut self, kl: KlLogps) -> Self {
        self.kl = Some(kl);
        self
    }

    /// Batch size and padded number of negatives.
    pub fn dims(&self) -> BatchDims {
        let [batch, negatives] = self.policy_rejected.dims();
        BatchDims { batch, negatives }
    }

    /// Checks shapes, that every prompt has at least one valid negative, and that every value a
    /// loss reads is finite (masked slots are ignored). Returns the batch sizes.
    pub fn validate(&self) -> Result<BatchDims> {
        let dims = self.dims();
        let BatchDims { batch, negatives } = dims;
        if batch == 0 {
            return Err(shape_error(
                "policy_rejected",
                self.policy_rejected.dims().to_vec(),
                "[B, K] with B >= 1",
            ));
        }
        if negatives == 0 {
            return Err(shape_error(
                "policy_rejected",
                vec![batch, 0],
                "[B, K] with K >= 1 negatives",
            ));
        }
        let pair = format!("[{batch}, {negatives}]");
        let single = format!("[{batch}]");
        check_dims(
            "policy_chosen",
            &self.policy_chosen.dims(),
            &[batch],
            &single,
        )?;
        if let Some(x) = &self.reference_chosen {
            check_dims("reference_chosen", &x.dims(), &[batch], &single)?;
        }
        if let Some(x) = &self.reference_rejected {
            check_dims("reference_rejected", &x.dims(), &[batch, negatives], &pair)?;
        }
        if self.reference_chosen.is_some() != self.reference_rejected.is_some() {
            return Err(ObjectiveError::InvalidValue {
                input: "reference_chosen",
                position: "batch".into(),
                reason: "reference log-probs must be given for both chosen and rejected".into(),
            });
        }
        if let Some(mask) = &self.rejected_mask {
            check_dims("rejected_mask", &mask.dims(), &[batch, negatives], &pair)?;
        }
        if let Some(x) = &self.chosen_lengths {
            check_dims("chosen_lengths", &x.dims(), &[batch], &single)?;
        }
        if let Some(x) = &self.rejected_lengths {
            check_dims("rejected_lengths", &x.dims(), &[batch, negatives], &pair)?;
        }
        if let Some(x) = &self.weights {
            check_dims("weights", &x.dims(), &[batch], &single)?;
        }
        if let Some(x) = &self.smoothing {
            check_dims("smoothing", &x.dims(), &[batch, negatives], &pair)?;
        }
        if let Some(x) = &self.prompt_embeddings
            && x.dims()[0] != batch
        {
            return Err(shape_error(
                "prompt_embeddings",
                x.dims().to_vec(),
                &format!("[{batch}, E]"),
            ));
        }
        if let Some(ids) = &self.user_ids
            && ids.len() != batch
        {
            return Err(shape_error("user_ids", vec![ids.len()], &single));
        }
        if let Some(x) = &self.list_labels {
            check_dims(
                "list_labels",
                &x.dims(),
                &[batch, negatives + 1],
                &format!("[{batch}, {}]", negatives + 1),
            )?;
        }
        if let Some(tokens) = &self.tokens {
            let [b, t] = tokens.chosen.dims();
            check_dims("tokens.chosen", &[b], &[batch], &format!("[{batch}, T]"))?;
            check_dims(
                "tokens.chosen_mask",
                &tokens.chosen_mask.dims(),
                &[b, t],
                &format!("[{b}, {t}]"),
            )?;
            let [rb, rk, rt] = tokens.rejected.dims();
            check_dims(
                "tokens.rejected",
                &[rb, rk],
                &[batch, negatives],
                &format!("[{batch}, {negatives}, T]"),
            )?;
            check_dims(
                "tokens.rejected_mask",
                &tokens.rejected_mask.dims(),
                &[rb, rk, rt],
                &format!("[{rb}, {rk}, {rt}]"),
            )?;
            if let Some(x) = &tokens.chosen_log_sum_sq_probs {
                check_dims(
                    "tokens.chosen_log_sum_sq_probs",
                    &x.dims(),
                    &[b, t],
                    &format!("[{b}, {t}]"),
                )?;
            }
            if let Some(x) = &tokens.rejected_log_sum_sq_probs {
                check_dims(
                    "tokens.rejected_log_sum_sq_probs",
                    &x.dims(),
                    &[rb, rk, rt],
                    &format!("[{rb}, {rk}, {rt}]"),
                )?;
            }
        }
        if let Some(prompt) = &self.chosen_prompt {
            check_dims("chosen_prompt.sum", &prompt.sum.dims(), &[batch], &single)?;
            check_dims(
                "chosen_prompt.count",
                &prompt.count.dims(),
                &[batch],
                &single,
            )?;
        }
        if let Some(kl) = &self.kl
            && kl.policy.dims() != kl.reference.dims()
        {
            return Err(shape_error(
                "kl.reference",
                kl.reference.dims().to_vec(),
                &format!("{:?}", kl.policy.dims()),
            ));
        }
        // One device-side reduction answers "is anything invalid?" with a single read-back; the
        // host scan that names the input and position runs only when it is.
        if self.any_invalid_value() {
            self.locate_invalid_value(dims)?;
        }
        Ok(dims)
    }

    /// True when a value a loss reads is invalid: a prompt without a valid negative, a
    /// non-finite log-prob, weight, embedding or label, a negative length, or smoothing outside
    /// [0, 0.5]. Masked slots are ignored. Computed on the device, read back once.
    fn any_invalid_value(&self) -> bool {
        let mask = self.rejected_mask.as_ref();
        let valid = |bad: Tensor<2, Bool>| match mask {
            Some(m) => bad.bool_and(m.clone()),
            None => bad,
        };
        let non_finite_1 = |x: &Tensor<1>| x.clone().is_finite().bool_not().any();
        let non_finite_2 = |x: &Tensor<2>| x.clone().is_finite().bool_not().any();
        let mut flags = vec![
            non_finite_1(&self.policy_chosen),
            valid(self.policy_rejected.clone().is_finite().bool_not()).any(),
        ];
        if let Some(m) = mask {
            flags.push(m.clone().any_dim(1).bool_not().any());
        }
        if let Some(x) = &self.reference_chosen {
            flags.push(non_finite_1(x));
        }
        if let Some(x) = &self.reference_rejected {
            flags.push(valid(x.clone().is_finite().bool_not()).any());
        }
        if let Some(x) = &self.chosen_lengths {
            flags.push(
                x.clone()
                    .lower_elem(0.0)
                    .bool_or(x.clone().is_finite().bool_not())
                    .any(),
            );
        }
        if let Some(x) = &self.rejected_lengths {
            flags.push(
                valid(
                    x.clone()
                        .lower_elem(0.0)
                        .bool_or(x.clone().is_finite().bool_not()),
                )
                .any(),
            );
        }
        if let Some(x) = &self.smoothing {
            let outside = x
                .clone()
                .lower_elem(0.0)
                .bool_or(x.clone().greater_elem(0.5));
            flags.push(valid(outside.bool_or(x.clone().is_finite().bool_not())).any());
        }
        if let Some(x) = &self.weights {
            flags.push(non_finite_1(x));
        }
        if let Some(x) = &self.prompt_embeddings {
            flags.push(non_finite_2(x));
        }
        if let Some(x) = &self.list_labels {
            flags.push(non_finite_2(x));
        }
        Tensor::cat(flags, 0).any().into_scalar::<bool>()
    }

    /// The host scan behind [`Self::any_invalid_value`]: the first invalid value, with the
    /// input's name and its row (and column).
    fn locate_invalid_value(&self, dims: BatchDims) -> Result<()> {
        let BatchDims { negatives, .. } = dims;
        let mask = self.rejected_mask.as_ref().map(mask_to_host);
        if let Some(values) = &mask
            && let Some(row) = values
                .chunks(negatives)
                .position(|row| !row.iter().any(|&v| v))
        {
            return Err(ObjectiveError::InvalidValue {
                input: "rejected_mask",
                position: format!("row {row}"),
                reason: "every prompt needs at least one valid negative (K = 0)".into(),
            });
        }
        if let Some(x) = &self.chosen_lengths {
            check_lengths("chosen_lengths", &to_host(x), None)?;
        }
        if let Some(x) = &self.rejected_lengths {
            check_lengths("rejected_lengths", &to_host(x), mask.as_deref())?;
        }
        if let Some(x) = &self.smoothing {
            for (index, &eps) in to_host(x).iter().enumerate() {
                if is_valid(mask.as_deref(), index) && !(0.0..=0.5).contains(&eps) {
                    return Err(ObjectiveError::InvalidValue {
                        input: "smoothing",
                        position: position(index, negatives),
                        reason: format!("label smoothing {eps} is outside [0, 0.5]"),
                    });
                }
            }
        }
        check_finite("policy_chosen", &to_host(&self.policy_chosen), None, 1)?;
        check_finite(
            "policy_rejected",
            &to_host(&self.policy_rejected),
            mask.as_deref(),
            negatives,
        )?;
        if let Some(x) = &self.reference_chosen {
            check_finite("reference_chosen", &to_host(x), None, 1)?;
        }
        if let Some(x) = &self.reference_rejected {
            check_finite(
                "reference_rejected",
                &to_host(x),
                mask.as_deref(),
                negatives,
            )?;
        }
        if let Some(x) = &self.weights {
            check_finite("weights", &to_host(x), None, 1)?;
        }
        if let Some(x) = &self.prompt_embeddings {
            check_finite("prompt_embeddings", &to_host(x), None, x.dims()[1].max(1))?;
        }
        if let Some(x) = &self.list_labels {
            check_finite("list_labels", &to_host(x), None, negatives + 1)?;
        }
        Ok(())
    }
}

fn shape_error(input: &'static str, got: Vec<usize>, expected: &str) -> ObjectiveError {
    ObjectiveError::Shape {
        input,
        got,
        expected: expected.to_string(),
    }
}

fn check_dims(input: &'static str, got: &[usize], expected: &[usize], text: &str) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(shape_error(input, got.to_vec(), text))
    }
}

fn is_valid(mask: Option<&[bool]>, index: usize) -> bool {
    mask.is_none_or(|mask| mask[index])
}

fn position(index: usize, row_len: usize) -> String {
    if row_len <= 1 {
        format!("row {index}")
    } else {
        format!("row {}, column {}", index / row_len, index % row_len)
    }
}

fn check_finite(
    input: &'static str,
    values: &[f64],
    mask: Option<&[bool]>,
    row_len: usize,
) -> Result<()> {
    match values
        .iter()
        .enumerate()
        .find(|(index, v)| is_valid(mask, *index) && !v.is_finite())
    {
        Some((index, value)) => Err(ObjectiveError::InvalidValue {
            input,
            position: position(index, row_len),
            reason: format!("value {value} is not finite"),
        }),
        None => Ok(()),
    }
}

fn check_lengths(input: &'static str, values: &[f64], mask: Option<&[bool]>) -> Result<()> {
    match values
        .iter()
        .enumerate()
        .find(|(index, v)| is_valid(mask, *index) && !(v.is_finite() && **v >= 0.0))
    {
        Some((index, value)) => Err(ObjectiveError::InvalidValue {
            input,
            position: format!("entry {index}"),
            reason: format!("length {value} must be a finite count >= 0"),
        }),
        None => Ok(()),
    }
}
