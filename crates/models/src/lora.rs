//! LoRA fine-tuning: low-rank adapters on chosen projections of a (usually pretrained) model,
//! every other weight frozen; adapters saved and loaded as PEFT writes them
//! (`adapter_config.json` + `adapter_model.safetensors`), merged into the weights for export,
//! or switched off for the reference model ([`Transformer::without_adapters`]).
//!
//! ```
//! use burn::tensor::Device;
//! use prefopt_models::config::Preset;
//! use prefopt_models::lora::{self, LoraConfig};
//! use prefopt_models::transformer::Transformer;
//!
//! let base = Transformer::new(&Preset::Tiny.config(32), 0, &Device::flex())?;
//! let model = lora::attach(base, &LoraConfig { rank: 4, alpha: 8.0, ..LoraConfig::default() })?;
//! // Two adapters (q_proj, v_proj) in each of the two blocks, A and B each.
//! assert_eq!(lora::trainable_params(&model), 2 * 2 * (64 * 4 + 4 * 64));
//! # Ok::<(), prefopt_models::ModelError>(())
//! ```

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::{DropoutConfig, Linear};
use burn::tensor::{Tensor, TensorData};
use burn_store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Uniform};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ModelError, Result};
use crate::transformer::{LoraAdapter, Transformer};

/// Adapter settings, named as PEFT names them in `adapter_config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r` of each update.
    pub rank: usize,
    /// The update is scaled by `alpha / r` (`alpha / √r` with `rslora`).
    pub alpha: f64,
    /// Dropout on the adapter's input while training.
    pub dropout: f64,
    /// Projections that get adapters, by module name (`q_proj`, `c_attn`, …) or full path
    /// suffix; `"all-linear"` is every projection. Empty: PEFT's default for the architecture
    /// (`q_proj` and `v_proj`, or GPT-2's `c_attn`).
    pub target_modules: Vec<String>,
    /// Rank-stabilised scaling `alpha / √r`.
    pub rslora: bool,
    /// Seed of `A`'s initialisation (`B` starts at zero).
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: Vec::new(),
            rslora: false,
            seed: 0,
        }
    }
}

impl LoraConfig {
    fn check(&self) -> Result<()> {
        if self.rank == 0 || !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(ModelError::InvalidConfig(format!(
                "LoRA needs a positive rank and alpha, got r = {} and alpha = {}",
                self.rank, self.alpha
            )));
        }
        if self.rank > 1 << 16 {
            return Err(ModelError::InvalidConfig(format!(
                "LoRA rank {} is beyond any projection (at most {})",
                self.rank,
                1 << 16
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::InvalidConfig(format!(
                "LoRA dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }

    /// The factor the update `A·B` is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// The target modules, PEFT's default for the model when none are named.
    pub fn targets(&self, model: &Transformer) -> Vec<String> {
        if !self.target_modules.is_empty() {
            return self.target_modules.clone();
        }
        if model.config.fused_qkv {
            vec!["c_attn".into()]
        } else {
            vec!["q_proj".into(), "v_proj".into()]
        }
    }
}

/// Whether a projection at `hf_path` is one of `targets` (PEFT's rule: the whole path, or its
/// suffix after a dot).
fn is_target(hf_path: &str, targets: &[String]) -> bool {
    targets.iter().any(|target| {
        target == "all-linear" || hf_path == target || hf_path.ends_with(&format!(".{target}"))
    })
}

/// Attaches fresh adapters (`A` from PEFT's Kaiming-uniform bound `1/√d_in`, `B = 0`, so the
/// model is unchanged) to the target projections and freezes everything else.
pub fn attach(mut model: Transformer, config: &LoraConfig) -> Result<Transformer> {
    config.check()?;
    let targets = config.targets(&model);
    let device = model.device();
    let dtype = model.dtype();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    if model.has_adapters() {
        return Err(ModelError::InvalidConfig(
            "the model already has LoRA adapters: merge them (lora::merge) before attaching new \
             ones"
                .into(),
        ));
    }
    let mut attached = 0;
    for named in model.projections_mut() {
        if !is_target(&named.hf_path, &targets) {
            continue;
        }
        let [d_in, d_out] = named.projection.dims();
        if config.rank > d_in.min(d_out) {
            return Err(ModelError::InvalidConfig(format!(
                "LoRA rank {} exceeds the {d_in}×{d_out} projection `{}`",
                config.rank, named.hf_path
            )));
        }
        let bound = 1.0 / (d_in as f32).sqrt();
        let uniform = Uniform::new(-bound, bound).map_err(|e| {
            ModelError::InvalidConfig(format!("LoRA initialisation bound {bound}: {e}"))
        })?;
        let a: Vec<f32> = (0..d_in * config.rank)
            .map(|_| uniform.sample(&mut rng))
            .collect();
        let matrix = |values: Vec<f32>, shape: [usize; 2]| Linear {
            weight: Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(values, shape),
                (&device, dtype),
            )),
            bias: None,
        };
        named.projection.lora = Some(LoraAdapter {
            a: matrix(a, [d_in, config.rank]),
            b: matrix(vec![0.0; config.rank * d_out], [config.rank, d_out]),
            dropout: DropoutConfig::new(config.dropout).init(),
            scale: config.scale(),
        });
        attached += 1;
    }
    if attached == 0 {
        return Err(ModelError::InvalidConfig(format!(
            "no projection matches the LoRA target modules {targets:?}"
        )));
    }
    Ok(freeze_base(model))
}

/// The next stage's starting point (SFT → preference, TRL's recipe): the current adapters merged
/// into the weights and fresh ones attached on top (seeded apart from the first), so the merged
/// model is both the starting point and, with the new adapters off, the reference.
pub fn restart(model: Transformer, config: &LoraConfig) -> Result<Transformer> {
    attach(
        merge(model),
        &LoraConfig {
            seed: config.seed ^ 0x5eed,
            ..config.clone()
        },
    )
}

/// Freezes every parameter outside the adapters (they keep their values and get no gradient,
/// so the optimizer never touches them).
pub fn freeze_base(model: Transformer) -> Transformer {
    struct Freeze {
        path: Vec<String>,
    }
    impl ModuleMapper for Freeze {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let trainable = self.path.iter().any(|segment| segment == "lora");
            param.set_require_grad(trainable)
        }
    }
    model.map(&mut Freeze { path: Vec::new() })
}

/// Parameters that train (the adapters after [`attach`]).
pub fn trainable_params(model: &Transformer) -> usize {
    let mut count = 0;
    crate::params::for_each_param(model, |path, tensor| {
        if path.split('.').any(|segment| segment == "lora") {
            count += tensor.shape().iter().product::<usize>();
        }
    });
    count
}

/// The model with every adapter folded into its weight (`W + scale·A·B`) and removed: a plain
/// model for export or fast inference.
pub fn merge(mut model: Transformer) -> Transformer {
    for named in model.projections_mut() {
        if let Some(lora) = named.projection.lora.take() {
            let delta = lora.delta();
            let weight = named.projection.linear.weight.clone();
            named.projection.linear.weight = weight.map(|w| {
                let dtype = w.dtype();
                w + delta.cast(dtype)
            });
        }
    }
    model
}

const ADAPTER_CONFIG: &str = "adapter_config.json";
const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// PEFT's key of one factor: `base_model.model.<module>.lora_A.weight`.
fn peft_key(hf_path: &str, factor: &str) -> String {
    format!("base_model.model.{hf_path}.lora_{factor}.weight")
}

/// Writes the adapters as PEFT does: `dir/adapter_config.json` and
/// `dir/adapter_model.safetensors` (PyTorch layout, f32), loadable by `peft` on the same base.
pub fn save_peft(
    model: &Transformer,
    config: &LoraConfig,
    base_model: &str,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut model = model.clone();
    let mut patterns = Vec::new();
    for named in model.projections_mut() {
        if named.projection.lora.is_some() {
            for (factor, field) in [("A", "a"), ("B", "b")] {
                patterns.push((
                    format!(
                        "^{}$",
                        regex_escape(&format!("{}.lora.{field}.weight", named.module_path))
                    ),
                    peft_key(&named.hf_path, factor),
                ));
            }
        }
    }
    if patterns.is_empty() {
        return Err(ModelError::InvalidConfig(
            "the model has no LoRA adapters to save".into(),
        ));
    }
    let remapper = KeyRemapper::from_patterns(patterns)
        .map_err(|e| ModelError::InvalidConfig(format!("adapter key patterns: {e}")))?;
    let path = dir.join(ADAPTER_WEIGHTS);
    let mut store = crate::pretrained::file_for_transformers(&path, remapper)
        .with_regex(r"\.lora\.(a|b)\.weight$")
        .with_to_adapter(BurnToPyTorchAdapter);
    // burn-store writes a scratch sibling and renames it once it is on disk (atomic).
    model
        .save_into(&mut store)
        .map_err(|e| ModelError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let adapter_config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": config.targets(&model),
        "use_rslora": config.rslora,
        "use_dora": false,
        "bias": "none",
        "fan_in_fan_out": model.config.fused_qkv,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "rank_pattern": {},
        "alpha_pattern": {},
    });
    let config_path = dir.join(ADAPTER_CONFIG);
    let text = serde_json::to_string_pretty(&adapter_config)
        .map_err(|e| ModelError::InvalidConfig(format!("adapter config: {e}")))?;
    Ok(prefopt_data::atomic::write(&config_path, text)?)
}

fn regex_escape(text: &str) -> String {
    text.replace('.', r"\.")
}

/// Reads `dir/adapter_config.json`, refusing PEFT features the adapters here do not implement.
pub fn read_peft_config(dir: &Path) -> Result<(LoraConfig, Option<String>)> {
    let path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let shown = path.display();
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| ModelError::InvalidConfig(format!("{shown}: not JSON: {e}")))?;
    let error = |message: String| ModelError::InvalidConfig(format!("{shown}: {message}"));
    let get = |key: &str| value.get(key).filter(|v| !v.is_null());
    if let Some(kind) = get("peft_type").and_then(Value::as_str)
        && kind != "LORA"
    {
        return Err(error(format!("peft_type {kind} is not LORA")));
    }
    for (key, meaning) in [
        ("use_dora", "DoRA"),
        ("use_qalora", "QA-LoRA"),
        ("use_bdlora", "block-diagonal LoRA"),
    ] {
        if get(key).and_then(Value::as_bool) == Some(true) {
            return Err(error(format!("`{key}` ({meaning}) is not supported")));
        }
    }
    for key in ["rank_pattern", "alpha_pattern"] {
        if get(key)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(error(format!("per-module `{key}` is not supported")));
        }
    }
    for key in [
        "modules_to_save",
        "layers_to_transform",
        "target_parameters",
    ] {
        if get(key).is_some_and(|v| !matches!(v, Value::Array(a) if a.is_empty())) {
            return Err(error(format!("`{key}` is not supported")));
        }
    }
    if let Some(bias) = get("bias").and_then(Value::as_str)
        && bias != "none"
    {
        return Err(error(format!(
            "bias = \"{bias}\" is not supported (only \"none\")"
        )));
    }
    let rank = get("r")
        .and_then(Value::as_u64)
        .ok_or_else(|| error("`r` is missing".into()))? as usize;
    let alpha = get("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| error("`lora_alpha` is missing".into()))?;
    let target_modules = match get("target_modules") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| error(format!("target module {v} is not a string")))
            })
            .collect::<Result<Vec<_>>>()?,
        Some(Value::String(s)) if s == "all-linear" => vec![s.clone()],
        Some(other) => {
            return Err(error(format!(
                "target_modules {other} is not supported (a list of module names, or \"all-linear\")"
            )));
        }
        None => Vec::new(),
    };
    let config = LoraConfig {
        rank,
        alpha,
        dropout: get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
        target_modules,
        rslora: get("use_rslora").and_then(Value::as_bool).unwrap_or(false),
        seed: 0,
    };
    config.check().map_err(|e| error(e.to_string()))?;
    let base = get("base_model_name_or_path")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((config, base))
}

/// Attaches the adapters saved in `dir` (PEFT layout) to `model`, freezing its base. Every
/// adapter the config implies must be in the file and every tensor in the file must be used.
pub fn load_peft(model: Transformer, dir: &Path) -> Result<(Transformer, LoraConfig)> {
    let (config, _) = read_peft_config(dir)?;
    let mut model = attach(model, &config).map_err(|e| match e {
        ModelError::InvalidConfig(reason) => ModelError::InvalidConfig(format!(
            "{}: {reason}",
            dir.join("adapter_config.json").display()
        )),
        other => other,
    })?;
    let mut patterns = Vec::new();
    for named in model.projections_mut() {
        if named.projection.lora.is_some() {
            for (factor, field) in [("A", "a"), ("B", "b")] {
                patterns.push((
                    format!("^{}$", regex_escape(&peft_key(&named.hf_path, factor))),
                    format!("{}.lora.{field}.weight", named.module_path),
                ));
            }
        }
    }
    let remapper = KeyRemapper::from_patterns(patterns)
        .map_err(|e| ModelError::InvalidConfig(format!("adapter key patterns: {e}")))?;
    let path = dir.join(ADAPTER_WEIGHTS);
    if !path.is_file() {
        return Err(ModelError::InvalidConfig(format!(
            "{}: no {ADAPTER_WEIGHTS}",
            dir.display()
        )));
    }
    let dtype = model.dtype();
    let mut store = SafetensorsStore::from_file(&path)
        .with_regex(r"\.lora\.(a|b)\.weight$")
        .remap(remapper)
        .skip_enum_variants(true)
        .with_from_adapter(LayoutThenCast(dtype))
        .allow_partial(true)
        .validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|e| ModelError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let mut problems: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
    problems.extend(
        result
            .missing
            .iter()
            .filter(|(p, _)| p.contains(".lora."))
            .map(|(p, _)| format!("no tensor for adapter weight `{p}`")),
    );
    problems.extend(
        result
            .unused
            .iter()
            .map(|key| format!("tensor `{key}` matches no adapter of the config")),
    );
    if !problems.is_empty() {
        return Err(ModelError::Checkpoint {
            path,
            reason: problems.join("; "),
        });
    }
    Ok((model, config))
}

/// PEFT's factors are PyTorch `Linear` weights (`[out, in]`): transpose, then cast to the
/// model's float type.
#[derive(Clone)]
struct LayoutThenCast(burn::tensor::DType);

impl burn_store::ModuleAdapter for LayoutThenCast {
    fn adapt(
        &self,
        tensor: burn_store::burn_pack::Tensor,
        ctx: burn_store::ModuleContext<'_>,
    ) -> burn_store::burn_pack::Tensor {
        let tensor = PyTorchToBurnAdapter.adapt(tensor, ctx);
        burn_store::FloatCastAdapter::to(self.0).adapt(tensor, ctx)
    }

    fn clone_box(&self) -> Box<dyn burn_store::ModuleAdapter> {
        Box::new(self.clone())
    }
}
