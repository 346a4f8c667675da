//! Writing a model back as a Hugging Face checkpoint folder: the weights under `transformers`'
//! names and layout (f32), with the source checkpoint's config and tokenizer, so a fine-tuned
//! or LoRA-merged model loads in `transformers` (and here) like the original.

use std::path::Path;

use burn_store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore, SafetensorsStore,
};

use super::hf_config::Architecture;
use super::weights::HeadOnly;
use crate::error::{ModelError, Result};
use crate::transformer::Transformer;

/// Writes `model` to `out` as a checkpoint of `source`'s kind: `model.safetensors` (f32, the
/// names and layout `transformers` reads) beside `source`'s `config.json` (its `dtype` set to
/// float32), `tokenizer.json` and `generation_config.json` — or, for a `.gguf` source, the
/// config, tokenizer and chat template its metadata stands for. A model with LoRA adapters is
/// refused: merge them first ([`crate::lora::merge`]) or save them alone
/// ([`crate::lora::save_peft`]).
pub fn save_checkpoint(model: &Transformer, source: &Path, out: &Path) -> Result<()> {
    if model.has_adapters() {
        return Err(ModelError::InvalidConfig(
            "the model has LoRA adapters: merge them (lora::merge) or save them alone \
             (lora::save_peft)"
                .into(),
        ));
    }
    // A GGUF source stands for the folder it was converted from.
    let (config, gguf_files) = if crate::gguf::is_gguf(source) {
        let (config, files) = crate::gguf::hf_files(source)?;
        (config, Some(files))
    } else {
        (super::read_config(source)?, None)
    };
    if config.transformer != model.config {
        return Err(ModelError::InvalidConfig(format!(
            "the model's shape differs from the checkpoint at {}",
            source.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| ModelError::io(out, e))?;
    let remapper = KeyRemapper::from_patterns(super::names::save_patterns(config.architecture))
        .map_err(|e| ModelError::InvalidConfig(format!("key patterns: {e}")))?;
    let path = out.join("model.safetensors");
    let mut store = file_for_transformers(&path, remapper);
    store = match config.architecture {
        Architecture::Gpt2 => store.with_to_adapter(HeadOnly(BurnToPyTorchAdapter)),
        _ => store.with_to_adapter(BurnToPyTorchAdapter),
    };
    let model = model.clone().cast_for_export()?;
    // burn-store writes a scratch sibling and renames it once it is on disk (atomic).
    model
        .save_into(&mut store)
        .map_err(|e| ModelError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    // Every tensor must have found its Hugging Face name.
    let mut written = SafetensorsStore::from_file(&path);
    let keys = written.keys().map_err(|e| ModelError::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if let Some(left) = keys
        .iter()
        .find(|k| k.starts_with("blocks.") || k.contains("_norm."))
    {
        return Err(ModelError::Checkpoint {
            path,
            reason: format!("tensor `{left}` has no Hugging Face name"),
        });
    }
    match gguf_files {
        Some(files) => {
            for (name, text) in files {
                let path = out.join(name);
                prefopt_data::atomic::write(&path, text)?;
            }
        }
        None => copy_folder_files(source, out)?,
    }
    Ok(())
}

/// `source`'s `config.json` (its dtype set to float32), tokenizer and generation config.
fn copy_folder_files(source: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(source.join("config.json"))
        .map_err(|e| ModelError::io(source.join("config.json"), e))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ModelError::InvalidConfig(format!("{}: {e}", source.join("config.json").display()))
    })?;
    if let Some(fields) = json.as_object_mut() {
        let key = if fields.contains_key("torch_dtype") {
            "torch_dtype"
        } else {
            "dtype"
        };
        fields.insert(key.into(), "float32".into());
    }
    let config_path = out.join("config.json");
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| ModelError::InvalidConfig(format!("config.json: {e}")))?;
    prefopt_data::atomic::write(&config_path, text)?;
    for file in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        let from = source.join(file);
        if from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| ModelError::io(&from, e))?;
            prefopt_data::atomic::write(&out.join(file), bytes)?;
        }
    }
    Ok(())
}

/// A safetensors file written for `transformers` / PEFT to read: keys remapped from module
/// paths (enum variants skipped), `format = pt` metadata as PyTorch writes it, an existing file
/// replaced.
pub(crate) fn file_for_transformers(path: &Path, remapper: KeyRemapper) -> SafetensorsStore {
    SafetensorsStore::from_file(path)
        .remap(remapper)
        .skip_enum_variants(true)
        .clear_metadata()
        .metadata("format", "pt")
        .overwrite(true)
}

impl Transformer {
    /// The weights as f32 (checkpoints are written in f32 whatever the model computes in).
    fn cast_for_export(self) -> Result<Self> {
        if self.dtype() == burn::tensor::DType::F32 {
            Ok(self)
        } else {
            self.cast(burn::tensor::DType::F32)
        }
    }
}
