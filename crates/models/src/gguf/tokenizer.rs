//! The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata, built as the
//! `tokenizers` tokenizer its Hugging Face `tokenizer.json` would be: a byte-level BPE over the
//! file's tokens and merges, the pre-tokenizer its `tokenizer.ggml.pre` type names, control and
//! user-defined tokens as added tokens.

use serde_json::{Value as Json, json};

use super::container::GgufFile;
use crate::chat::ChatTemplate;
use crate::error::{ModelError, Result};
use crate::tokenizer::{SpecialTokenIds, TextTokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// Llama 3's split regex (`llama-bpe`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split regex (single digits).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn error(file: &GgufFile, reason: String) -> ModelError {
    ModelError::Tokenizer(format!("{}: GGUF tokenizer: {reason}", file.path()))
}

fn byte_level(use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex})
}

fn split(pattern: &str) -> Json {
    json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false})
}

/// The pre-tokenizer (and normalizer) of a `tokenizer.ggml.pre` type, as the Hugging Face
/// tokenizers of those models define them.
fn pre_tokenizer(file: &GgufFile, pre: &str) -> Result<(Json, Json)> {
    Ok(match pre {
        "default" | "gpt2" | "gpt-2" => (Json::Null, byte_level(true)),
        // SmolLM / StarCoder: digits one by one, then GPT-2's split.
        "smollm" | "starcoder" | "refact" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        ),
        "llama-bpe" | "llama3" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level(false)]}),
        ),
        "qwen2" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false)]}),
        ),
        other => {
            return Err(error(
                file,
                format!("pre-tokenizer type `{other}` (known: gpt2, smollm, llama-bpe, qwen2)"),
            ));
        }
    })
}

fn strings<'a>(file: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    file.get(key)?
        .as_array()
        .ok_or_else(|| error(file, format!("`{key}` is not an array")))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| error(file, format!("`{key}`[{i}] is not a string")))
        })
        .collect()
}

/// The `tokenizer.json` document of the file's tokenizer.
pub(crate) fn tokenizer_json(file: &GgufFile) -> Result<Json> {
    let model = file.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(error(
            file,
            format!("tokenizer model `{model}` (this loader builds byte-level BPE, `gpt2`)"),
        ));
    }
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = strings(file, "tokenizer.ggml.merges")?;
    let types: Vec<u64> = match file.metadata.get("tokenizer.ggml.token_type") {
        Some(value) => value
            .as_array()
            .ok_or_else(|| error(file, "`tokenizer.ggml.token_type` is not an array".into()))?
            .iter()
            .map(|v| v.as_u64().unwrap_or(1))
            .collect(),
        None => vec![1; tokens.len()],
    };
    let pre = match file.metadata.get("tokenizer.ggml.pre") {
        Some(v) => v
            .as_str()
            .ok_or_else(|| error(file, "`tokenizer.ggml.pre` is not a string".into()))?,
        None => "default",
    };
    let (normalizer, pre_tokenizer) = pre_tokenizer(file, pre)?;
    let vocab: serde_json::Map<String, Json> = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.to_string(), json!(id)))
        .collect();
    if vocab.len() != tokens.len() {
        return Err(error(
            file,
            "`tokenizer.ggml.tokens` repeats a token".into(),
        ));
    }
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, ty))| matches!(**ty, CONTROL | USER_DEFINED))
        .map(|(id, (token, ty))| {
            json!({"id": id, "content": token, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": *ty == USER_DEFINED, "special": *ty == CONTROL})
        })
        .collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    }))
}

/// The file's tokenizer with its bos/eos/padding ids.
pub fn tokenizer(file: &GgufFile) -> Result<TextTokenizer> {
    let json = tokenizer_json(file)?;
    crate::tokenizer::text::check_added_tokens(&json)
        .map_err(|reason| error(file, format!("tokenizer.ggml.tokens: {reason}")))?;
    let text = json.to_string();
    let inner: tokenizers::Tokenizer = text
        .parse()
        .map_err(|e| error(file, format!("building the tokenizer: {e}")))?;
    let id = |key: &str| {
        file.metadata
            .get(key)
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
    };
    TextTokenizer::from_tokenizer_with(
        inner,
        SpecialTokenIds {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            pad: id("tokenizer.ggml.padding_token_id"),
        },
    )
}

/// The file's `tokenizer.chat_template`, with the spellings of its bos and eos tokens.
pub fn chat_template(file: &GgufFile) -> Option<ChatTemplate> {
    let source = file
        .metadata
        .get("tokenizer.chat_template")?
        .as_str()?
        .to_string();
    let spelling = |key: &str| -> String {
        let id = file.metadata.get(key).and_then(|v| v.as_u64());
        let tokens = file
            .metadata
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array());
        id.zip(tokens)
            .and_then(|(id, tokens)| tokens.get(id as usize))
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Some(ChatTemplate {
        source,
        bos_token: spelling("tokenizer.ggml.bos_token_id"),
        eos_token: spelling("tokenizer.ggml.eos_token_id"),
    })
}
