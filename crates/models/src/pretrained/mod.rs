//! Pretrained Hugging Face checkpoints: a folder as `transformers` writes it (`config.json`,
//! `model.safetensors` or shards with `model.safetensors.index.json`, `tokenizer.json`) loaded
//! into the crate's [`Transformer`], so the trainers, shared-prefix scoring and generation run
//! on it unchanged.
//!
//! ```no_run
//! use burn::tensor::{DType, Device};
//! use prefopt_models::pretrained::Pretrained;
//!
//! let pretrained = Pretrained::load("checkpoints/Qwen2-0.5B".as_ref(), &Device::flex(), DType::F32)?;
//! let ids = pretrained.tokenizer.encode("The user watched")?;
//! println!("{} parameters, {} prompt tokens", pretrained.model.num_params(), ids.len());
//! # use burn::module::Module;
//! # Ok::<(), prefopt_models::ModelError>(())
//! ```

mod export;
mod hf_config;
mod names;
pub(crate) mod weights;

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};

pub(crate) use export::file_for_transformers;
pub use export::save_checkpoint;
pub(crate) use hf_config::parse as parse_config;
pub use hf_config::{Architecture, HfConfig};
pub use weights::weight_files;

use crate::chat::ChatTemplate;
use crate::error::{ModelError, Result};
use crate::tokenizer::{SpecialTokenIds, TextTokenizer};
use crate::transformer::Transformer;

/// A loaded checkpoint: the model, its tokenizer and what its config said.
#[derive(Debug)]
pub struct Pretrained {
    pub model: Transformer,
    pub tokenizer: TextTokenizer,
    pub config: HfConfig,
    /// The checkpoint's chat template (`tokenizer_config.json`, or a GGUF file's metadata).
    pub chat_template: Option<ChatTemplate>,
    pub dir: PathBuf,
}

impl Pretrained {
    /// Loads the checkpoint folder `dir` onto `device` with float weights of type `dtype`
    /// (f32 for training and parity; the file's own f16/bf16 values are upcast exactly).
    /// `dir` may also be a `.gguf` file (`crate::gguf::load`).
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        if crate::gguf::is_gguf(dir) {
            return crate::gguf::load(dir, device, dtype);
        }
        let config = read_config(dir)?;
        let model = load_model(dir, &config, device, dtype)?;
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(ModelError::InvalidConfig(format!(
                "{}: no tokenizer.json",
                dir.display()
            )));
        }
        let tokenizer = TextTokenizer::from_file_with(
            &tokenizer_path,
            SpecialTokenIds {
                bos: config.bos_token_id,
                eos: config.eos_token_id,
                pad: config.pad_token_id,
            },
        )?;
        let tokenizer_config = dir.join("tokenizer_config.json");
        let chat_template = if tokenizer_config.is_file() {
            ChatTemplate::from_tokenizer_config(&tokenizer_config)?
        } else {
            None
        };
        Ok(Self {
            model,
            tokenizer,
            config,
            chat_template,
            dir: dir.to_path_buf(),
        })
    }
}

/// Reads and checks `dir/config.json`.
pub fn read_config(dir: &Path) -> Result<HfConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    hf_config::parse(&text, &path.display().to_string())
}

/// The model of `dir` (its config already read): a skeleton of lazy parameters filled from
/// the safetensors files, so no weight is allocated twice.
pub fn load_model(
    dir: &Path,
    config: &HfConfig,
    device: &Device,
    dtype: DType,
) -> Result<Transformer> {
    check_float(dtype)?;
    let files = weight_files(dir)?;
    let mut model = crate::transformer::skeleton(&config.transformer, device);
    weights::load(&mut model, config.architecture, &files, dtype)?;
    Ok(model)
}

/// Checkpoint weights load as a float type.
pub(crate) fn check_float(dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(ModelError::InvalidConfig(format!(
            "weights load as a float type, not {dtype:?}"
        )))
    }
}
