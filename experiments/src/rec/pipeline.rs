//! The recommendation pipeline every table runs: data → item tokenizer → SFT → preference stage
//! from the SFT model (which is also the frozen reference) → evaluation. Checkpoints are chosen
//! by validation HitRatio@1 twice per epoch, for SFT and for every preference run alike.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{DType, Device};
use prefopt_eval::ranking::RankingMetrics;
use prefopt_models::config::TransformerConfig;
use prefopt_models::generate::GenerateConfig;
use prefopt_models::lora;
use prefopt_models::pretrained::Pretrained;
use prefopt_models::ranking::candidate_scores;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, ItemTokenizer, Tokenizer};
use prefopt_models::train::{PreferenceTask, SftTask, TrainConfig, reference_logps, train};
use prefopt_models::transformer::Transformer;
use serde::{Deserialize, Serialize};

use crate::common::checkpoints::Checkpoints;
use crate::config::{ExperimentConfig, PreferenceConfig, Smoothing};
use crate::error::{ExperimentError, Result};
use crate::rec::data::{RecDataset, encode};
use crate::rec::evaluate::{Evaluation, Prompts, evaluate};
use crate::rec::oracle::ItemKnn;
use crate::rec::pairs::{
    PairContext, apply_smoothing, build_rows, inject_label_noise, oracle_list_labels,
};
use crate::rec::tokens::RecTokenizer;

/// What a finished training run did (its model travels beside it in [`Trained`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub name: String,
    /// Mean loss of every update.
    pub losses: Vec<f64>,
    /// `(update, validation HitRatio@1)` of every evaluation (twice per epoch by default).
    pub evaluations: Vec<(usize, f64)>,
    /// Training rows (prompt × strategy).
    pub rows: usize,
    /// Rows whose labels were swapped (noise injection).
    pub swapped: usize,
    /// Seconds of this process's part of the run (a resumed run counts the process that
    /// finished it).
    pub seconds: f64,
    /// The JSONL log of every update, when a log folder was given.
    pub log: Option<PathBuf>,
}

/// A run and its model at the best validation HitRatio@1.
pub struct Trained {
    pub run: Run,
    pub model: Transformer,
}

/// The SFT model and what preference runs derive from it once.
pub struct SftStage {
    pub run: Run,
    model: Transformer,
    train_scores: OnceLock<Vec<Vec<f64>>>,
}

impl SftStage {
    pub fn new(trained: Trained) -> Self {
        Self {
            run: trained.run,
            model: trained.model,
            train_scores: OnceLock::new(),
        }
    }

    pub fn model(&self) -> &Transformer {
        &self.model
    }
}

/// Loaded data, tokenizer and device of an experiment.
pub struct RecPipeline {
    pub config: ExperimentConfig,
    pub dataset: RecDataset,
    pub tokenizer: RecTokenizer,
    pub model_config: TransformerConfig,
    /// The pretrained checkpoint's weights when the config names one (SFT starts from them).
    pub pretrained: Option<Transformer>,
    /// The training device (with autodiff).
    pub device: Device,
    pub train: Vec<EncodedExample>,
    pub valid: Vec<EncodedExample>,
    pub test: Vec<EncodedExample>,
    /// The conventional recommender: RosePO's preference oracle and LiPO-λ's labeller.
    pub oracle: ItemKnn,
}

impl RecPipeline {
    pub fn new(config: ExperimentConfig) -> Result<Self> {
        config.check()?;
        let dataset = RecDataset::load(&config.data)?;
        let device = config.device_choice()?.device()?.autodiff();
        let (tokenizer, model_config, pretrained) = match &config.model.checkpoint {
            Some(dir) => {
                let loaded = Pretrained::load(dir, &device, DType::F32)?;
                let text = config
                    .model
                    .prompt_tokenizer(loaded.tokenizer, loaded.chat_template.as_ref())?;
                let tokenizer = RecTokenizer::text(text, &dataset.items.titles);
                (tokenizer, loaded.model.config.clone(), Some(loaded.model))
            }
            None => {
                let tokenizer = ItemTokenizer::new(dataset.items.len())?;
                let model_config = config.model.resolve(tokenizer.vocab_size())?;
                (RecTokenizer::Items(tokenizer), model_config, None)
            }
        };
        let train = encode(&tokenizer, &dataset.train)?;
        let valid = encode(&tokenizer, &dataset.valid)?;
        let test = encode(&tokenizer, &dataset.test)?;
        let oracle = ItemKnn::fit(&dataset.train, dataset.items.len());
        Ok(Self {
            config,
            dataset,
            tokenizer,
            model_config,
            pretrained,
            device,
            train,
            valid,
            test,
            oracle,
        })
    }

    /// The splits' sizes and the training prompts' and answers' mean length in tokens (what
    /// a step's cost and tokens per second follow from).
    pub fn describe_data(&self) -> String {
        let mean_length = |length: fn(&EncodedExample) -> usize| {
            let lengths: Vec<f64> = self.train.iter().map(|e| length(e) as f64).collect();
            crate::common::mean(&lengths)
        };
        let prompt = mean_length(|e| e.prompt.len());
        let answer = mean_length(|e| e.responses.first().map_or(0, Vec::len));
        format!(
            "{} train / {} valid / {} test prompts, {} items; training prompts {prompt:.0} tokens \
             and answers {answer:.1} tokens on average",
            self.train.len(),
            self.valid.len(),
            self.test.len(),
            self.dataset.items.len()
        )
    }

    fn pad(&self) -> u32 {
        self.tokenizer.special().pad
    }

    /// The model SFT starts from: the checkpoint's weights or a fresh seeded model, with LoRA
    /// adapters attached when the config asks for them.
    pub fn initial_model(&self) -> Result<Transformer> {
        let model = match &self.pretrained {
            Some(model) => model.clone(),
            None => Transformer::new(&self.model_config, self.config.seed, &self.device)?,
        };
        Ok(match &self.config.lora {
            Some(lora) => lora::attach(model, lora)?,
            None => model,
        })
    }

    /// What a saved model of this pipeline must have been built as: the architecture, the
    /// checkpoint it started from and the adapters.
    pub fn description(&self) -> Result<String> {
        serde_json::to_string(&(
            &self.model_config,
            &self.config.model.checkpoint,
            &self.config.lora,
        ))
        .map_err(ExperimentError::from)
    }

    /// Validation HitRatio@1 of the candidate ranking (the checkpoint-selection metric).
    pub fn valid_hit_ratio(&self, model: &Transformer) -> Result<f64> {
        let scores = candidate_scores(
            model,
            &self.valid,
            self.config.eval.batch_size,
            self.pad(),
            self.config.eval.threads,
        )?;
        let targets: Vec<usize> = self
            .valid
            .iter()
            .map(|e| e.candidates.as_ref().map_or(0, |c| c.target))
            .collect();
        let hits = RankingMetrics::new(&scores, &targets)?.hit_ratio(1);
        Ok(hits.iter().sum::<f64>() / hits.len() as f64)
    }

    /// Evaluation on the test split.
    pub fn evaluate_test(&self, model: &Transformer) -> Result<Evaluation> {
        let generation = self.config.eval.generation.then_some(GenerateConfig {
            beams: 1,
            max_tokens: self.config.eval.max_tokens,
            ..GenerateConfig::default()
        });
        evaluate(
            &model.clone().valid(),
            &self.tokenizer,
            &Prompts {
                examples: &self.test,
                records: &self.dataset.test,
                titles: &self.dataset.items.titles,
            },
            self.config.eval.batch_size,
            generation.as_ref(),
            self.config.eval.threads,
        )
    }

    /// Evaluates twice per epoch unless the config says otherwise; the loop keeps the best
    /// model.
    fn with_epoch_evaluation(&self, config: &TrainConfig, rows: usize) -> TrainConfig {
        let per_update = config.batch_size * config.grad_accum;
        let per_epoch = rows.div_ceil(per_update);
        TrainConfig {
            eval_every: config.eval_every.or(Some(per_epoch.div_ceil(2).max(1))),
            ..config.clone()
        }
    }

    /// SFT from a fresh model (seeded by the experiment seed), checkpointed under
    /// `checkpoints` when given (and continued from there when it resumes).
    pub fn sft(
        &self,
        log_dir: Option<&Path>,
        checkpoints: Option<&Checkpoints>,
    ) -> Result<SftStage> {
        let start = Instant::now();
        let model = self.initial_model()?;
        let mut config = self.with_epoch_evaluation(&self.config.sft, self.train.len());
        config.seed ^= self.config.seed;
        let config = crate::common::logs::with_log(&config, log_dir, "sft")?;
        let config = Checkpoints::apply(checkpoints, &config, "sft");
        let task = SftTask {
            examples: &self.train,
            pad: self.pad(),
        };
        let description = self.description()?;
        let mut evaluator = |m: &Transformer| {
            self.valid_hit_ratio(m)
                .map(Into::into)
                .map_err(|e| prefopt_models::ModelError::external("validation HitRatio@1", e))
        };
        let outcome = train(model, &task, &config, &description, Some(&mut evaluator))?;
        Ok(SftStage::new(Trained {
            run: Run {
                name: "SFT".into(),
                losses: outcome.losses,
                evaluations: outcome.evaluations,
                rows: self.train.len(),
                swapped: 0,
                seconds: start.elapsed().as_secs_f64(),
                log: config.log,
            },
            model: outcome.model,
        }))
    }

    /// A preference run named `name`, initialised from the SFT model, with the SFT model as
    /// the frozen reference; checkpointed under `checkpoints` when given.
    pub fn preference(
        &self,
        name: &str,
        sft: &SftStage,
        preference: &PreferenceConfig,
        log_dir: Option<&Path>,
        checkpoints: Option<&Checkpoints>,
    ) -> Result<Trained> {
        preference.check()?;
        let start = Instant::now();
        let objective = preference.objective.clone().check()?;
        let pad = self.pad();
        // With LoRA: the SFT adapter is merged and a fresh adapter trains on top, so the
        // reference is the policy with its adapter off (no second copy of the weights).
        let policy = match &self.config.lora {
            Some(lora) => lora::restart(sft.model().clone(), lora)?,
            None => sft.model().clone(),
        };
        let reference_model = policy.without_adapters().valid();
        let needs_sft_scores = preference
            .rejected
            .contains(&crate::config::RejectedStrategy::SelfHard);
        let sft_scores = if needs_sft_scores {
            Some(match sft.train_scores.get() {
                Some(scores) => scores.as_slice(),
                None => {
                    let scores = candidate_scores(
                        &reference_model,
                        &self.train,
                        self.config.eval.batch_size,
                        pad,
                        self.config.eval.threads,
                    )?;
                    sft.train_scores.get_or_init(|| scores).as_slice()
                }
            })
        } else {
            None
        };
        let context = PairContext {
            dataset: &self.dataset,
            sft_scores,
            seed: self.config.seed,
        };
        let mut rows = build_rows(
            &self.dataset.train,
            &preference.rejected,
            preference.negatives,
            &context,
        )?;
        let swapped = inject_label_noise(&mut rows, preference.label_noise, self.config.seed);
        if preference.smoothing != Smoothing::None {
            apply_smoothing(&mut rows, preference.smoothing, &self.oracle);
        }
        let examples = encode(&self.tokenizer, &rows)?;
        let reference = reference_logps(
            &reference_model,
            &examples,
            self.config.eval.batch_size,
            ScoringMode::SharedPrefix,
            pad,
            self.config.eval.threads,
        )?;
        // Graded labels only for an objective that reads them.
        let labels = objective
            .inputs()
            .list_labels
            .is_read()
            .then(|| oracle_list_labels(&rows, &self.oracle));
        let mut task = PreferenceTask::new(&examples, objective.as_ref(), Some(&reference), pad);
        if let Some(labels) = &labels {
            task = task.with_list_labels(labels);
        }
        let mut config = self.with_epoch_evaluation(&preference.train, examples.len());
        config.seed ^= self.config.seed;
        let config = crate::common::logs::with_log(&config, log_dir, name)?;
        let config = Checkpoints::apply(checkpoints, &config, name);
        let description = self.description()?;
        let mut evaluator = |m: &Transformer| {
            self.valid_hit_ratio(m)
                .map(Into::into)
                .map_err(|e| prefopt_models::ModelError::external("validation HitRatio@1", e))
        };
        let outcome = train(policy, &task, &config, &description, Some(&mut evaluator))?;
        Ok(Trained {
            run: Run {
                name: name.to_string(),
                losses: outcome.losses,
                evaluations: outcome.evaluations,
                rows: examples.len(),
                swapped,
                seconds: start.elapsed().as_secs_f64(),
                log: config.log,
            },
            model: outcome.model,
        })
    }
}
