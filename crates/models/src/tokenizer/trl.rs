//! TRL-format rows as tokens, laid out as TRL's `DPOTrainer` and `KTOTrainer` (1.x) lay them
//! out, so that a loss computed here and one computed by TRL see the same sequences:
//!
//! - conversational rows: the prompt is rendered with the checkpoint's chat template and the
//!   generation prompt, prompt + completion without it, and each rendering is tokenized whole
//!   (no special tokens added: the template places them);
//! - standard rows: the prompt and prompt + completion + `eos` (appended as text unless the
//!   completion already ends with it) are tokenized with the tokenizer's own special tokens;
//! - the prompt is the tokens the prompt alone shares with every prompt + completion (the
//!   tokens can merge across the boundary, or a template render the prompt differently alone),
//!   and each completion is the rest of its sequence;
//! - `max_length` keeps the first tokens of prompt + completion (TRL's `keep_start`); a row
//!   whose prompt alone fills it has no completion left and is dropped, as TRL drops it;
//! - `max_prompt_length` (keep a prompt's last tokens) and `max_completion_length` (keep a
//!   completion's first tokens) are TRL 0.x's limits, applied after the above when set.

use prefopt_data::trl::{Message, PairedRow, RowOrigin, Text, UnpairedRow};

use super::{EncodedExample, TextTokenizer};
use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{ModelError, Result};

/// Length limits in tokens (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Truncation {
    pub max_prompt_length: Option<usize>,
    pub max_completion_length: Option<usize>,
    pub max_length: Option<usize>,
}

/// One unpaired row in tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct UnpairedExample {
    pub prompt: Vec<u32>,
    pub completion: Vec<u32>,
    /// `true`: desirable.
    pub label: bool,
    pub user: Option<i64>,
    pub weight: Option<f32>,
    /// The cached reference log-prob of the completion (`ref_logp`).
    pub reference: Option<f64>,
}

/// Renders and tokenizes TRL rows for one checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct TrlEncoder<'a> {
    pub tokenizer: &'a TextTokenizer,
    /// Needed for conversational rows.
    pub template: Option<&'a ChatTemplate>,
    pub truncation: Truncation,
}

fn row_error(origin: &RowOrigin, reason: impl Into<String>) -> ModelError {
    ModelError::InvalidRow {
        origin: origin.clone(),
        reason: reason.into(),
    }
}

fn chat_messages(messages: &[Message]) -> Vec<ChatMessage> {
    messages
        .iter()
        .map(|m| ChatMessage::new(m.role.as_str(), &m.content))
        .collect()
}

/// A prompt's tokens and its completions' tokens.
type Split = (Vec<u32>, Vec<Vec<u32>>);

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<'a> TrlEncoder<'a> {
    fn template(&self, origin: &RowOrigin) -> Result<&'a ChatTemplate> {
        self.template.ok_or_else(|| {
            row_error(
                origin,
                "a conversational row needs a chat template, and the checkpoint ships none",
            )
        })
    }

    /// The tokens of the prompt alone.
    fn prompt_tokens(&self, prompt: &Text, origin: &RowOrigin) -> Result<Vec<u32>> {
        match prompt {
            Text::Plain(text) => self.tokenizer.encode_with_special_tokens(text),
            Text::Conversation(messages) => {
                let rendered = self
                    .template(origin)?
                    .render(&chat_messages(messages), true)
                    .map_err(|e| row_error(origin, format!("prompt: {e}")))?;
                self.tokenizer.encode(&rendered)
            }
        }
    }

    /// The tokens of prompt + completion.
    fn sequence_tokens(
        &self,
        prompt: &Text,
        completion: &Text,
        column: &str,
        origin: &RowOrigin,
    ) -> Result<Vec<u32>> {
        match (prompt, completion) {
            (Text::Plain(prompt), Text::Plain(completion)) => {
                let eos = self.tokenizer.eos_text()?;
                let mut text = format!("{prompt}{completion}");
                if !completion.ends_with(&eos) {
                    text.push_str(&eos);
                }
                self.tokenizer.encode_with_special_tokens(&text)
            }
            (Text::Conversation(prompt), Text::Conversation(completion)) => {
                let mut chat = chat_messages(prompt);
                chat.extend(chat_messages(completion));
                let rendered = self
                    .template(origin)?
                    .render(&chat, false)
                    .map_err(|e| row_error(origin, format!("{column}: {e}")))?;
                self.tokenizer.encode(&rendered)
            }
            _ => Err(row_error(
                origin,
                format!("{column}: mixes strings and conversations with the prompt"),
            )),
        }
    }

    /// A prompt and its completions as TRL splits them, or `None` when `max_length` leaves no
    /// completion token (the row is dropped).
    fn split(
        &self,
        prompt: &Text,
        completions: &[(&str, &Text)],
        origin: &RowOrigin,
    ) -> Result<Option<Split>> {
        let prompt_ids = self.prompt_tokens(prompt, origin)?;
        let sequences = completions
            .iter()
            .map(|(column, text)| self.sequence_tokens(prompt, text, column, origin))
            .collect::<Result<Vec<_>>>()?;
        let shared = sequences
            .iter()
            .map(|s| common_prefix(&prompt_ids, s))
            .min()
            .unwrap_or(0);
        if shared == 0 {
            return Err(row_error(
                origin,
                "prompt: no tokens to condition on (the prompt shares no token with its \
                 completions' sequences)",
            ));
        }
        let mut prompt = prompt_ids[..shared].to_vec();
        let mut responses = Vec::with_capacity(sequences.len());
        for ((column, _), sequence) in completions.iter().zip(&sequences) {
            let mut response = sequence[shared..].to_vec();
            if response.is_empty() {
                return Err(row_error(
                    origin,
                    format!("{column}: no completion tokens after the prompt"),
                ));
            }
            if let Some(max) = self.truncation.max_length {
                if shared >= max {
                    return Ok(None);
                }
                response.truncate(max - shared);
            }
            if let Some(max) = self.truncation.max_completion_length {
                response.truncate(max);
            }
            responses.push(response);
        }
        if let Some(max) = self.truncation.max_prompt_length {
            prompt.drain(..prompt.len().saturating_sub(max));
        }
        Ok(Some((prompt, responses)))
    }

    /// A paired row as `[chosen, rejected…]` responses after its prompt; `None` when
    /// `max_length` leaves it no completion.
    pub fn paired(&self, row: &PairedRow) -> Result<Option<EncodedExample>> {
        let completions: Vec<(&str, &Text)> = std::iter::once(("chosen", &row.chosen))
            .chain(row.rejected.iter().map(|r| ("rejected", r)))
            .collect();
        let Some((prompt, responses)) = self.split(&row.prompt, &completions, &row.origin)? else {
            return Ok(None);
        };
        let reference = match (row.extras.ref_chosen_logp, &row.extras.ref_rejected_logps) {
            (Some(chosen), Some(rejected)) => Some(
                std::iter::once(chosen)
                    .chain(rejected.iter().copied())
                    .collect(),
            ),
            _ => None,
        };
        Ok(Some(EncodedExample {
            prompt,
            responses,
            user: row.extras.user_id,
            candidates: None,
            weight: row.extras.weight,
            smoothing: row.extras.smoothing,
            reference,
        }))
    }

    /// An unpaired row's prompt and completion; `None` when `max_length` leaves it none.
    pub fn unpaired(&self, row: &UnpairedRow) -> Result<Option<UnpairedExample>> {
        let completions = [("completion", &row.completion)];
        let Some((prompt, mut responses)) = self.split(&row.prompt, &completions, &row.origin)?
        else {
            return Ok(None);
        };
        Ok(Some(UnpairedExample {
            prompt,
            completion: responses.remove(0),
            label: row.label,
            user: row.extras.user_id,
            weight: row.extras.weight,
            reference: row.extras.ref_chosen_logp,
        }))
    }
}
