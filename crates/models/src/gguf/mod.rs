//! llama.cpp's GGUF checkpoints: the container ([`GgufFile`]), every block type's
//! dequantization ([`quant`]), and the Llama / Qwen2 model of a file ([`load_model`]), read as
//! the Hugging Face checkpoint it was converted from.
//!
//! ```no_run
//! use burn::tensor::{DType, Device};
//! use prefopt_models::gguf;
//!
//! let path = std::path::Path::new("/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
//! let (model, config) = gguf::load_model(path, &Device::flex(), DType::F32)?;
//! println!("{:?}: {} layers", config.architecture, config.transformer.layers);
//! # Ok::<(), prefopt_models::ModelError>(())
//! ```

mod container;
mod model;
pub mod quant;
mod tokenizer;

use std::path::Path;

use burn::tensor::{DType, Device};

pub use container::{GgufFile, TensorInfo, Value};
pub use model::{NamedTensor, hf_config, hf_tensors};
pub use tokenizer::tokenizer;

use crate::error::Result;
use crate::pretrained::weights::WeightSource;
use crate::pretrained::{HfConfig, Pretrained};
use crate::transformer::Transformer;

/// Whether `path` names a GGUF file (by its extension).
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The model of a GGUF file on `device`, its weights dequantized to f32 and cast to `dtype`.
pub fn load_model(path: &Path, device: &Device, dtype: DType) -> Result<(Transformer, HfConfig)> {
    let file = GgufFile::open(path)?;
    let config = hf_config(&file)?;
    let model = model_of(file, &config, device, dtype)?;
    Ok((model, config))
}

/// A GGUF checkpoint as a [`Pretrained`]: the model, the tokenizer of its metadata, its
/// config.
pub fn load(path: &Path, device: &Device, dtype: DType) -> Result<Pretrained> {
    let file = GgufFile::open(path)?;
    let config = hf_config(&file)?;
    let tokenizer = tokenizer(&file)?;
    let chat_template = tokenizer::chat_template(&file);
    let model = model_of(file, &config, device, dtype)?;
    Ok(Pretrained {
        model,
        tokenizer,
        config,
        chat_template,
        dir: path.to_path_buf(),
    })
}

/// Fills a skeleton of `config` with the file's dequantized weights (the file is dropped once
/// its tensors are converted, so the quantized and the f32 copies are not both held long).
fn model_of(
    file: GgufFile,
    config: &HfConfig,
    device: &Device,
    dtype: DType,
) -> Result<Transformer> {
    crate::pretrained::check_float(dtype)?;
    let name = file.path().to_string();
    let tensors = hf_tensors(&file, config)?;
    drop(file);
    let bytes = model::to_safetensors(&tensors)?;
    drop(tensors);
    let mut transformer = crate::transformer::skeleton(&config.transformer, device);
    let source = WeightSource::Bytes { name, bytes };
    crate::pretrained::weights::load_sources(
        &mut transformer,
        config.architecture,
        vec![source],
        dtype,
    )?;
    Ok(transformer)
}

/// The Hugging Face files a GGUF checkpoint stands for, as `(file name, text)`:
/// `config.json` (float32), `tokenizer.json`, and `tokenizer_config.json` with the chat
/// template and the bos/eos spellings.
pub(crate) fn hf_files(path: &Path) -> Result<(HfConfig, Vec<(&'static str, String)>)> {
    let file = GgufFile::open(path)?;
    let config = hf_config(&file)?;
    let mut config_json = model::config_json(&file)?;
    if let Some(fields) = config_json.as_object_mut() {
        fields.insert("torch_dtype".into(), "float32".into());
    }
    let tokenizer_json = tokenizer::tokenizer_json(&file)?;
    let mut tokenizer_config = serde_json::Map::new();
    if let Some(template) = tokenizer::chat_template(&file) {
        tokenizer_config.insert("chat_template".into(), template.source.into());
        tokenizer_config.insert("bos_token".into(), template.bos_token.into());
        tokenizer_config.insert("eos_token".into(), template.eos_token.into());
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    Ok((
        config,
        vec![
            ("config.json", pretty(&config_json)),
            ("tokenizer.json", pretty(&tokenizer_json)),
            (
                "tokenizer_config.json",
                pretty(&serde_json::Value::Object(tokenizer_config)),
            ),
        ],
    ))
}
