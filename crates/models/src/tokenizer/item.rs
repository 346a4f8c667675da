//! One token per catalog item: the generative-recommender vocabulary. A prompt is the user's
//! history and the candidate set as item tokens; a response is one item token and `eos`.

use prefopt_data::ItemId;

use super::{Decoded, Prompt, Response, SpecialTokens, Tokenizer};
use crate::error::{ModelError, Result};

const PAD: u32 = 0;
const BOS: u32 = 1;
const EOS: u32 = 2;
/// Separates the history from the candidates, and the candidates from the answer.
const SEP: u32 = 3;
const FIRST_ITEM: u32 = 4;

/// `[bos] history… [sep] candidates… [sep]` → `item [eos]`, for a catalog of `items` ids
/// `0..items`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemTokenizer {
    items: usize,
}

impl ItemTokenizer {
    pub fn new(items: usize) -> Result<Self> {
        if items == 0 || items > (u32::MAX - FIRST_ITEM) as usize {
            return Err(ModelError::InvalidConfig(format!(
                "an item vocabulary needs between 1 and {} items, got {items}",
                u32::MAX - FIRST_ITEM
            )));
        }
        Ok(Self { items })
    }

    /// The token of an item.
    pub fn item_token(&self, item: ItemId) -> Result<u32> {
        if item < 0 || item as usize >= self.items {
            return Err(ModelError::example(
                0,
                format!("item {item} is outside the catalog (0..{})", self.items),
            ));
        }
        Ok(FIRST_ITEM + item as u32)
    }

    /// The item a token stands for, if it is an item token.
    pub fn token_item(&self, token: u32) -> Option<ItemId> {
        (token >= FIRST_ITEM && ((token - FIRST_ITEM) as usize) < self.items)
            .then(|| ItemId::from(token - FIRST_ITEM))
    }
}

impl Tokenizer for ItemTokenizer {
    fn vocab_size(&self) -> usize {
        FIRST_ITEM as usize + self.items
    }

    fn special(&self) -> SpecialTokens {
        SpecialTokens {
            pad: PAD,
            bos: BOS,
            eos: EOS,
        }
    }

    fn encode_prompt(&self, prompt: &Prompt<'_>) -> Result<Vec<u32>> {
        let history = prompt.history.ok_or_else(|| {
            ModelError::example(0, "the item tokenizer needs the history_items column")
        })?;
        let candidates = prompt.candidates.unwrap_or(&[]);
        let mut tokens = Vec::with_capacity(history.len() + candidates.len() + 3);
        tokens.push(BOS);
        for &item in history {
            tokens.push(self.item_token(item)?);
        }
        tokens.push(SEP);
        if !candidates.is_empty() {
            for &item in candidates {
                tokens.push(self.item_token(item)?);
            }
            tokens.push(SEP);
        }
        Ok(tokens)
    }

    fn encode_response(&self, response: &Response<'_>) -> Result<Vec<u32>> {
        let item = response.item.ok_or_else(|| {
            ModelError::example(
                0,
                "the item tokenizer needs item ids of the responses (chosen_item, rejected_items)",
            )
        })?;
        Ok(vec![self.item_token(item)?, EOS])
    }

    fn decode_response(&self, tokens: &[u32]) -> Result<Decoded> {
        let end = tokens
            .iter()
            .position(|&t| t == EOS)
            .unwrap_or(tokens.len());
        let body = &tokens[..end];
        let item = match body {
            [token] => self.token_item(*token),
            _ => None,
        };
        let text = body
            .iter()
            .map(|&t| match self.token_item(t) {
                Some(item) => format!("<item {item}>"),
                None => format!("<special {t}>"),
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Decoded { text, item })
    }

    fn reads_items(&self) -> bool {
        true
    }
}
