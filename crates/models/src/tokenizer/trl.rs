//! TRL-format rows as tokens, laid out as TRL's trainers lay them out, so that a loss computed
//! here and one computed by TRL see the same sequences:
//!
//! - conversational texts are rendered with the checkpoint's chat template: the prompt alone
//!   (with the generation prompt when its last message is the user's, continuing the final
//!   message when it is the assistant's), then prompt + completion, whose extra text is the
//!   completion (an error when the longer rendering does not begin with the prompt's);
//! - standard texts are used as they are;
//! - each part is tokenized on its own with no special tokens added, and every completion
//!   ends with `eos` (for a chat checkpoint the template's end-of-turn then appears twice, as
//!   in TRL);
//! - `max_prompt_length` keeps a prompt's last tokens, `max_completion_length` a completion's
//!   first ones (after `eos` was added), as `DPOTrainer.tokenize_row` does.
//! - `max_length` bounds prompt + completion: the prompt loses its first tokens until the
//!   longest completion fits (at least one prompt token stays), then completions are cut at
//!   the end. TRL's `keep_end` drops prompt tokens per sequence; the two agree when a row's
//!   completions have one length or fit.

use prefopt_data::trl::{Message, PairedRow, Role, RowOrigin, Text, UnpairedRow};

use super::{EncodedExample, TextTokenizer, Tokenizer};
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

impl<'a> TrlEncoder<'a> {
    fn template(&self, origin: &RowOrigin) -> Result<&'a ChatTemplate> {
        self.template.ok_or_else(|| {
            row_error(
                origin,
                "a conversational row needs a chat template, and the checkpoint ships none",
            )
        })
    }

    /// The prompt as the model reads it, before tokenization.
    pub fn render_prompt(&self, prompt: &Text, origin: &RowOrigin) -> Result<String> {
        match prompt {
            Text::Plain(text) => Ok(text.clone()),
            Text::Conversation(messages) => {
                let template = self.template(origin)?;
                let chat = chat_messages(messages);
                let render = |generation| {
                    template
                        .render(&chat, generation)
                        .map_err(|e| row_error(origin, format!("prompt: {e}")))
                };
                match messages.last().map(|m| m.role) {
                    Some(Role::Assistant) => {
                        // `continue_final_message`: the rendering up to the end of the last
                        // message's text, so the completion continues it.
                        let full = render(false)?;
                        let last = messages.last().map_or("", |m| m.content.as_str());
                        let end = full
                            .rfind(last)
                            .map(|at| at + last.len())
                            .or_else(|| full.rfind(last.trim()).map(|at| at + last.trim().len()))
                            .ok_or_else(|| {
                                row_error(
                                    origin,
                                    "prompt: the template's rendering does not contain the \
                                     final assistant message to continue",
                                )
                            })?;
                        Ok(full[..end].to_string())
                    }
                    _ => render(true),
                }
            }
        }
    }

    /// A completion's text after `rendered_prompt`.
    pub fn render_completion(
        &self,
        prompt: &Text,
        completion: &Text,
        rendered_prompt: &str,
        column: &str,
        origin: &RowOrigin,
    ) -> Result<String> {
        match (prompt, completion) {
            (Text::Conversation(prompt), Text::Conversation(completion)) => {
                let template = self.template(origin)?;
                let mut chat = chat_messages(prompt);
                chat.extend(chat_messages(completion));
                let full = template
                    .render(&chat, false)
                    .map_err(|e| row_error(origin, format!("{column}: {e}")))?;
                full.strip_prefix(rendered_prompt)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        row_error(
                            origin,
                            format!(
                                "{column}: the chat template's rendering of prompt + {column} \
                                 does not begin with its rendering of the prompt alone"
                            ),
                        )
                    })
            }
            (Text::Plain(_), Text::Plain(text)) => Ok(text.clone()),
            _ => Err(row_error(
                origin,
                format!("{column}: mixes strings and conversations with the prompt"),
            )),
        }
    }

    fn prompt_tokens(&self, prompt: &Text, origin: &RowOrigin) -> Result<(String, Vec<u32>)> {
        let rendered = self.render_prompt(prompt, origin)?;
        let mut tokens = self.tokenizer.encode(&rendered)?;
        if let Some(max) = self.truncation.max_prompt_length {
            tokens.drain(..tokens.len().saturating_sub(max));
        }
        if tokens.is_empty() {
            return Err(row_error(origin, "prompt: no tokens to condition on"));
        }
        Ok((rendered, tokens))
    }

    fn completion_tokens(&self, text: &str) -> Result<Vec<u32>> {
        let mut tokens = self.tokenizer.encode(text)?;
        tokens.push(self.tokenizer.special().eos);
        if let Some(max) = self.truncation.max_completion_length {
            tokens.truncate(max);
        }
        Ok(tokens)
    }

    /// Applies `max_length` to a prompt and its completions.
    fn fit(&self, prompt: &mut Vec<u32>, completions: &mut [Vec<u32>]) {
        let Some(max) = self.truncation.max_length else {
            return;
        };
        let longest = completions.iter().map(Vec::len).max().unwrap_or(0);
        let excess = (prompt.len() + longest).saturating_sub(max);
        let dropped = excess.min(prompt.len().saturating_sub(1));
        prompt.drain(..dropped);
        let room = max.saturating_sub(prompt.len()).max(1);
        for completion in completions {
            completion.truncate(room);
        }
    }

    /// A paired row as `[chosen, rejected…]` responses after its prompt.
    pub fn paired(&self, row: &PairedRow) -> Result<EncodedExample> {
        let (rendered, mut prompt) = self.prompt_tokens(&row.prompt, &row.origin)?;
        let mut responses = Vec::with_capacity(row.rejected.len() + 1);
        let texts = std::iter::once(("chosen", &row.chosen))
            .chain(row.rejected.iter().map(|r| ("rejected", r)));
        for (column, text) in texts {
            let completion =
                self.render_completion(&row.prompt, text, &rendered, column, &row.origin)?;
            responses.push(self.completion_tokens(&completion)?);
        }
        self.fit(&mut prompt, &mut responses);
        let reference = match (row.extras.ref_chosen_logp, &row.extras.ref_rejected_logps) {
            (Some(chosen), Some(rejected)) => Some(
                std::iter::once(chosen)
                    .chain(rejected.iter().copied())
                    .collect(),
            ),
            _ => None,
        };
        Ok(EncodedExample {
            prompt,
            responses,
            user: row.extras.user_id,
            candidates: None,
            weight: row.extras.weight,
            smoothing: row.extras.smoothing,
            reference,
        })
    }

    /// An unpaired row's prompt and completion.
    pub fn unpaired(&self, row: &UnpairedRow) -> Result<UnpairedExample> {
        let (rendered, mut prompt) = self.prompt_tokens(&row.prompt, &row.origin)?;
        let text = self.render_completion(
            &row.prompt,
            &row.completion,
            &rendered,
            "completion",
            &row.origin,
        )?;
        let mut completion = [self.completion_tokens(&text)?];
        self.fit(&mut prompt, &mut completion);
        let [completion] = completion;
        Ok(UnpairedExample {
            prompt,
            completion,
            label: row.label,
            user: row.extras.user_id,
            weight: row.extras.weight,
            reference: row.extras.ref_chosen_logp,
        })
    }
}
