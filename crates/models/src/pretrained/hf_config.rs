//! A checkpoint's `config.json` read into a [`TransformerConfig`], field by field as
//! `transformers` reads it (its defaults where a field is absent), refusing what the models
//! crate does not implement rather than loading a model that computes something else.

use serde_json::{Map, Value};

use crate::config::{
    Activation, Biases, NormKind, PositionEncoding, RopeFrequencyPrecision, RopeScaling,
    TransformerConfig,
};
use crate::error::{ModelError, Result};

/// The families whose checkpoints load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM` (Llama 1–3, TinyLlama, Mistral-style GQA without sliding windows).
    Llama,
    /// `Qwen2ForCausalLM`: Llama's block with biases on q/k/v.
    Qwen2,
    /// `GPT2LMHeadModel`: learned positions, layer norms, fused `c_attn`, Conv1D weights.
    Gpt2,
}

impl Architecture {
    /// The `architectures` / `model_type` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Gpt2 => "GPT2LMHeadModel",
        }
    }
}

/// What `config.json` says beyond the shape: the special-token ids.
#[derive(Clone, Debug, PartialEq)]
pub struct HfConfig {
    pub architecture: Architecture,
    pub transformer: TransformerConfig,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub pad_token_id: Option<u32>,
}

/// Field access with errors that name the file and the field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    file: &'a str,
}

impl Fields<'_> {
    fn error(&self, message: String) -> ModelError {
        ModelError::InvalidConfig(format!("{}: {message}", self.file))
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.optional_usize(key)?
            .ok_or_else(|| self.error(format!("`{key}` is missing")))
    }

    /// A size of the model. Sizes above 2³¹ are refused: no released checkpoint comes near,
    /// and a corrupt value would otherwise size an allocation or overflow a product.
    fn optional_usize(&self, key: &str) -> Result<Option<usize>> {
        const LIMIT: u64 = 1 << 31;
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => match value.as_u64() {
                Some(v) if v <= LIMIT => Ok(Some(v as usize)),
                Some(v) => Err(self.error(format!("`{key}` is {v}, above the limit of {LIMIT}"))),
                None => Err(self.error(format!(
                    "`{key}` must be a non-negative integer, got {value}"
                ))),
            },
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_f64()
                .ok_or_else(|| self.error(format!("`{key}` must be a number, got {value}"))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_bool()
                .ok_or_else(|| self.error(format!("`{key}` must be true or false, got {value}"))),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_str()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a string, got {value}"))),
        }
    }

    /// A token id; a list (several eos ids, as Llama 3 lists) gives its first entry.
    fn token_id(&self, key: &str) -> Result<Option<u32>> {
        let value = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(ids)) => match ids.first() {
                Some(first) => first,
                None => return Ok(None),
            },
            Some(value) => value,
        };
        value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| self.error(format!("`{key}` must be a token id, got {value}")))
    }

    /// Fails when `key` is present with a value other than the one the loader implements.
    fn require(&self, key: &str, supported: &Value, meaning: &str) -> Result<()> {
        match self.map.get(key) {
            Some(value) if !value.is_null() && value != supported => Err(self.error(format!(
                "`{key}` = {value} is not supported ({meaning}); only {supported} is"
            ))),
            _ => Ok(()),
        }
    }
}

/// Parses `config.json` text. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<HfConfig> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ModelError::InvalidConfig(format!("{file}: not JSON: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| ModelError::InvalidConfig(format!("{file}: not a JSON object")))?;
    let fields = Fields { map, file };
    let architecture = architecture(&fields)?;
    let transformer = match architecture {
        Architecture::Llama | Architecture::Qwen2 => llama_like(&fields, architecture)?,
        Architecture::Gpt2 => gpt2(&fields)?,
    };
    transformer
        .check()
        .map_err(|e| fields.error(format!("the config describes no buildable model: {e}")))?;
    Ok(HfConfig {
        architecture,
        transformer,
        bos_token_id: fields.token_id("bos_token_id")?,
        eos_token_id: fields.token_id("eos_token_id")?,
        pad_token_id: fields.token_id("pad_token_id")?,
    })
}

fn architecture(fields: &Fields<'_>) -> Result<Architecture> {
    let listed = fields
        .map
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    let model_type = fields.str("model_type")?;
    match (listed, model_type) {
        (Some("LlamaForCausalLM"), _) | (None, Some("llama")) => Ok(Architecture::Llama),
        (Some("Qwen2ForCausalLM"), _) | (None, Some("qwen2")) => Ok(Architecture::Qwen2),
        (Some("GPT2LMHeadModel"), _) | (None, Some("gpt2")) => Ok(Architecture::Gpt2),
        (listed, model_type) => Err(fields.error(format!(
            "unsupported architecture {} (model_type {}); supported: LlamaForCausalLM, \
             Qwen2ForCausalLM, GPT2LMHeadModel",
            listed.unwrap_or("(none listed)"),
            model_type.unwrap_or("(none)")
        ))),
    }
}

fn activation(fields: &Fields<'_>, key: &str, default: &str) -> Result<Activation> {
    let name = fields.str(key)?.unwrap_or(default);
    match name {
        "silu" | "swish" => Ok(Activation::Silu),
        "gelu" => Ok(Activation::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
        "relu" => Ok(Activation::Relu),
        other => Err(fields.error(format!(
            "`{key}` = \"{other}\" is not supported; supported: silu, gelu, gelu_new, \
             gelu_pytorch_tanh, relu"
        ))),
    }
}

/// `rope_parameters` (transformers ≥ 5) or the older top-level `rope_theta` + `rope_scaling`.
fn rope(fields: &Fields<'_>, default_theta: f64) -> Result<PositionEncoding> {
    let parameters = fields
        .map
        .get("rope_parameters")
        .filter(|v| !v.is_null())
        .or_else(|| fields.map.get("rope_scaling").filter(|v| !v.is_null()));
    let top_theta = fields.f64_or("rope_theta", default_theta)?;
    // The frequency buffer takes the checkpoint's dtype (`dtype`, `torch_dtype` before
    // transformers 4.56) when `transformers` loads it.
    let dtype = fields.str("dtype")?.or(fields.str("torch_dtype")?);
    let precision = match dtype {
        Some("bfloat16") => RopeFrequencyPrecision::Bf16,
        Some("float16") => RopeFrequencyPrecision::F16,
        _ => RopeFrequencyPrecision::F32,
    };
    let Some(parameters) = parameters else {
        return Ok(PositionEncoding::Rope {
            theta: top_theta,
            scaling: None,
            precision,
        });
    };
    let mut parameters = parameters
        .as_object()
        .ok_or_else(|| fields.error("`rope_parameters` must be an object".into()))?;
    // Nested by layer type (models mixing full and sliding attention): every layer here is
    // full attention, so that entry is the one to read.
    if parameters.values().any(Value::is_object) {
        parameters = parameters
            .get("full_attention")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                fields.error(
                    "`rope_parameters` is nested by layer type without a `full_attention` entry"
                        .into(),
                )
            })?;
    }
    let inner = Fields {
        map: parameters,
        file: fields.file,
    };
    let theta = inner.f64_or("rope_theta", top_theta)?;
    let kind = inner
        .str("rope_type")?
        .or(inner.str("type")?)
        .unwrap_or("default");
    for partial in [
        fields.map.get("partial_rotary_factor"),
        parameters.get("partial_rotary_factor"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_f64)
    {
        if partial != 1.0 {
            return Err(fields.error(format!(
                "`partial_rotary_factor` = {partial} is not supported (rotary embeddings cover \
                 whole heads)"
            )));
        }
    }
    let number = |key: &str| -> Result<f64> {
        parameters
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| fields.error(format!("rope type `{kind}` needs a numeric `{key}`")))
    };
    let scaling = match kind {
        "default" => None,
        "linear" => Some(RopeScaling::Linear {
            factor: number("factor")?,
        }),
        "llama3" => Some(RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            // As `transformers` resolves it: the top-level field first, then the rope
            // parameters', then the model's own context length.
            original_max_positions: match fields
                .optional_usize("original_max_position_embeddings")?
                .or(inner.optional_usize("original_max_position_embeddings")?)
                .or(fields.optional_usize("max_position_embeddings")?)
            {
                Some(length) => length,
                None => {
                    return Err(fields.error(
                        "rope type `llama3` needs `original_max_position_embeddings`".into(),
                    ));
                }
            },
        }),
        other => {
            return Err(fields.error(format!(
                "rope type `{other}` is not supported; supported: default, linear, llama3"
            )));
        }
    };
    Ok(PositionEncoding::Rope {
        theta,
        scaling,
        precision,
    })
}

fn llama_like(fields: &Fields<'_>, architecture: Architecture) -> Result<TransformerConfig> {
    let d_model = fields.usize("hidden_size")?;
    let heads = fields.usize("num_attention_heads")?;
    let kv_heads = fields
        .optional_usize("num_key_value_heads")?
        .unwrap_or(heads);
    let head_dim = fields.optional_usize("head_dim")?;
    let biases = match architecture {
        Architecture::Qwen2 => {
            fields.require(
                "use_sliding_window",
                &Value::Bool(false),
                "sliding-window attention",
            )?;
            Biases {
                qkv: true,
                attention_output: false,
                mlp: false,
            }
        }
        _ => {
            let attention = fields.bool_or("attention_bias", false)?;
            Biases {
                qkv: attention,
                attention_output: attention,
                mlp: fields.bool_or("mlp_bias", false)?,
            }
        }
    };
    Ok(TransformerConfig {
        vocab_size: fields.usize("vocab_size")?,
        d_model,
        layers: fields.usize("num_hidden_layers")?,
        heads,
        kv_heads: (kv_heads != heads).then_some(kv_heads),
        head_dim: head_dim.filter(|&h| h.checked_mul(heads) != Some(d_model)),
        d_ff: fields.usize("intermediate_size")?,
        max_positions: fields
            .optional_usize("max_position_embeddings")?
            .unwrap_or(2048),
        positions: rope(fields, 10_000.0)?,
        norm: NormKind::RmsNorm,
        norm_eps: fields.f64_or("rms_norm_eps", 1e-6)?,
        activation: activation(fields, "hidden_act", "silu")?,
        gated_mlp: true,
        biases,
        fused_qkv: false,
        tie_embeddings: fields.bool_or("tie_word_embeddings", false)?,
        init_std: fields.f64_or("initializer_range", 0.02)?,
    })
}

fn gpt2(fields: &Fields<'_>) -> Result<TransformerConfig> {
    fields.require(
        "scale_attn_weights",
        &Value::Bool(true),
        "attention scores are divided by √head_dim",
    )?;
    fields.require(
        "scale_attn_by_inverse_layer_idx",
        &Value::Bool(false),
        "per-layer attention scaling",
    )?;
    fields.require(
        "add_cross_attention",
        &Value::Bool(false),
        "decoder-only models",
    )?;
    let d_model = fields.usize("n_embd")?;
    Ok(TransformerConfig {
        vocab_size: fields.usize("vocab_size")?,
        d_model,
        layers: fields.usize("n_layer")?,
        heads: fields.usize("n_head")?,
        kv_heads: None,
        head_dim: None,
        d_ff: fields.optional_usize("n_inner")?.unwrap_or(4 * d_model),
        max_positions: fields.usize("n_positions")?,
        positions: PositionEncoding::Learned,
        norm: NormKind::LayerNorm,
        norm_eps: fields.f64_or("layer_norm_epsilon", 1e-5)?,
        activation: activation(fields, "activation_function", "gelu_new")?,
        gated_mlp: false,
        biases: Biases::default(),
        fused_qkv: true,
        tie_embeddings: fields.bool_or("tie_word_embeddings", true)?,
        init_std: fields.f64_or("initializer_range", 0.02)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: &str = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32,
        "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100,
        "rms_norm_eps": 1e-5, "eos_token_id": [5, 6],
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "rope_theta": 500000.0}"#;

    #[test]
    fn llama3_fields_are_read() {
        let config = parse(LLAMA, "config.json").unwrap();
        let t = &config.transformer;
        assert_eq!(config.architecture, Architecture::Llama);
        assert_eq!((t.kv_heads(), t.head_dim()), (1, 32));
        assert_eq!(config.eos_token_id, Some(5));
        assert!(!t.tie_embeddings);
        match t.positions {
            PositionEncoding::Rope {
                theta,
                scaling: Some(RopeScaling::Llama3 { factor, .. }),
                ..
            } => assert_eq!((theta, factor), (500000.0, 8.0)),
            other => panic!("{other:?}"),
        }
    }

    /// transformers ≥ 5 writes `rope_parameters`; a llama3 block without
    /// `original_max_position_embeddings` falls back to the model's context length.
    #[test]
    fn rope_parameters_are_read_like_transformers() {
        let text = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
            "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 96,
            "vocab_size": 100, "max_position_embeddings": 4096, "dtype": "bfloat16",
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0}}"#;
        let config = parse(text, "config.json").unwrap();
        assert_eq!(
            config.transformer.positions,
            PositionEncoding::Rope {
                theta: 500000.0,
                scaling: Some(RopeScaling::Llama3 {
                    factor: 8.0,
                    low_freq_factor: 1.0,
                    high_freq_factor: 4.0,
                    original_max_positions: 4096,
                }),
                precision: RopeFrequencyPrecision::Bf16,
            }
        );
        let partial = text.replace(
            "\"factor\": 8,",
            "\"factor\": 8, \"partial_rotary_factor\": 0.5,",
        );
        assert!(
            parse(&partial, "c")
                .unwrap_err()
                .to_string()
                .contains("partial_rotary_factor")
        );
    }

    #[test]
    fn unsupported_settings_name_the_field() {
        let bad = |text: &str| parse(text, "x/config.json").unwrap_err().to_string();
        assert!(
            bad(r#"{"architectures": ["MistralForCausalLM"]}"#)
                .contains("unsupported architecture MistralForCausalLM")
        );
        let yarn = LLAMA.replace("\"llama3\"", "\"yarn\"");
        assert!(bad(&yarn).contains("rope type `yarn` is not supported"));
        let no_layers = LLAMA.replace("\"num_hidden_layers\": 2,", "");
        assert!(bad(&no_layers).contains("x/config.json: `num_hidden_layers` is missing"));
        let act = LLAMA.replace(
            "\"vocab_size\"",
            "\"hidden_act\": \"gelu_fast\", \"vocab_size\"",
        );
        assert!(bad(&act).contains("`hidden_act` = \"gelu_fast\" is not supported"));
        let gpt2 = r#"{"architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_head": 2,
            "n_layer": 1, "n_positions": 16, "vocab_size": 10,
            "scale_attn_by_inverse_layer_idx": true}"#;
        assert!(bad(gpt2).contains("`scale_attn_by_inverse_layer_idx` = true is not supported"));
    }
}
