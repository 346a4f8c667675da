//! Tokenizers behind one trait. A recommender either reads item ids as tokens (one token per
//! item, a generative recommender over the catalog) or reads the prompt's text (the LLM setting
//! of the papers), and the rest of the crate does not care which.

mod item;
pub(crate) mod text;
mod trl;

use std::fmt::Debug;

use prefopt_data::{ItemId, PreferenceRecord};

pub use item::ItemTokenizer;
pub use text::{MAX_ADDED_TOKEN_CHARS, SpecialTokenIds, TextTokenizer};
pub use trl::{TrlEncoder, Truncation, UnpairedExample};

use crate::error::{ModelError, Result};

/// Token ids the model treats specially.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Fills padding slots (never scored).
    pub pad: u32,
    /// Starts every prompt.
    pub bos: u32,
    /// Ends every response; generation stops on it.
    pub eos: u32,
}

/// What a tokenizer may read of a prompt.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prompt<'a> {
    pub text: &'a str,
    pub history: Option<&'a [ItemId]>,
    pub candidates: Option<&'a [ItemId]>,
}

/// What a tokenizer may read of a response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Response<'a> {
    pub text: &'a str,
    pub item: Option<ItemId>,
}

/// A decoded response: its text, and the item when the tokens name one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub item: Option<ItemId>,
}

/// Turns prompts and responses into token ids and back.
pub trait Tokenizer: Debug + Send + Sync {
    fn vocab_size(&self) -> usize;
    fn special(&self) -> SpecialTokens;
    /// Prompt tokens, starting with `bos` (or as a chat template lays the turn out).
    fn encode_prompt(&self, prompt: &Prompt<'_>) -> Result<Vec<u32>>;
    /// Response tokens, ending with `eos`.
    fn encode_response(&self, response: &Response<'_>) -> Result<Vec<u32>>;
    /// The response a token sequence spells (`eos` and what follows are dropped).
    fn decode_response(&self, tokens: &[u32]) -> Result<Decoded>;
    /// Whether responses are encoded from item ids, so a candidate set can be scored from its
    /// ids alone (text tokenizers need the candidates' titles instead).
    fn reads_items(&self) -> bool;
}

/// One preference example in tokens: the prompt, then the chosen response followed by the K
/// rejected ones.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedExample {
    pub prompt: Vec<u32>,
    /// `[chosen, rejected_1, …, rejected_K]`.
    pub responses: Vec<Vec<u32>>,
    /// The user id (P-RLHF's soft tokens), when the dataset has one.
    pub user: Option<i64>,
    /// Candidate responses in prompt order and the index of the target, for ranking evaluation.
    pub candidates: Option<Candidates>,
    /// The dataset's per-example weight and smoothing columns.
    pub weight: Option<f32>,
    pub smoothing: Option<f32>,
    /// Cached reference log-probs of `[chosen, rejected…]`, when the dataset carries them.
    pub reference: Option<Vec<f64>>,
}

impl EncodedExample {
    /// An example of a prompt and its `[chosen, rejected…]` responses, with no user, candidates,
    /// weights or cached reference.
    pub fn new(prompt: Vec<u32>, responses: Vec<Vec<u32>>) -> Self {
        Self {
            prompt,
            responses,
            user: None,
            candidates: None,
            weight: None,
            smoothing: None,
            reference: None,
        }
    }
}

/// The candidate set of a recommendation example, tokenized as responses.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    pub items: Vec<ItemId>,
    pub responses: Vec<Vec<u32>>,
    /// Index of the chosen item in `items`.
    pub target: usize,
}

/// Encodes one record (`index` names it in errors). Candidates are tokenized as item responses
/// when the record lists them and the tokenizer reads items.
pub fn encode_record(
    tokenizer: &dyn Tokenizer,
    record: &PreferenceRecord,
    index: usize,
) -> Result<EncodedExample> {
    let at = |error: ModelError| match error {
        ModelError::InvalidExample { reason, .. } => ModelError::example(index, reason),
        other => other,
    };
    let prompt = tokenizer
        .encode_prompt(&Prompt {
            text: &record.prompt,
            history: record.history_items.as_deref(),
            candidates: record.candidate_items.as_deref(),
        })
        .map_err(at)?;
    let rejected_items = record.rejected_items.as_deref();
    let mut responses = Vec::with_capacity(record.rejected.len() + 1);
    responses.push(
        tokenizer
            .encode_response(&Response {
                text: &record.chosen,
                item: record.chosen_item,
            })
            .map_err(at)?,
    );
    for (k, text) in record.rejected.iter().enumerate() {
        let item = rejected_items.and_then(|items| items.get(k).copied());
        responses.push(
            tokenizer
                .encode_response(&Response { text, item })
                .map_err(at)?,
        );
    }
    let candidates = match (&record.candidate_items, record.chosen_item) {
        (Some(items), Some(chosen)) if tokenizer.reads_items() => {
            let target = items.iter().position(|&i| i == chosen).ok_or_else(|| {
                ModelError::example(index, "the chosen item is not among the candidates")
            })?;
            let responses = items
                .iter()
                .map(|&item| {
                    tokenizer.encode_response(&Response {
                        text: "",
                        item: Some(item),
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map_err(at)?;
            Some(Candidates {
                items: items.clone(),
                responses,
                target,
            })
        }
        _ => None,
    };
    let reference = match (record.ref_chosen_logp, &record.ref_rejected_logps) {
        (Some(chosen), Some(rejected)) if rejected.len() == record.rejected.len() => Some(
            std::iter::once(chosen)
                .chain(rejected.iter().copied())
                .collect(),
        ),
        _ => None,
    };
    Ok(EncodedExample {
        prompt,
        responses,
        user: record.user_id,
        candidates,
        weight: record.weight,
        smoothing: record.smoothing,
        reference,
    })
}
