//! Text through Hugging Face's `tokenizers`: a byte-level BPE trained on the dataset's own text,
//! or any `tokenizer.json` (a pretrained model's).

use std::path::Path;

use tokenizers::AddedToken;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

use super::{Decoded, Prompt, Response, SpecialTokens, Tokenizer};
use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{ModelError, Result};

/// Special-token spellings tried, in order, when a loaded `tokenizer.json` does not say which
/// tokens play the pad/bos/eos roles (Llama, GPT-2, Qwen2 and our own spell them differently).
const BOS_NAMES: &[&str] = &["<bos>", "<s>", "<|begin_of_text|>", "<|endoftext|>"];
const EOS_NAMES: &[&str] = &[
    "<eos>",
    "</s>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|im_end|>",
];
const PAD_NAMES: &[&str] = &["<pad>", "<|pad|>", "<unk>", "<|endoftext|>"];

/// Special-token ids a checkpoint's `config.json` names; the roles it leaves out are found by
/// their usual spellings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokenIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
}

/// Longest added token accepted, in characters. `tokenizers` (0.22) builds the added
/// vocabulary's matcher in time quadratic in a token's length (4,000 characters: 0.3 s; 16,000:
/// 4.3 s; the fuzz tests' 134,000: minutes), so a corrupted file with one enormous token would
/// hang the load; real added tokens are a few dozen characters.
pub const MAX_ADDED_TOKEN_CHARS: usize = 1024;

/// Refuses a tokenizer JSON whose added tokens could not be loaded in reasonable time.
pub(crate) fn check_added_tokens(json: &serde_json::Value) -> std::result::Result<(), String> {
    let Some(tokens) = json.get("added_tokens").and_then(|t| t.as_array()) else {
        return Ok(());
    };
    for (index, token) in tokens.iter().enumerate() {
        let length = token
            .get("content")
            .and_then(|c| c.as_str())
            .map_or(0, |c| c.chars().count());
        if length > MAX_ADDED_TOKEN_CHARS {
            return Err(format!(
                "added token {index} is {length} characters long (at most \
                 {MAX_ADDED_TOKEN_CHARS})"
            ));
        }
    }
    Ok(())
}

/// Parses a `tokenizer.json`. `tokenizers` panics on some malformed files (an `expect` in its
/// decoder deserializer, found by the fuzz tests); that panic is an error naming the file too,
/// and so is an added token too long to load (see [`MAX_ADDED_TOKEN_CHARS`]).
fn read_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    let fail = |reason: String| ModelError::Tokenizer(format!("{}: {reason}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("malformed JSON: {e}")))?;
    check_added_tokens(&json).map_err(fail)?;
    prefopt_data::guard::contain(|| text.parse::<tokenizers::Tokenizer>())
        .map_err(|panic| format!("malformed: {panic}"))
        .and_then(|parsed| parsed.map_err(|e| e.to_string()))
        .map_err(fail)
}

/// A `tokenizers` tokenizer with the roles of its special tokens resolved, and optionally the
/// chat template prompts are rendered with.
#[derive(Clone, Debug)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
    chat: Option<ChatPrompt>,
}

/// How prompts are laid out as a conversation: the checkpoint's template and an optional
/// system message before the user's turn.
#[derive(Clone, Debug)]
struct ChatPrompt {
    template: ChatTemplate,
    system: Option<String>,
}

impl ChatPrompt {
    fn render(&self, user: &str) -> Result<String> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = &self.system {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", user));
        self.template.render(&messages, true)
    }
}

impl TextTokenizer {
    /// Trains a byte-level BPE of at most `vocab_size` tokens on `texts` (`<pad>`, `<bos>`,
    /// `<eos>` come first). Deterministic for the same texts in the same order.
    pub fn train_bpe<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
    ) -> Result<Self> {
        let specials = ["<pad>", "<bos>", "<eos>"];
        let mut trainer: TrainerWrapper = BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(
                specials
                    .iter()
                    .map(|s| AddedToken::from(*s, true))
                    .collect(),
            )
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let mut inner = tokenizers::Tokenizer::new(ModelWrapper::BPE(BPE::default()));
        // GPT-2's byte-level setting: no space is invented before the first word, so decoding
        // gives back exactly the text that was encoded.
        let byte_level = ByteLevel::default().add_prefix_space(false);
        inner.with_pre_tokenizer(Some(byte_level));
        inner.with_decoder(Some(byte_level));
        inner
            .train(&mut trainer, texts)
            .map_err(|e| ModelError::Tokenizer(format!("training a BPE: {e}")))?;
        Self::from_tokenizer(inner)
    }

    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_tokenizer(read_tokenizer(path)?)
    }

    /// Loads a pretrained model's `tokenizer.json` with the special-token ids its config
    /// names (a model without a padding token pads with its end-of-sequence token).
    pub fn from_file_with(path: &Path, ids: SpecialTokenIds) -> Result<Self> {
        let inner = read_tokenizer(path)?;
        Self::from_tokenizer_with(inner, ids).map_err(|e| match e {
            ModelError::Tokenizer(message) => {
                ModelError::Tokenizer(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Wraps a pretrained model's tokenizer with the special-token ids its config names (a
    /// model without a padding token pads with its end-of-sequence token).
    pub fn from_tokenizer_with(inner: tokenizers::Tokenizer, ids: SpecialTokenIds) -> Result<Self> {
        let vocab = inner.get_vocab_size(true);
        if let Some(id) = [ids.bos, ids.eos, ids.pad]
            .into_iter()
            .flatten()
            .find(|&id| id as usize >= vocab)
        {
            return Err(ModelError::Tokenizer(format!(
                "special token id {id} is outside the vocabulary ({vocab})"
            )));
        }
        Self::resolve(inner, ids, true)
    }

    /// Wraps a tokenizer, finding its special tokens by their usual spellings.
    pub fn from_tokenizer(inner: tokenizers::Tokenizer) -> Result<Self> {
        Self::resolve(inner, SpecialTokenIds::default(), false)
    }

    fn resolve(
        inner: tokenizers::Tokenizer,
        ids: SpecialTokenIds,
        pad_with_eos: bool,
    ) -> Result<Self> {
        let find = |names: &[&str], role: &str| {
            names
                .iter()
                .find_map(|name| inner.token_to_id(name))
                .ok_or_else(|| {
                    ModelError::Tokenizer(format!(
                        "no {role} token: the tokenizer has none of {}",
                        names.join(", ")
                    ))
                })
        };
        let bos = ids
            .bos
            .map_or_else(|| find(BOS_NAMES, "beginning-of-sequence"), Ok)?;
        let eos = ids
            .eos
            .map_or_else(|| find(EOS_NAMES, "end-of-sequence"), Ok)?;
        let pad = match ids.pad {
            Some(pad) => pad,
            None => match find(PAD_NAMES, "padding") {
                Ok(pad) => pad,
                Err(_) if pad_with_eos => eos,
                Err(e) => return Err(e),
            },
        };
        Ok(Self {
            inner,
            special: SpecialTokens { pad, bos, eos },
            chat: None,
        })
    }

    /// Renders every prompt as the user turn of `template` (after a `system` message when one
    /// is given; otherwise the template's own default, if it has one), ending where the
    /// assistant's answer begins (`add_generation_prompt`), as an instruct checkpoint was tuned
    /// to read it. The rendered text is tokenized as `transformers`' `apply_chat_template` does, with
    /// no special tokens added: the template places `bos` itself where the model expects one.
    /// Responses still end with `eos`, which for chat checkpoints is the end-of-turn token.
    ///
    /// Fails when the template cannot render a one-message conversation, so that a broken
    /// template is found when it is attached rather than at the first prompt.
    pub fn with_chat_template(
        mut self,
        template: ChatTemplate,
        system: Option<&str>,
    ) -> Result<Self> {
        let chat = ChatPrompt {
            template,
            system: system.map(str::to_string),
        };
        chat.render("probe")?;
        self.chat = Some(chat);
        Ok(self)
    }

    /// The chat template prompts are rendered with, if any.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref().map(|c| &c.template)
    }

    /// Token ids of `text`, no special tokens added (what `transformers` gives with
    /// `add_special_tokens=False`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_text(text)
    }

    /// Token ids of `text` with the tokenizer's own special tokens added (a `bos` for Llama-2
    /// style tokenizers, nothing for GPT-2 style ones): what `tokenizer(text)` gives in
    /// `transformers`.
    pub fn encode_with_special_tokens(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// The spelling of the end-of-sequence token.
    pub fn eos_text(&self) -> Result<String> {
        self.inner.id_to_token(self.special.eos).ok_or_else(|| {
            ModelError::Tokenizer(format!("the eos id {} has no token", self.special.eos))
        })
    }

    /// Writes the tokenizer as `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))
    }

    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }
}

impl Tokenizer for TextTokenizer {
    fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn special(&self) -> SpecialTokens {
        self.special
    }

    fn encode_prompt(&self, prompt: &Prompt<'_>) -> Result<Vec<u32>> {
        match &self.chat {
            Some(chat) => self.encode_text(&chat.render(prompt.text)?),
            None => {
                let mut tokens = vec![self.special.bos];
                tokens.extend(self.encode_text(prompt.text)?);
                Ok(tokens)
            }
        }
    }

    fn encode_response(&self, response: &Response<'_>) -> Result<Vec<u32>> {
        let mut tokens = self.encode_text(response.text)?;
        tokens.push(self.special.eos);
        Ok(tokens)
    }

    fn decode_response(&self, tokens: &[u32]) -> Result<Decoded> {
        let end = tokens
            .iter()
            .position(|&t| t == self.special.eos)
            .unwrap_or(tokens.len());
        let text = self
            .inner
            .decode(&tokens[..end], true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Decoded { text, item: None })
    }

    fn reads_items(&self) -> bool {
        false
    }
}
