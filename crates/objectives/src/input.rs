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
    ///
    /// Every input is described once, by [`Self::fields`]; the shape check, the device-side scan
    /// for bad values and the host scan that names the bad value all walk that one list.
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
        if self.reference_chosen.is_some() != self.reference_rejected.is_some() {
            return Err(ObjectiveError::InvalidValue {
                input: "reference_chosen",
                position: "batch".into(),
                reason: "reference log-probs must be given for both chosen and rejected".into(),
            });
        }
        let fields = self.fields(dims);
        for field in &fields {
            if let Some((expected, text)) = &field.expected
                && &field.dims != expected
            {
                return Err(shape_error(field.name, field.dims.clone(), text));
            }
        }
        // One device-side reduction answers "is anything invalid?" with a single read-back; the
        // host scan that names the input and position runs only when it is.
        if self.any_invalid_value(&fields) {
            self.locate_invalid_value(&fields, dims)?;
        }
        Ok(dims)
    }

    /// Every input with its expected shape and the rule its values obey, in the order errors
    /// are reported.
    fn fields(&self, dims: BatchDims) -> Vec<Field> {
        let BatchDims { batch, negatives } = dims;
        let single = || (vec![batch], format!("[{batch}]"));
        let pair = || (vec![batch, negatives], format!("[{batch}, {negatives}]"));
        let mut fields = vec![
            Field::valued(
                "policy_chosen",
                &self.policy_chosen,
                Some(single()),
                Rule::Finite,
                false,
                1,
            ),
            Field::valued(
                "policy_rejected",
                &self.policy_rejected,
                None,
                Rule::Finite,
                true,
                negatives,
            ),
        ];
        let mut push = |field: Option<Field>| fields.extend(field);
        push(self.reference_chosen.as_ref().map(|x| {
            Field::valued(
                "reference_chosen",
                x,
                Some(single()),
                Rule::Finite,
                false,
                1,
            )
        }));
        push(self.reference_rejected.as_ref().map(|x| {
            Field::valued(
                "reference_rejected",
                x,
                Some(pair()),
                Rule::Finite,
                true,
                negatives,
            )
        }));
        push(
            self.rejected_mask
                .as_ref()
                .map(|m| Field::shape("rejected_mask", m.dims().to_vec(), pair())),
        );
        push(
            self.chosen_lengths.as_ref().map(|x| {
                Field::valued("chosen_lengths", x, Some(single()), Rule::Length, false, 1)
            }),
        );
        push(
            self.rejected_lengths
                .as_ref()
                .map(|x| Field::valued("rejected_lengths", x, Some(pair()), Rule::Length, true, 1)),
        );
        push(
            self.weights
                .as_ref()
                .map(|x| Field::valued("weights", x, Some(single()), Rule::Finite, false, 1)),
        );
        push(self.smoothing.as_ref().map(|x| {
            Field::valued(
                "smoothing",
                x,
                Some(pair()),
                Rule::Smoothing,
                true,
                negatives,
            )
        }));
        push(self.prompt_embeddings.as_ref().map(|x| {
            let width = x.dims()[1];
            let expected = (vec![batch, width], format!("[{batch}, E]"));
            Field::valued(
                "prompt_embeddings",
                x,
                Some(expected),
                Rule::Finite,
                false,
                width.max(1),
            )
        }));
        push(
            self.user_ids
                .as_ref()
                .map(|ids| Field::shape("user_ids", vec![ids.len()], single())),
        );
        push(self.list_labels.as_ref().map(|x| {
            let width = negatives + 1;
            let expected = (vec![batch, width], format!("[{batch}, {width}]"));
            Field::valued("list_labels", x, Some(expected), Rule::Finite, false, width)
        }));
        if let Some(tokens) = &self.tokens {
            let [b, t] = tokens.chosen.dims();
            let [rb, rk, rt] = tokens.rejected.dims();
            let chosen = || (vec![b, t], format!("[{b}, {t}]"));
            let rejected = || (vec![rb, rk, rt], format!("[{rb}, {rk}, {rt}]"));
            let by_token = [
                Field::shape(
                    "tokens.chosen",
                    vec![b],
                    (vec![batch], format!("[{batch}, T]")),
                ),
                Field::shape(
                    "tokens.chosen_mask",
                    tokens.chosen_mask.dims().to_vec(),
                    chosen(),
                ),
                Field::shape(
                    "tokens.rejected",
                    vec![rb, rk],
                    (vec![batch, negatives], format!("[{batch}, {negatives}, T]")),
                ),
                Field::shape(
                    "tokens.rejected_mask",
                    tokens.rejected_mask.dims().to_vec(),
                    rejected(),
                ),
            ];
            for field in by_token {
                push(Some(field));
            }
            push(tokens.chosen_log_sum_sq_probs.as_ref().map(|x| {
                Field::shape(
                    "tokens.chosen_log_sum_sq_probs",
                    x.dims().to_vec(),
                    chosen(),
                )
            }));
            push(tokens.rejected_log_sum_sq_probs.as_ref().map(|x| {
                Field::shape(
                    "tokens.rejected_log_sum_sq_probs",
                    x.dims().to_vec(),
                    rejected(),
                )
            }));
        }
        if let Some(prompt) = &self.chosen_prompt {
            push(Some(Field::shape(
                "chosen_prompt.sum",
                prompt.sum.dims().to_vec(),
                single(),
            )));
            push(Some(Field::shape(
                "chosen_prompt.count",
                prompt.count.dims().to_vec(),
                single(),
            )));
        }
        if let Some(kl) = &self.kl {
            let policy = kl.policy.dims().to_vec();
            let text = format!("{policy:?}");
            push(Some(Field::shape(
                "kl.reference",
                kl.reference.dims().to_vec(),
                (policy, text),
            )));
        }
        fields
    }

    /// True when a value a loss reads is invalid: a prompt without a valid negative, or a value
    /// that breaks its field's [`Rule`]. Masked slots are ignored. Computed on the device, read
    /// back once.
    fn any_invalid_value(&self, fields: &[Field]) -> bool {
        let mask = self.rejected_mask.as_ref();
        let mut flags = Vec::new();
        if let Some(m) = mask {
            flags.push(m.clone().any_dim(1).bool_not().any());
        }
        for field in fields {
            let Some(check) = &field.check else { continue };
            let bad = check.rule.violated(check.values.clone());
            let bad = match (check.masked, mask) {
                (true, Some(m)) => {
                    bad.bool_and(m.clone().reshape([m.dims().iter().product::<usize>()]))
                }
                _ => bad,
            };
            flags.push(bad.any());
        }
        Tensor::cat(flags, 0).any().into_scalar::<bool>()
    }

    /// The host scan behind [`Self::any_invalid_value`]: the first invalid value, with the
    /// input's name and its row (and column).
    fn locate_invalid_value(&self, fields: &[Field], dims: BatchDims) -> Result<()> {
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
        for field in fields {
            let Some(check) = &field.check else { continue };
            let field_mask = if check.masked { mask.as_deref() } else { None };
            let values = to_host(&check.values);
            if let Some((index, &value)) = values
                .iter()
                .enumerate()
                .find(|(index, v)| is_valid(field_mask, *index) && !check.rule.allows(**v))
            {
                return Err(ObjectiveError::InvalidValue {
                    input: field.name,
                    position: check.rule.position(index, check.row_len),
                    reason: check.rule.reason(value),
                });
            }
        }
        Ok(())
    }
}

/// One input as validation sees it: its shape, the shape it must have, and (for inputs whose
/// values a loss reads) the rule those values obey.
struct Field {
    name: &'static str,
    dims: Vec<usize>,
    /// The required dims and how an error message writes them; `None` when the dims define
    /// the batch (`policy_rejected`).
    expected: Option<(Vec<usize>, String)>,
    check: Option<ValueCheck>,
}

/// The values of a field, flattened, and what they must satisfy.
struct ValueCheck {
    values: Tensor<1>,
    rule: Rule,
    /// Whether `rejected_mask` applies (the `[B, K]` inputs).
    masked: bool,
    /// Entries per row, for the position in error messages.
    row_len: usize,
}

impl Field {
    /// An input validation only checks the shape of.
    fn shape(name: &'static str, dims: Vec<usize>, expected: (Vec<usize>, String)) -> Self {
        Self {
            name,
            dims,
            expected: Some(expected),
            check: None,
        }
    }

    /// An input whose values a loss reads: shape and values are checked.
    fn valued<const D: usize>(
        name: &'static str,
        x: &Tensor<D>,
        expected: Option<(Vec<usize>, String)>,
        rule: Rule,
        masked: bool,
        row_len: usize,
    ) -> Self {
        let dims = x.dims().to_vec();
        let len: usize = dims.iter().product();
        Self {
            name,
            dims,
            expected,
            check: Some(ValueCheck {
                values: x.clone().reshape([len]),
                rule,
                masked,
                row_len,
            }),
        }
    }
}

/// What a field's values must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Finite (log-probs, weights, embeddings, labels).
    Finite,
    /// A finite count ≥ 0 (completion lengths).
    Length,
    /// A label-smoothing ε in [0, 0.5].
    Smoothing,
}

impl Rule {
    fn allows(self, v: f64) -> bool {
        match self {
            Rule::Finite => v.is_finite(),
            Rule::Length => v.is_finite() && v >= 0.0,
            Rule::Smoothing => (0.0..=0.5).contains(&v),
        }
    }

    /// The device-side form of `!allows`.
    fn violated(self, x: Tensor<1>) -> Tensor<1, Bool> {
        let non_finite = x.clone().is_finite().bool_not();
        match self {
            Rule::Finite => non_finite,
            Rule::Length => non_finite.bool_or(x.lower_elem(0.0)),
            Rule::Smoothing => non_finite
                .bool_or(x.clone().lower_elem(0.0))
                .bool_or(x.greater_elem(0.5)),
        }
    }

    fn position(self, index: usize, row_len: usize) -> String {
        match self {
            Rule::Length => format!("entry {index}"),
            _ => position(index, row_len),
        }
    }

    fn reason(self, value: f64) -> String {
        match self {
            Rule::Length => format!("length {value} must be a finite count >= 0"),
            Rule::Smoothing => format!("label smoothing {value} is outside [0, 0.5]"),
            _ => format!("value {value} is not finite"),
        }
    }
}

fn shape_error(input: &'static str, got: Vec<usize>, expected: &str) -> ObjectiveError {
    ObjectiveError::Shape {
        input,
        got,
        expected: expected.to_string(),
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
