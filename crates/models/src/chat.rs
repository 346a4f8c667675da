//! Chat templates: the Jinja template an instruct checkpoint ships (`chat_template` in
//! `tokenizer_config.json`, `tokenizer.chat_template` in a GGUF file), rendered as
//! `transformers`' `apply_chat_template` renders it — `messages`, `add_generation_prompt`,
//! `bos_token`, `eos_token` in the context, `raise_exception`, Python string methods.

use std::path::Path;

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value, context};
use serde::Serialize;

use crate::error::{ModelError, Result};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A checkpoint's chat template and the special tokens it may print.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

fn template_error(e: JinjaError) -> ModelError {
    ModelError::Tokenizer(format!("chat template: {e:#}"))
}

impl ChatTemplate {
    /// The `chat_template` of a `tokenizer_config.json` (a string, or the list of named
    /// templates some checkpoints ship, of which `default` is taken), `None` when it has none.
    pub fn from_tokenizer_config(path: &Path) -> Result<Option<Self>> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Tokenizer(format!("{}: not JSON: {e}", path.display())))?;
        let source = match config.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => match named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
            {
                Some(s) => s.to_string(),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let token = |key: &str| -> String {
            match config.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Object(o)) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            }
        };
        Ok(Some(Self {
            source,
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
        }))
    }

    /// The conversation as the model's prompt text; with `add_generation_prompt`, ending where
    /// the assistant's answer begins.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let mut env = Environment::new();
        // transformers renders with `trim_blocks` and `lstrip_blocks`.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<Value, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(template_error)?;
        let template = env.get_template("chat").map_err(template_error)?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(template_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chatml() -> ChatTemplate {
        ChatTemplate {
            source: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content.strip() }}<|im_end|>\n{% endfor %}\
                     {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
                .into(),
            bos_token: String::new(),
            eos_token: "<|im_end|>".into(),
        }
    }

    #[test]
    fn renders_messages_and_the_generation_prompt() {
        let text = chatml()
            .render(&[ChatMessage::new("user", " Hi ")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn a_template_that_raises_is_an_error_with_its_message() {
        let template = ChatTemplate {
            source: "{{ raise_exception('roles must alternate') }}".into(),
            ..chatml()
        };
        let error = template.render(&[], false).unwrap_err().to_string();
        assert!(error.contains("roles must alternate"), "{error}");
        let broken = ChatTemplate {
            source: "{% for %}".into(),
            ..chatml()
        };
        assert!(broken.render(&[], false).is_err());
    }
}
