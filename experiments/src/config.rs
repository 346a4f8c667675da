//! The TOML config every experiment reads: data, model, SFT, preference stage, evaluation, and
//! the grids of the paper tables. Every field has a default, so a file names only what it
//! changes: swapping the loss is `objective = { loss = "dmpo" }` under `[preference]`.
//!
//! ```toml
//! seed = 0
//! device = "cpu"                    # auto | cpu | wgpu | cuda
//! [data]
//! dir = "datasets/rec-small"        # any folder written by `prefopt data convert|generate`
//! [model]
//! preset = "tiny"
//! [sft]
//! epochs = 6
//! [preference]
//! objective = { loss = "sdpo", beta = 1.0 }
//! negatives = 3
//! rejected = ["random"]             # in-candidate | random | self-hard | semantic | popularity
//! smoothing = "none"                # or { constant = 0.1 } or { oracle = { temperature = 1.0 } }
//! [preference.train]
//! epochs = 2
//! ```
//!
//! A pretrained Hugging Face checkpoint replaces the preset with its folder, optionally with
//! LoRA adapters (`docs/pretrained.md`):
//!
//! ```toml
//! model = "checkpoints/Qwen2-0.5B"  # config.json, *.safetensors, tokenizer.json
//! lora = { rank = 8, alpha = 16.0, target_modules = ["q_proj", "v_proj"] }
//! ```

use std::path::{Path, PathBuf};

use prefopt_models::chat::ChatTemplate;
use prefopt_models::config::{Preset, TransformerConfig};
use prefopt_models::device::DeviceChoice;
use prefopt_models::lora::LoraConfig;
use prefopt_models::tokenizer::TextTokenizer;
use prefopt_models::train::TrainConfig;
use prefopt_objectives::ObjectiveConfig;
use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result};
pub use crate::lore::settings::LoreSettings;
pub use crate::prlhf::settings::PrlhfSettings;
pub use crate::rosepo::settings::RosepoGrid;
pub use crate::rpo::settings::{EmbeddingSource, RpoSettings};
pub use crate::sdpo::settings::SdpoGrid;
pub use crate::text::settings::TextSettings;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Seeds model initialisation, negative sampling, label noise and example order.
    pub seed: u64,
    pub device: String,
    /// Preference runs trained at once, one thread each (default: the CPU count). burn's CPU
    /// backend keeps one core busy per run at these model sizes; on a GPU use 1.
    pub workers: usize,
    pub data: DataConfig,
    pub model: ModelConfig,
    /// LoRA adapters on the policy (base weights frozen): SFT trains one adapter, which is
    /// merged before the preference stage trains a fresh one against the merged SFT model
    /// (the reference: the same weights with the adapter off).
    pub lora: Option<LoraConfig>,
    pub sft: TrainConfig,
    pub preference: PreferenceConfig,
    pub eval: EvalConfig,
    pub sdpo: SdpoGrid,
    pub rosepo: RosepoGrid,
    /// The personalization experiments (`docs/methods/personal.md`).
    pub prlhf: PrlhfSettings,
    pub lore: LoreSettings,
    pub rpo: RpoSettings,
    /// TRL-format text datasets (`[data] train`): lengths, splits, SFT first.
    pub text: TextSettings,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            device: "cpu".into(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            data: DataConfig::default(),
            model: ModelConfig::default(),
            lora: None,
            sft: TrainConfig {
                epochs: 6,
                batch_size: 32,
                lr: 5e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            preference: PreferenceConfig::default(),
            eval: EvalConfig::default(),
            sdpo: SdpoGrid::default(),
            rosepo: RosepoGrid::default(),
            prlhf: Default::default(),
            lore: Default::default(),
            rpo: Default::default(),
            text: Default::default(),
        }
    }
}

/// Where the data is and how much of it to use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// A converted dataset folder: train/valid/test.parquet and items.parquet.
    pub dir: PathBuf,
    /// A TRL-format preference dataset (a Parquet or JSON Lines file, or a Hugging Face
    /// dataset folder): `prefopt train` then runs the text pipeline instead of the
    /// recommendation one (`docs/text.md`).
    pub train: Option<PathBuf>,
    /// Its evaluation split (a file or folder); without it, `text.eval_fraction` of the
    /// training rows are held out.
    pub eval: Option<PathBuf>,
    /// Use at most this many rows of each split (`None`: all), chosen as `sample` says.
    pub max_train: Option<usize>,
    pub max_valid: Option<usize>,
    pub max_test: Option<usize>,
    /// Which rows a limit keeps.
    pub sample: RowSample,
    /// Seeds the `random` row sample. Apart from the experiment seed, so that runs over seeds
    /// vary the training and not the data.
    pub sample_seed: u64,
}

/// The rows of a split that a `max_*` limit keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowSample {
    /// The first rows of the file.
    #[default]
    First,
    /// A seeded uniform sample of rows, kept in file order: a converted log lists each user's
    /// examples together, so the first rows would be a handful of users.
    Random,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("datasets/rec-small"),
            train: None,
            eval: None,
            max_train: None,
            max_valid: None,
            max_test: None,
            sample: RowSample::First,
            sample_seed: 0,
        }
    }
}

/// The policy: a preset (sized for the tokenizer's vocabulary), a full transformer config, or
/// a pretrained checkpoint folder. `model = "small"` names a preset and `model = "<folder>"` a
/// checkpoint; the table form spells the fields out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    pub preset: String,
    /// Overrides the preset entirely when given (its `vocab_size` must fit the tokenizer).
    pub transformer: Option<TransformerConfig>,
    /// A Hugging Face checkpoint folder (Llama, Qwen2 or GPT-2) or a `.gguf` file: its weights
    /// are the starting point and its tokenizer spells prompts and titles.
    pub checkpoint: Option<PathBuf>,
    /// Lay prompts out with the checkpoint's chat template (a user turn and the opened
    /// assistant turn) when it ships one; `false` feeds the bare prompt text after `bos`.
    pub chat_template: bool,
    /// The system message of the chat layout (`None`: the template's own default, if any).
    pub system_prompt: Option<String>,
}

/// The table form of `[model]`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ModelTable {
    preset: String,
    transformer: Option<TransformerConfig>,
    checkpoint: Option<PathBuf>,
    chat_template: bool,
    system_prompt: Option<String>,
}

impl Default for ModelTable {
    fn default() -> Self {
        let ModelConfig {
            preset,
            transformer,
            checkpoint,
            chat_template,
            system_prompt,
        } = ModelConfig::default();
        Self {
            preset,
            transformer,
            checkpoint,
            chat_template,
            system_prompt,
        }
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    /// A string (a preset name, else a checkpoint folder) or a table; a table's errors keep
    /// serde's own message (an unknown field is named).
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ModelConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a preset name, a checkpoint folder, or a [model] table")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                name: &str,
            ) -> std::result::Result<ModelConfig, E> {
                Ok(if name.parse::<Preset>().is_ok() {
                    ModelConfig {
                        preset: name.to_string(),
                        ..ModelConfig::default()
                    }
                } else {
                    ModelConfig {
                        checkpoint: Some(PathBuf::from(name)),
                        ..ModelConfig::default()
                    }
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ModelConfig, A::Error> {
                let table =
                    ModelTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ModelConfig {
                    preset: table.preset,
                    transformer: table.transformer,
                    checkpoint: table.checkpoint,
                    chat_template: table.chat_template,
                    system_prompt: table.system_prompt,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            preset: "tiny".into(),
            transformer: None,
            checkpoint: None,
            chat_template: true,
            system_prompt: None,
        }
    }
}

impl ModelConfig {
    /// A checkpoint's tokenizer with its chat template attached, unless the checkpoint has none
    /// or the config turned it off.
    pub fn prompt_tokenizer(
        &self,
        tokenizer: TextTokenizer,
        template: Option<&ChatTemplate>,
    ) -> Result<TextTokenizer> {
        Ok(match template {
            Some(template) if self.chat_template => {
                tokenizer.with_chat_template(template.clone(), self.system_prompt.as_deref())?
            }
            _ => tokenizer,
        })
    }

    pub fn resolve(&self, vocab_size: usize) -> Result<TransformerConfig> {
        match &self.transformer {
            Some(config) if config.vocab_size < vocab_size => {
                Err(ExperimentError::Invalid(format!(
                    "model.transformer.vocab_size {} is below the tokenizer's {vocab_size}",
                    config.vocab_size
                )))
            }
            Some(config) => Ok(config.clone()),
            None => Ok(self.preset.parse::<Preset>()?.config(vocab_size)),
        }
    }
}

/// How rejected items are chosen for the preference stage (`docs/methods/rec.md` §2(c), §5(c)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectedStrategy {
    /// The dataset's own rejected items (its first K).
    InCandidate,
    /// K candidates other than the target, uniformly (S-DPO's in-candidate negatives, redrawn
    /// with this run's seed).
    Random,
    /// The non-target candidates the SFT model scores highest (RosePO, helpfulness).
    SelfHard,
    /// The catalog items whose title is nearest to the target's (RosePO, semantic
    /// hallucination).
    Semantic,
    /// Candidates drawn ∝ popularity (RosePO, popularity bias).
    Popularity,
}

impl RejectedStrategy {
    pub fn name(self) -> &'static str {
        match self {
            Self::InCandidate => "in-candidate",
            Self::Random => "random",
            Self::SelfHard => "self-hard",
            Self::Semantic => "semantic",
            Self::Popularity => "popularity",
        }
    }
}

/// RosePO's smoothing factor ε per pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Smoothing {
    /// No `smoothing` input (objectives that need one fall back to their own setting).
    None,
    /// The same ε for every pair (cDPO).
    Constant(f64),
    /// ε = min(max, σ((s_rejected − s_chosen) / temperature)) from the preference oracle.
    Oracle { temperature: f64, max: f64 },
}

/// The preference stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreferenceConfig {
    pub objective: ObjectiveConfig,
    /// Rejected items per prompt and strategy.
    pub negatives: usize,
    /// One row per prompt per strategy (each with `negatives` rejected items).
    pub rejected: Vec<RejectedStrategy>,
    pub smoothing: Smoothing,
    /// Fraction of pairs whose chosen and first rejected response are swapped (noisy labels,
    /// RosePO's robustness check).
    pub label_noise: f64,
    pub train: TrainConfig,
}

impl Default for PreferenceConfig {
    fn default() -> Self {
        Self {
            objective: ObjectiveConfig::from_name("sdpo").expect("sdpo is a known loss"),
            negatives: 3,
            rejected: vec![RejectedStrategy::Random],
            smoothing: Smoothing::None,
            label_noise: 0.0,
            train: TrainConfig {
                epochs: 2,
                batch_size: 32,
                lr: 1e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
        }
    }
}

impl PreferenceConfig {
    pub fn check(&self) -> Result<()> {
        if self.negatives == 0 {
            return Err(ExperimentError::Invalid(
                "preference.negatives must be at least 1".into(),
            ));
        }
        if self.rejected.is_empty() {
            return Err(ExperimentError::Invalid(
                "preference.rejected names no strategy".into(),
            ));
        }
        if !(0.0..=0.5).contains(&self.label_noise) {
            return Err(ExperimentError::Invalid(format!(
                "preference.label_noise {} must lie in [0, 0.5]",
                self.label_noise
            )));
        }
        match self.smoothing {
            Smoothing::Constant(eps) if !(0.0..0.5).contains(&eps) => Err(
                ExperimentError::Invalid(format!("constant smoothing {eps} must lie in [0, 0.5)")),
            ),
            Smoothing::Oracle { temperature, max }
                if !(temperature > 0.0 && (0.0..0.5).contains(&max)) =>
            {
                Err(ExperimentError::Invalid(format!(
                    "oracle smoothing needs temperature > 0 and max in [0, 0.5), got {temperature} and {max}"
                )))
            }
            _ => Ok(()),
        }?;
        self.train.check()?;
        self.objective.clone().check()?;
        Ok(())
    }
}

/// Evaluation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Prompts scored per forward pass.
    pub batch_size: usize,
    /// Also generate an answer per prompt (greedy) for ValidRatio and the generation
    /// HitRatio@1.
    pub generation: bool,
    /// Longest generated answer, in tokens.
    pub max_tokens: usize,
    /// Forward passes run at once, one thread each, for ranking, generation and reference
    /// log-probs (default: the CPU count). The scores do not depend on it; on a CPU, where one
    /// forward pass keeps one core busy outside its matrix products, more threads finish sooner.
    pub threads: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            generation: true,
            max_tokens: 4,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// `overlay`'s keys into `base`: tables merge recursively, every other value replaces.
fn merge_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => {
                merge_tables(inner, value)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

impl ExperimentConfig {
    /// Reads a TOML file; unknown keys are errors that name the key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        let config: Self = toml::from_str(&text).map_err(|e| ExperimentError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check().map_err(|e| ExperimentError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(config)
    }

    /// Reads a TOML file whose keys replace those of `base` (tables merge key by key), so a
    /// file for a track with its own defaults names only what it changes.
    pub fn from_file_over(path: &Path, base: &Self) -> Result<Self> {
        let config_error = |message: String| ExperimentError::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        let file: toml::Table = toml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
        let mut merged = toml::Table::try_from(base)?;
        merge_tables(&mut merged, file);
        let config: Self = merged
            .try_into()
            .map_err(|e: toml::de::Error| config_error(e.to_string()))?;
        config.check().map_err(|e| config_error(e.to_string()))?;
        Ok(config)
    }

    /// The config as TOML (written beside every result, so a run can be repeated).
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    pub fn check(&self) -> Result<()> {
        self.device_choice()?;
        self.sft.check()?;
        self.preference.check()?;
        if self.eval.batch_size == 0 || self.eval.max_tokens == 0 || self.eval.threads == 0 {
            return Err(ExperimentError::Invalid(
                "eval.batch_size, eval.max_tokens and eval.threads must be positive".into(),
            ));
        }
        if self.sdpo.negatives.contains(&0) || self.sdpo.comparison_negatives < 3 {
            return Err(ExperimentError::Invalid(
                "sdpo.negatives must be positive and sdpo.comparison_negatives at least 3 (DynamicPO clusters the negatives in 3)".into(),
            ));
        }
        self.prlhf.check()?;
        self.lore.check()?;
        self.rpo.check()?;
        self.text.check()?;
        if self.data.eval.is_some() && self.data.train.is_none() {
            return Err(ExperimentError::Invalid(
                "data.eval names an evaluation split but data.train names no training data".into(),
            ));
        }
        Ok(())
    }

    /// Applies the command line's `--device` and `--seed` (checked later, with the rest).
    pub fn override_run(&mut self, device: Option<&str>, seed: Option<u64>) {
        if let Some(device) = device {
            self.device = device.to_string();
        }
        if let Some(seed) = seed {
            self.seed = seed;
        }
    }

    pub fn device_choice(&self) -> Result<DeviceChoice> {
        Ok(self.device.parse::<DeviceChoice>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<ExperimentConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn model_is_a_preset_a_checkpoint_folder_or_a_table() {
        assert_eq!(parse("model = \"small\"").unwrap().model.preset, "small");
        let folder =
            parse("model = \"ckpt/Qwen2-0.5B\"\nlora = { rank = 4, alpha = 8.0 }").unwrap();
        assert_eq!(
            folder.model.checkpoint,
            Some(PathBuf::from("ckpt/Qwen2-0.5B"))
        );
        assert_eq!(
            folder.lora.as_ref().map(|l| (l.rank, l.dropout)),
            Some((4, 0.0))
        );
        let table = parse("[model]\ncheckpoint = \"gpt2\"\n").unwrap();
        assert_eq!(table.model.checkpoint, Some(PathBuf::from("gpt2")));
        assert_eq!(parse("").unwrap().model, ModelConfig::default());
        let error = parse("[model]\npreset = \"tiny\"\ncheckpont = \"x\"\n").unwrap_err();
        assert!(error.to_string().contains("checkpont"), "{error}");
        let error = parse("lora = { rank = 4, alhpa = 8.0 }").unwrap_err();
        assert!(error.to_string().contains("alhpa"), "{error}");
    }

    #[test]
    fn thread_counts_are_read_and_zero_is_refused_by_name() {
        let config =
            parse("[eval]\nthreads = 3\n[preference.train]\nmicro_batch_threads = 4\n").unwrap();
        assert_eq!(config.eval.threads, 3);
        assert_eq!(config.preference.train.micro_batch_threads, 4);
        config.check().unwrap();
        let error = parse("[eval]\nthreads = 0\n").unwrap().check().unwrap_err();
        assert!(error.to_string().contains("eval.threads"), "{error}");
        let error = parse("[sft]\nmicro_batch_threads = 0\n")
            .unwrap()
            .check()
            .unwrap_err();
        assert!(error.to_string().contains("micro_batch_threads"), "{error}");
    }
}
