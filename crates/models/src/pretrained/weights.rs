//! Checkpoint tensors into a model skeleton through `burn-store`: a [`KeyRemapper`] turns
//! Hugging Face names into module paths, an adapter chain puts PyTorch's layout into burn's
//! (and upcasts half-precision files), and each file is memory-mapped and applied in turn, so
//! only the model's own copy of the weights is ever held.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::DType;
use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{
    ApplyError, FloatCastAdapter, KeyRemapper, ModuleAdapter, ModuleContext, ModuleSnapshot,
    ModuleStore, PyTorchToBurnAdapter, SafetensorsStore,
};

use super::hf_config::Architecture;
use crate::error::{ModelError, Result};
use crate::transformer::Transformer;

/// Tensors a checkpoint may carry that are not weights: cached rotary frequencies and GPT-2's
/// causal-mask buffers.
fn is_buffer(key: &str) -> bool {
    let segments: Vec<&str> = key.rsplit('.').take(2).collect();
    matches!(
        segments.as_slice(),
        ["inv_freq", "rotary_emb"] | ["bias", "attn"] | ["masked_bias", "attn"]
    )
}

/// Applies a layout adapter to a separate `lm_head` only: GPT-2's Conv1D weights are already
/// stored input-major (burn's layout), its head is a PyTorch `Linear`.
#[derive(Clone)]
pub(super) struct HeadOnly<A>(pub A);

impl<A: ModuleAdapter + Clone + 'static> ModuleAdapter for HeadOnly<A> {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if tensor.name == "lm_head.weight" {
            self.0.adapt(tensor, ctx)
        } else {
            tensor
        }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// The safetensors files of a checkpoint folder: the shards its index lists, or
/// `model.safetensors`. A shard the index names but the folder lacks is an error naming it.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            ModelError::InvalidConfig(format!("{}: not JSON: {e}", index.display()))
        })?;
        let map = value
            .get("weight_map")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| {
                ModelError::InvalidConfig(format!("{}: no `weight_map` object", index.display()))
            })?;
        let mut files = BTreeSet::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| {
                ModelError::InvalidConfig(format!(
                    "{}: the shard of `{tensor}` is not a file name",
                    index.display()
                ))
            })?;
            files.insert(file.to_string());
        }
        let mut paths = Vec::new();
        for file in files {
            let path = dir.join(&file);
            if !path.is_file() {
                return Err(ModelError::InvalidConfig(format!(
                    "{}: shard {file} listed in model.safetensors.index.json is missing",
                    dir.display()
                )));
            }
            paths.push(path);
        }
        return Ok(paths);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(ModelError::InvalidConfig(format!(
        "{}: no model.safetensors or model.safetensors.index.json (PyTorch .bin checkpoints are \
         not read; convert them to safetensors)",
        dir.display()
    )))
}

/// Loads every weight of `files` into `model` (a skeleton of `architecture`), as `dtype`.
/// Fails, naming the file and the tensor, on a tensor of the wrong shape, a weight no file
/// holds, or a tensor the model has no place for.
pub fn load(
    model: &mut Transformer,
    architecture: Architecture,
    files: &[PathBuf],
    dtype: DType,
) -> Result<()> {
    let sources: Vec<WeightSource> = files.iter().cloned().map(WeightSource::File).collect();
    load_sources(model, architecture, sources, dtype)
}

/// Where a set of safetensors weights comes from: a file, or bytes built in memory (a GGUF
/// checkpoint's dequantized tensors), named for errors.
pub enum WeightSource {
    File(PathBuf),
    Bytes { name: String, bytes: Vec<u8> },
}

impl WeightSource {
    fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Bytes { name, .. } => name.clone(),
        }
    }

    /// The tensor names the source holds and a store over it (in-memory bytes are moved into
    /// the store, not copied).
    fn open(self) -> Result<(Vec<String>, SafetensorsStore)> {
        let shown = self.name();
        match self {
            Self::File(path) => {
                let keys = SafetensorsStore::from_file(&path)
                    .keys()
                    .map_err(|e| ModelError::InvalidConfig(format!("{shown}: {e}")))?;
                Ok((keys, SafetensorsStore::from_file(path)))
            }
            Self::Bytes { bytes, .. } => {
                let keys = safetensors::SafeTensors::deserialize(&bytes)
                    .map_err(|e| ModelError::InvalidConfig(format!("{shown}: {e}")))?
                    .names()
                    .into_iter()
                    .map(String::from)
                    .collect();
                Ok((keys, SafetensorsStore::from_bytes(Some(bytes))))
            }
        }
    }
}

/// [`load`] over any sources.
pub fn load_sources(
    model: &mut Transformer,
    architecture: Architecture,
    files: Vec<WeightSource>,
    dtype: DType,
) -> Result<()> {
    let names: Vec<String> = files.iter().map(WeightSource::name).collect();
    let remapper = KeyRemapper::from_patterns(super::names::load_patterns(architecture))
        .map_err(|e| ModelError::InvalidConfig(format!("key patterns: {e}")))?;
    let mut applied = BTreeSet::new();
    let mut missing = BTreeSet::new();
    let mut problems = Vec::new();
    for (file, shown) in files.into_iter().zip(&names) {
        let (original_keys, raw_store) = file.open()?;
        let layout: Box<dyn ModuleAdapter> = match architecture {
            Architecture::Gpt2 => Box::new(HeadOnly(PyTorchToBurnAdapter)),
            _ => Box::new(PyTorchToBurnAdapter),
        };
        let adapter = LayoutThenCast {
            layout,
            cast: FloatCastAdapter::to(dtype),
        };
        let mut store = raw_store
            .remap(remapper.clone())
            .with_from_adapter(adapter)
            .skip_enum_variants(true)
            .allow_partial(true)
            .validate(false);
        let result = model
            .load_from(&mut store)
            .map_err(|e| ModelError::InvalidConfig(format!("{shown}: {e}")))?;
        let source_of = |path: &str| -> String {
            original_keys
                .iter()
                .find(|key| remap_one(&remapper, key).as_deref() == Some(path))
                .cloned()
                .unwrap_or_else(|| path.to_string())
        };
        for error in &result.errors {
            problems.push(match error {
                ApplyError::ShapeMismatch {
                    path,
                    expected,
                    found,
                } => format!(
                    "{shown}: tensor `{}` has shape {:?} in burn's layout, the config implies {:?}",
                    source_of(path),
                    found.as_slice(),
                    expected.as_slice()
                ),
                other => format!("{shown}: {other}"),
            });
        }
        for unused in &result.unused {
            let key = source_of(unused);
            // A tied model may still store its head (GPT-2 uploads do): the embedding is it.
            let tied_head = model.lm_head.is_none() && key == "lm_head.weight";
            if !is_buffer(&key) && !tied_head {
                problems.push(format!(
                    "{shown}: tensor `{key}` has no place in this {} model",
                    architecture.name()
                ));
            }
        }
        applied.extend(result.applied);
        missing.extend(result.missing.into_iter().map(|(path, _)| path));
    }
    for path in missing.difference(&applied) {
        problems.push(format!(
            "no file holds the weight for `{path}` (looked in {})",
            names.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ModelError::InvalidConfig(problems.join("; ")))
    }
}

/// The module path `remapper` gives `key` (its patterns applied in turn, as the store applies
/// them), or `None` when no pattern matches.
fn remap_one(remapper: &KeyRemapper, key: &str) -> Option<String> {
    let mut path = key.to_string();
    let mut matched = false;
    for (pattern, replacement) in &remapper.patterns {
        if pattern.is_match(&path) {
            path = pattern
                .replace_all(&path, replacement.as_str())
                .into_owned();
            matched = true;
        }
    }
    matched.then_some(path)
}

/// The layout adapter, then a cast to the model's float type (`FloatCastAdapter` composes a
/// deferred conversion, so a bf16 file is upcast tensor by tensor as it is read).
#[derive(Clone)]
struct LayoutThenCast {
    layout: Box<dyn ModuleAdapter>,
    cast: FloatCastAdapter,
}

impl ModuleAdapter for LayoutThenCast {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        self.cast.adapt(self.layout.adapt(tensor, ctx), ctx)
    }

    fn get_alternative_param_name(&self, param_name: &str, module_type: &str) -> Option<String> {
        self.layout
            .get_alternative_param_name(param_name, module_type)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_whole_buffer_names_are_buffers() {
        assert!(super::is_buffer("h.0.attn.bias"));
        assert!(super::is_buffer(
            "model.layers.3.self_attn.rotary_emb.inv_freq"
        ));
        assert!(!super::is_buffer("h.0.attn.c_attn.bias"));
        assert!(!super::is_buffer("model.layers.0.self_attn.o_proj.bias"));
    }
}
