//! What the P-RLHF and RPO experiments share: a byte-level BPE trained on the dataset's texts
//! and a small transformer policy (or a pretrained checkpoint and its tokenizer, optionally with
//! LoRA adapters), SFT on the chosen responses (the reference and the starting point of every
//! preference run), and sequence log-probs of every response of a split.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use prefopt_data::PreferenceRecord;
use prefopt_models::ModelError;
use prefopt_models::config::{Preset, TransformerConfig};
use prefopt_models::lora::{self, LoraConfig};
use prefopt_models::pretrained::Pretrained;
use prefopt_models::scoring::{ScoreItem, ScoringMode, score_in_chunks};
use prefopt_models::tokenizer::{EncodedExample, TextTokenizer, Tokenizer, encode_record};
use prefopt_models::train::{SftTask, TrainConfig, train};
use prefopt_models::transformer::Transformer;

use crate::common::logs::with_log;
use crate::config::ExperimentConfig;
use crate::error::{ExperimentError, Result};

/// What the text-policy experiments train, in words for their reports: the preset over a BPE
/// of the dataset's texts, or the configured checkpoint with its own tokenizer, and the LoRA
/// adapters when there are any.
pub fn describe_policy(config: &ExperimentConfig, preset: &str) -> String {
    let base = match &config.model.checkpoint {
        Some(dir) => format!("the checkpoint `{}` with its tokenizer", dir.display()),
        None => format!("the `{preset}` preset over a byte-level BPE of the dataset's texts"),
    };
    match &config.lora {
        Some(lora) => format!(
            "{base}, LoRA r = {} α = {} (the SFT adapter merged before each preference run)",
            lora.rank, lora.alpha
        ),
        None => base,
    }
}

/// A text policy's tokenizer, model shape and device.
pub struct TextPolicy {
    pub tokenizer: TextTokenizer,
    pub model_config: TransformerConfig,
    /// The autodiff device training runs on.
    pub device: Device,
    /// The checkpoint's weights when the experiment config names one.
    pub pretrained: Option<Transformer>,
    pub lora: Option<LoraConfig>,
}

impl TextPolicy {
    /// Trains a BPE of at most `vocab_size` tokens on every prompt and response of `records`.
    pub fn new(
        config: &ExperimentConfig,
        records: &[PreferenceRecord],
        vocab_size: usize,
        preset: &str,
    ) -> Result<Self> {
        let device = config.device_choice()?.device()?.autodiff();
        let lora = config.lora.clone();
        if let Some(dir) = &config.model.checkpoint {
            let loaded = Pretrained::load(dir, &device, DType::F32)?;
            return Ok(Self {
                tokenizer: config
                    .model
                    .prompt_tokenizer(loaded.tokenizer, loaded.chat_template.as_ref())?,
                model_config: loaded.model.config.clone(),
                device,
                pretrained: Some(loaded.model),
                lora,
            });
        }
        let texts = records.iter().flat_map(|r| {
            std::iter::once(r.prompt.as_str())
                .chain(std::iter::once(r.chosen.as_str()))
                .chain(r.rejected.iter().map(String::as_str))
        });
        let tokenizer = TextTokenizer::train_bpe(texts, vocab_size)?;
        let model_config = preset.parse::<Preset>()?.config(tokenizer.vocab_size());
        Ok(Self {
            tokenizer,
            model_config,
            device,
            pretrained: None,
            lora,
        })
    }

    /// The policy a preference run starts from: the SFT model, or with LoRA the SFT model with
    /// its adapter merged and a fresh adapter on top (its reference is the SFT model itself).
    pub fn preference_start(&self, sft: &Transformer) -> Result<Transformer> {
        Ok(match &self.lora {
            Some(lora) => lora::restart(sft.clone(), lora)?,
            None => sft.clone(),
        })
    }

    pub fn pad(&self) -> u32 {
        self.tokenizer.special().pad
    }

    pub fn encode(&self, records: &[PreferenceRecord]) -> Result<Vec<EncodedExample>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| encode_record(&self.tokenizer, r, i).map_err(Into::into))
            .collect()
    }

    pub fn description(&self) -> Result<String> {
        serde_json::to_string(&(&self.model_config, &self.lora)).map_err(ExperimentError::from)
    }

    /// A fresh policy trained on the chosen responses; returns it and the seconds it took.
    pub fn sft(
        &self,
        examples: &[EncodedExample],
        settings: &TrainConfig,
        seed: u64,
        log_dir: &Path,
        name: &str,
    ) -> Result<(Transformer, f64)> {
        let start = Instant::now();
        let model = match &self.pretrained {
            Some(model) => model.clone(),
            None => Transformer::new(&self.model_config, seed, &self.device)?,
        };
        let model = match &self.lora {
            Some(lora) => lora::attach(model, lora)?,
            None => model,
        };
        let mut config = with_log(settings, Some(log_dir), name)?;
        config.seed ^= seed;
        let task = SftTask {
            examples,
            pad: self.pad(),
        };
        let outcome = train(model, &task, &config, &self.description()?, None)?;
        Ok((outcome.model, start.elapsed().as_secs_f64()))
    }

    /// `[chosen, rejected…]` sequence log-probs of every example, `batch` prompts at a time,
    /// without a graph; `soft_tokens` gives a micro-batch's soft tokens (`None`: plain model).
    pub fn logps(
        &self,
        model: &Transformer,
        examples: &[EncodedExample],
        batch: usize,
        soft_tokens: &(dyn Fn(&[usize]) -> Result<Option<Tensor<3>>> + Sync),
    ) -> Result<Vec<Vec<f64>>> {
        let model = model.clone().valid();
        let items: Vec<ScoreItem<'_>> = examples.iter().map(ScoreItem::of).collect();
        let soft = |chunk: &[usize]| {
            soft_tokens(chunk).map_err(|e| ModelError::external("soft tokens", e))
        };
        Ok(score_in_chunks(
            &model,
            &items,
            batch,
            ScoringMode::SharedPrefix,
            Some(&soft),
            self.pad(),
            // One chunk at a time: the personalization tables score small text policies,
            // where a thread per chunk has not been measured to pay.
            1,
        )?)
    }
}

/// `β·((π_c − ref_c) − (π_r − ref_r))` of every example (its first rejected response).
pub fn reward_margins(policy: &[Vec<f64>], reference: &[Vec<f64>], beta: f64) -> Vec<f64> {
    policy
        .iter()
        .zip(reference)
        .map(|(p, r)| beta * ((p[0] - r[0]) - (p[1] - r[1])))
        .collect()
}

/// 1 where the margin is positive (the reward orders the pair correctly), else 0.
pub fn correct(margins: &[f64]) -> Vec<f64> {
    margins
        .iter()
        .map(|&m| f64::from(u8::from(m > 0.0)))
        .collect()
}
