//! The LLM track of `reproduce`: the recommendation tables (S-DPO and RosePO) with a pretrained
//! language model that reads titles, on a converted real log, instead of the item-token model on
//! generated data. Its defaults are sized so the whole track finishes on a 2-core CPU within an
//! hour (docs/reproducing.md says what each choice costs); a GPU run scales them up with a
//! `--config` file.

use std::path::{Path, PathBuf};

use prefopt_models::lora::LoraConfig;
use prefopt_models::train::TrainConfig;

use crate::config::{
    DataConfig, EvalConfig, ExperimentConfig, ModelConfig, PreferenceConfig, RowSample, SdpoGrid,
};
use crate::error::{ExperimentError, Result};
use crate::runner::TableId;

/// The tables of the LLM track: the recommendation ones (the personalization tables have their
/// own text policies and data).
pub const TABLES: [TableId; 2] = [TableId::Sdpo, TableId::Rosepo];

/// Where the track looks for its data when `--data` is not given.
pub const DEFAULT_DATA: &str = "datasets/ml-1m";

/// Training prompts, validation prompts (checkpoint selection) and test prompts of the default
/// size: a seeded sample of each split.
pub const DEFAULT_TRAIN: usize = 64;
pub const DEFAULT_VALID: usize = 16;
pub const DEFAULT_TEST: usize = 48;

/// The track's defaults for `model` (a Hugging Face folder or a `.gguf` file).
pub fn default_config(model: &Path) -> ExperimentConfig {
    defaults(Some(model))
}

/// The track's defaults, with no checkpoint when no model was named (a config file may name it).
fn defaults(model: Option<&Path>) -> ExperimentConfig {
    let base = ExperimentConfig::default();
    let stage = |epochs: usize, lr: f64| TrainConfig {
        epochs,
        batch_size: 4,
        lr,
        warmup_ratio: 0.1,
        ..TrainConfig::default()
    };
    ExperimentConfig {
        // One run at a time: the GEMMs of a 135M-parameter model use every core.
        workers: 1,
        data: DataConfig {
            dir: PathBuf::from(DEFAULT_DATA),
            max_train: Some(DEFAULT_TRAIN),
            max_valid: Some(DEFAULT_VALID),
            max_test: Some(DEFAULT_TEST),
            sample: RowSample::Random,
            sample_seed: 0,
            ..DataConfig::default()
        },
        model: ModelConfig {
            checkpoint: model.map(Path::to_path_buf),
            ..ModelConfig::default()
        },
        lora: Some(LoraConfig {
            rank: 8,
            alpha: 16.0,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
            ..LoraConfig::default()
        }),
        sft: stage(2, 1e-3),
        preference: PreferenceConfig {
            // The same updates of 4 prompts as 4 micro-batches of 1 in flight: the track's
            // losses average over prompts, and the threads fill the cores that burn's
            // single-threaded elementwise kernels leave idle (a run 1.23–1.29× faster, measured
            // in docs/reproducing.md). SFT keeps whole batches: its token mean would become a
            // mean of per-prompt token means, another objective.
            train: TrainConfig {
                batch_size: 1,
                grad_accum: 4,
                micro_batch_threads: 4,
                ..stage(1, 5e-4)
            },
            ..PreferenceConfig::default()
        },
        eval: EvalConfig {
            batch_size: 8,
            generation: true,
            // The longest MovieLens title is 40-odd tokens; most are under 16.
            max_tokens: 32,
            ..EvalConfig::default()
        },
        sdpo: SdpoGrid {
            negatives: vec![1, 3, 8],
            comparison_negatives: 3,
            betas: vec![1.0],
            beta_negatives: 3,
        },
        ..base
    }
}

/// The config of the track: the defaults for `model`, with the keys of `file` over them when
/// one is given (`model` still names the checkpoint when both do).
pub fn config(file: Option<&Path>, model: Option<&Path>) -> Result<ExperimentConfig> {
    let mut config = match file {
        Some(file) => ExperimentConfig::from_file_over(file, &defaults(model))?,
        None => defaults(model),
    };
    if let Some(model) = model {
        config.model.checkpoint = Some(model.to_path_buf());
    }
    if config.model.checkpoint.is_none() {
        return Err(ExperimentError::Invalid(
            "--track llm needs --model <Hugging Face folder or .gguf file> or `model` in the \
             config (tools/fetch-smollm2.sh DIR fetches SmolLM2-135M-Instruct)"
                .into(),
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_check_and_name_the_model() {
        let config = default_config(Path::new("/models/smollm2.gguf"));
        config.check().unwrap();
        assert_eq!(
            config.model.checkpoint.as_deref(),
            Some(Path::new("/models/smollm2.gguf"))
        );
        assert!(config.lora.is_some() && config.model.chat_template);
    }

    #[test]
    fn a_config_file_changes_only_the_keys_it_names() {
        let dir = std::env::temp_dir().join(format!("prefopt-llm-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gpu.toml");
        std::fs::write(&file, "[data]\nmax_train = 2000\n[sft]\nepochs = 3\n").unwrap();
        let config = config(Some(&file), Some(Path::new("m.gguf"))).unwrap();
        let defaults = default_config(Path::new("m.gguf"));
        assert_eq!(config.data.max_train, Some(2000));
        assert_eq!(config.sft.epochs, 3);
        assert_eq!(config.sft.lr, defaults.sft.lr);
        assert_eq!(config.data.sample, RowSample::Random);
        assert_eq!(config.lora, defaults.lora);
        assert_eq!(config.sdpo, defaults.sdpo);
        std::fs::write(&file, "model = \"f.gguf\"\n").unwrap();
        let named = super::config(Some(&file), None).unwrap();
        assert_eq!(named.model.checkpoint.as_deref(), Some(Path::new("f.gguf")));
        assert_eq!(named.lora, defaults.lora);
        std::fs::write(&file, "[data]\nmax_trian = 1\n").unwrap();
        let error = super::config(Some(&file), Some(Path::new("m.gguf")))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("max_trian") && error.contains("gpu.toml"),
            "{error}"
        );
    }

    #[test]
    fn the_gpu_config_scales_the_defaults_up() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/llm-gpu.toml");
        let config = config(Some(&file), Some(Path::new("m.gguf"))).unwrap();
        assert_eq!(config.device, "auto");
        assert!(config.data.max_test > Some(DEFAULT_TEST));
        assert_eq!(config.sdpo.negatives, [1, 3, 8, 15]);
        assert_eq!(config.lora, default_config(Path::new("m.gguf")).lora);
    }

    #[test]
    fn the_track_without_a_model_is_an_error_that_says_what_to_pass() {
        let error = config(None, None).unwrap_err().to_string();
        assert!(error.contains("--model"), "{error}");
    }
}
