//! The recommender's tokenizer: one token per item (a policy trained from scratch over the
//! catalog) or a pretrained checkpoint's text tokenizer, which spells titles. The pipeline,
//! scoring and evaluation see one type either way.

use std::collections::HashMap;

use prefopt_data::{ItemId, PreferenceRecord};
use prefopt_models::tokenizer::{
    Candidates, Decoded, EncodedExample, ItemTokenizer, Prompt, Response, SpecialTokens,
    TextTokenizer, Tokenizer, encode_record,
};

use crate::error::{ExperimentError, Result};

/// Item tokens, or text through a pretrained model's `tokenizer.json`.
#[derive(Clone, Debug)]
pub enum RecTokenizer {
    Items(ItemTokenizer),
    Text {
        tokenizer: Box<TextTokenizer>,
        /// Title → item, to read a generated answer back as an item.
        items_by_title: HashMap<String, ItemId>,
        titles: Vec<String>,
    },
}

impl RecTokenizer {
    /// A text tokenizer over the catalog's `titles`.
    pub fn text(tokenizer: TextTokenizer, titles: &[String]) -> Self {
        let items_by_title = titles
            .iter()
            .enumerate()
            .map(|(item, title)| (title.clone(), item as ItemId))
            .collect();
        Self::Text {
            tokenizer: Box::new(tokenizer),
            items_by_title,
            titles: titles.to_vec(),
        }
    }

    /// Whether prompts are laid out by a checkpoint's chat template.
    pub fn uses_chat_template(&self) -> bool {
        matches!(self, Self::Text { tokenizer, .. } if tokenizer.chat_template().is_some())
    }

    fn inner(&self) -> &dyn Tokenizer {
        match self {
            Self::Items(tokenizer) => tokenizer,
            Self::Text { tokenizer, .. } => tokenizer.as_ref(),
        }
    }

    /// The catalog titles a generated answer names: item tokens become titles; text is read
    /// as one title.
    pub fn answer(&self, tokens: &[u32], catalog: &[&str]) -> Result<String> {
        match self {
            Self::Items(tokenizer) => {
                let eos = tokenizer.special().eos;
                Ok(tokens
                    .iter()
                    .take_while(|&&t| t != eos)
                    .filter_map(|&t| tokenizer.token_item(t).map(|i| catalog[i as usize]))
                    .collect::<Vec<_>>()
                    .join(", "))
            }
            Self::Text { tokenizer, .. } => Ok(tokenizer.decode_response(tokens)?.text),
        }
    }

    /// Encodes records; with text, each record's candidates are spelled by their titles so
    /// the policy ranks them by the log-probability of the title.
    pub fn encode(&self, records: &[PreferenceRecord]) -> Result<Vec<EncodedExample>> {
        records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let mut example = encode_record(self.inner(), record, index)?;
                if let Self::Text { titles, .. } = self
                    && let (Some(items), Some(chosen)) =
                        (&record.candidate_items, record.chosen_item)
                {
                    let target = items.iter().position(|&i| i == chosen).ok_or_else(|| {
                        ExperimentError::Invalid(format!(
                            "record {index}: the chosen item is not among the candidates"
                        ))
                    })?;
                    let responses = items
                        .iter()
                        .map(|&item| {
                            let title = titles.get(item as usize).ok_or_else(|| {
                                ExperimentError::Invalid(format!(
                                    "record {index}: candidate item {item} is not in the catalog"
                                ))
                            })?;
                            Ok(self.encode_response(&Response {
                                text: title,
                                item: Some(item),
                            })?)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    example.candidates = Some(Candidates {
                        items: items.clone(),
                        responses,
                        target,
                    });
                }
                Ok(example)
            })
            .collect()
    }
}

impl Tokenizer for RecTokenizer {
    fn vocab_size(&self) -> usize {
        self.inner().vocab_size()
    }

    fn special(&self) -> SpecialTokens {
        self.inner().special()
    }

    fn encode_prompt(&self, prompt: &Prompt<'_>) -> prefopt_models::Result<Vec<u32>> {
        self.inner().encode_prompt(prompt)
    }

    fn encode_response(&self, response: &Response<'_>) -> prefopt_models::Result<Vec<u32>> {
        self.inner().encode_response(response)
    }

    fn decode_response(&self, tokens: &[u32]) -> prefopt_models::Result<Decoded> {
        let mut decoded = self.inner().decode_response(tokens)?;
        if let Self::Text { items_by_title, .. } = self {
            decoded.item = items_by_title.get(decoded.text.trim()).copied();
        }
        Ok(decoded)
    }

    fn reads_items(&self) -> bool {
        self.inner().reads_items()
    }
}
