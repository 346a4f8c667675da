//! A GGUF checkpoint as a Hugging Face one: the `<arch>.*` metadata read as the `config.json`
//! it stands for, and the tensors dequantized under their `transformers` names, so the loader
//! of `crate::pretrained` (shape checks, key patterns, dtype casts) fills the model.

use serde_json::{Map, Value as Json, json};

use super::container::GgufFile;
use crate::error::{ModelError, Result};
use crate::pretrained::{Architecture, HfConfig};

/// A dequantized tensor under its Hugging Face name, row-major.
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

fn error(file: &GgufFile, reason: String) -> ModelError {
    ModelError::Checkpoint {
        path: file.path().into(),
        reason: format!("GGUF: {reason}"),
    }
}

/// `general.architecture` as one this crate loads.
fn architecture(file: &GgufFile) -> Result<(&str, Architecture)> {
    let name = file.get_str("general.architecture")?;
    let architecture = match name {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        other => {
            return Err(error(
                file,
                format!("general.architecture `{other}` (this loader reads llama and qwen2)"),
            ));
        }
    };
    Ok((name, architecture))
}

/// The `config.json` fields the `<arch>.*` and `tokenizer.ggml.*` keys stand for.
pub(crate) fn config_json(file: &GgufFile) -> Result<Json> {
    let (arch, architecture) = architecture(file)?;
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let optional_u64 = |suffix: &str| file.metadata.get(&key(suffix)).and_then(|v| v.as_u64());
    let heads = file.get_u64(&key("attention.head_count"))?;
    let embedding = file
        .tensor("token_embd.weight")
        .ok_or_else(|| error(file, "no tensor `token_embd.weight`".into()))?;
    let vocab_size = embedding.dims.get(1).copied().unwrap_or(0);
    let mut config = Map::new();
    let hf_name = match architecture {
        Architecture::Qwen2 => "Qwen2ForCausalLM",
        _ => "LlamaForCausalLM",
    };
    config.insert("architectures".into(), json!([hf_name]));
    config.insert("model_type".into(), json!(arch));
    config.insert(
        "hidden_size".into(),
        json!(file.get_u64(&key("embedding_length"))?),
    );
    config.insert(
        "intermediate_size".into(),
        json!(file.get_u64(&key("feed_forward_length"))?),
    );
    config.insert(
        "num_hidden_layers".into(),
        json!(file.get_u64(&key("block_count"))?),
    );
    config.insert("num_attention_heads".into(), json!(heads));
    config.insert(
        "num_key_value_heads".into(),
        json!(optional_u64("attention.head_count_kv").unwrap_or(heads)),
    );
    if let Some(head_dim) = optional_u64("attention.key_length") {
        config.insert("head_dim".into(), json!(head_dim));
    }
    config.insert("vocab_size".into(), json!(vocab_size));
    if let Some(context) = optional_u64("context_length") {
        config.insert("max_position_embeddings".into(), json!(context));
    }
    config.insert(
        "rms_norm_eps".into(),
        json!(file.get_f64(&key("attention.layer_norm_rms_epsilon"))?),
    );
    if let Some(theta) = file
        .metadata
        .get(&key("rope.freq_base"))
        .and_then(|v| v.as_f64())
    {
        config.insert("rope_theta".into(), json!(theta));
    }
    config.insert("hidden_act".into(), json!("silu"));
    config.insert(
        "tie_word_embeddings".into(),
        json!(file.tensor("output.weight").is_none()),
    );
    for (hf, gguf) in [
        ("bos_token_id", "tokenizer.ggml.bos_token_id"),
        ("eos_token_id", "tokenizer.ggml.eos_token_id"),
        ("pad_token_id", "tokenizer.ggml.padding_token_id"),
    ] {
        if let Some(id) = file.metadata.get(gguf).and_then(|v| v.as_u64()) {
            config.insert(hf.into(), json!(id));
        }
    }
    Ok(Json::Object(config))
}

/// The model config of a GGUF file.
pub fn hf_config(file: &GgufFile) -> Result<HfConfig> {
    let text = config_json(file)?.to_string();
    crate::pretrained::parse_config(&text, &format!("{} (GGUF metadata)", file.path()))
}

/// The Hugging Face name of a llama.cpp tensor name (`None`: not a weight of the model, such
/// as `rope_freqs.weight`, which the config's rope settings already give).
fn hf_name(name: &str) -> Option<String> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(fixed) = fixed {
        return Some(fixed.into());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    layer.parse::<usize>().ok()?;
    let (part, kind) = tail.rsplit_once('.')?;
    let module = match part {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}.{kind}"))
}

/// Undoes llama.cpp's rotary permutation of a Llama Q or K projection (`rows = heads · 2 ·
/// half`): GGUF row `h·2·half + 2i + j` is Hugging Face row `h·2·half + j·half + i`.
fn unpermute_rows(values: &[f32], shape: &[usize], heads: usize) -> Option<Vec<f32>> {
    let (rows, cols) = (*shape.first()?, shape.get(1).copied().unwrap_or(1));
    if heads == 0 || !rows.is_multiple_of(2 * heads) || rows * cols != values.len() {
        return None;
    }
    let half = rows / heads / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let from = h * 2 * half + 2 * i + j;
                let to = h * 2 * half + j * half + i;
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&values[from * cols..(from + 1) * cols]);
            }
        }
    }
    Some(out)
}

/// Every weight of the file, dequantized, under its Hugging Face name. A tensor name this
/// loader does not know is an error naming it (rather than a weight silently dropped).
pub fn hf_tensors(file: &GgufFile, config: &HfConfig) -> Result<Vec<NamedTensor>> {
    let heads = config.transformer.heads;
    let kv_heads = config.transformer.kv_heads();
    let permuted = config.architecture == Architecture::Llama;
    let mut out = Vec::with_capacity(file.tensors.len());
    for info in &file.tensors {
        if info.name == "rope_freqs.weight" {
            continue;
        }
        let name = hf_name(&info.name).ok_or_else(|| {
            error(
                file,
                format!(
                    "tensor `{}` has no place in a {} model",
                    info.name,
                    config.architecture.name()
                ),
            )
        })?;
        let shape = info.shape();
        let mut values = file.dequantize(info)?;
        let rotary_heads = if !permuted {
            None
        } else if name.ends_with("q_proj.weight") {
            Some(heads)
        } else if name.ends_with("k_proj.weight") {
            Some(kv_heads)
        } else {
            None
        };
        if let Some(n) = rotary_heads {
            values = unpermute_rows(&values, &shape, n).ok_or_else(|| {
                error(
                    file,
                    format!(
                        "tensor `{}` of shape {shape:?} does not split into {n} rotary heads",
                        info.name
                    ),
                )
            })?;
        }
        out.push(NamedTensor {
            name,
            shape,
            values,
        });
    }
    Ok(out)
}

/// The tensors as the bytes of one safetensors file (f32).
pub fn to_safetensors(tensors: &[NamedTensor]) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|t| {
            let bytes: &[u8] = bytemuck::cast_slice(&t.values);
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), bytes)
                .map(|view| (t.name.clone(), view))
                .map_err(|e| ModelError::InvalidConfig(format!("tensor `{}`: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None)
        .map_err(|e| ModelError::InvalidConfig(format!("serializing GGUF weights: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_transformers() {
        assert_eq!(
            hf_name("blk.3.attn_q.weight").unwrap(),
            "model.layers.3.self_attn.q_proj.weight"
        );
        assert_eq!(
            hf_name("blk.0.attn_k.bias").unwrap(),
            "model.layers.0.self_attn.k_proj.bias"
        );
        assert_eq!(
            hf_name("blk.12.ffn_down.weight").unwrap(),
            "model.layers.12.mlp.down_proj.weight"
        );
        assert_eq!(hf_name("output_norm.weight").unwrap(), "model.norm.weight");
        assert!(hf_name("blk.x.attn_q.weight").is_none());
        assert!(hf_name("blk.1.attn_q_norm.weight").is_none());
    }

    #[test]
    fn unpermuting_inverts_llama_cpp_permutation() {
        // 2 heads, half = 2 (4 rows per head), 3 columns: row r holds r in every column.
        let (heads, half, cols) = (2, 2, 3);
        let rows = heads * 2 * half;
        let hf: Vec<f32> = (0..rows).flat_map(|r| vec![r as f32; cols]).collect();
        // llama.cpp's permute: reshape(h, 2, half, cols).swapaxes(1, 2).
        let mut gguf = vec![0f32; hf.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    let from = h * 2 * half + j * half + i;
                    let to = h * 2 * half + 2 * i + j;
                    gguf[to * cols..(to + 1) * cols]
                        .copy_from_slice(&hf[from * cols..(from + 1) * cols]);
                }
            }
        }
        assert_ne!(gguf, hf);
        assert_eq!(unpermute_rows(&gguf, &[rows, cols], heads).unwrap(), hf);
        assert!(
            unpermute_rows(&gguf, &[rows, cols], 3).is_none(),
            "8 rows are not 3 heads"
        );
    }
}
