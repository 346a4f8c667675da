//! `prefopt train|eval|score --config <file.toml>`: the recommendation pipeline driven by one
//! config, so that swapping the loss, the sampler or the model is one edited line.
//!
//! - `train` with `[data] train` (a TRL-format dataset): the text pipeline (`crate::text`);
//! - `train`: SFT, then the `[preference]` stage from the SFT model (its reference); writes
//!   `sft.safetensors`, `policy.safetensors`, the JSONL logs, and a report of both models on
//!   the test split (results.md/csv/json, config.toml, plots).
//! - `eval`: a saved model on the test split, same report.
//! - `score`: every candidate's log-prob under a saved model, one CSV line per candidate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use prefopt_models::checkpoint::{self, TrainerState};
use prefopt_models::optim::{AdamW, AdamWConfig};
use prefopt_models::ranking::candidate_scores;
use prefopt_models::tokenizer::Tokenizer;
use prefopt_models::transformer::Transformer;

use crate::common::checkpoints::Checkpoints;
use crate::common::output::{check_space, check_writable, checkpoint_bytes};
use crate::config::ExperimentConfig;
use crate::error::{ExperimentError, Result};
use crate::rec::table::{Outcome, Stage, curves, row};
use crate::rec::{RecPipeline, SftStage, Trained};
use crate::report::{Meta, Report, Section, Table, git_revision};
use crate::runner::command_line;

/// Options shared by `train`, `eval` and `score`.
#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// The experiment config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Overrides the config's device: auto, cpu, wgpu or cuda.
    #[arg(long)]
    pub device: Option<String>,
    /// Overrides the config's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl PipelineArgs {
    fn pipeline(&self) -> Result<RecPipeline> {
        let mut config = ExperimentConfig::from_file(&self.config)?;
        config.override_run(self.device.as_deref(), self.seed);
        if config.data.train.is_some() {
            return Err(ExperimentError::Invalid(format!(
                "{}: `[data] train` names a TRL-format dataset, which `prefopt train` evaluates \
                 on its held-out split (results.md, results.json's `eval`); `prefopt eval` and \
                 `score` read item datasets (`[data] dir`)",
                self.config.display()
            )));
        }
        RecPipeline::new(config)
    }
}

/// `prefopt train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Start the preference stage from this saved SFT model instead of training SFT.
    #[arg(long)]
    pub sft_checkpoint: Option<PathBuf>,
    /// Continue a killed run in `--out` (same config and options) from its last checkpoint;
    /// it ends with the same models, logs and report as an uninterrupted run.
    #[arg(long)]
    pub resume: bool,
}

/// `prefopt eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// A model written by `prefopt train` (`policy.safetensors` or `sft.safetensors`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

/// `prefopt score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// train, valid or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// CSV file: example,user_id,item,is_target,logp.
    #[arg(long)]
    pub output: PathBuf,
}

fn description(pipeline: &RecPipeline) -> Result<String> {
    pipeline.description()
}

/// Writes a model (weights only: empty optimizer state) that `load_model` reads back.
pub fn save_model(path: &Path, pipeline: &RecPipeline, model: &Transformer) -> Result<()> {
    let state = TrainerState::start(pipeline.config.seed, description(pipeline)?);
    checkpoint::save(path, model, &AdamW::new(AdamWConfig::default())?, &state)?;
    Ok(())
}

/// Reads a model saved for this pipeline's architecture (an error names both when they differ).
pub fn load_model(path: &Path, pipeline: &RecPipeline) -> Result<Transformer> {
    // Same parameters (adapters included) as what was saved; every value is then read back.
    let fresh = pipeline.initial_model()?;
    let restored = checkpoint::load(path, fresh, &pipeline.device)?;
    let expected = description(pipeline)?;
    if restored.state.model != expected {
        return Err(ExperimentError::Invalid(format!(
            "{} holds a model `{}`, but the config builds `{expected}`",
            path.display(),
            restored.state.model
        )));
    }
    Ok(restored.model)
}

/// When a command started, and the checkout's revision then (a long run may outlive it).
struct Started {
    at: Instant,
    revision: String,
}

impl Started {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            revision: git_revision(),
        }
    }
}

fn report(pipeline: &RecPipeline, outcomes: &[Outcome], out: &Path, start: Started) -> Result<()> {
    let columns = [
        "HR@1",
        "HR@5",
        "HR@10",
        "NDCG@5",
        "NDCG@10",
        "MRR",
        "gen HitRatio@1",
        "HR@1 given valid",
        "ValidRatio",
        "top-1 pop",
        "head share",
        "gini",
        "coverage",
        "train s",
    ];
    let baseline = outcomes.first().map(|o| o.evaluation.clone());
    let rows = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            row(
                o,
                &columns,
                pipeline.dataset.popularity(),
                baseline.as_ref().filter(|_| i > 0),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let table = Table {
        id: "pipeline".into(),
        title: "test split".into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        baseline: outcomes.first().map_or("–".into(), |o| o.method.clone()),
        compared: "HR@1".into(),
        rows,
    };
    let config = &pipeline.config;
    let plots = if outcomes.iter().any(|o| o.run.is_some()) {
        curves(out, outcomes, "train")?
    } else {
        Vec::new()
    };
    let report = Report {
        meta: Meta {
            title: "prefopt pipeline".into(),
            command: command_line(),
            seed: config.seed,
            seeds: Vec::new(),
            git_revision: start.revision,
            data: config.data.dir.display().to_string(),
            data_rows: format!(
                "{} train / {} valid / {} test prompts",
                pipeline.train.len(),
                pipeline.valid.len(),
                pipeline.test.len()
            ),
            model: format!("{} parameters", pipeline.model_config.parameter_count()),
            device: config.device.clone(),
            elapsed_seconds: start.at.elapsed().as_secs_f64(),
        },
        sections: vec![Section {
            heading: format!("objective `{}`", config.preference.objective.name()),
            paragraphs: vec![],
            table,
            extra_tables: vec![],
            claims: vec![],
            plots,
        }],
        eval: None,
    };
    report.write(out, config)
}

impl TrainArgs {
    pub fn run(&self) -> Result<()> {
        let mut config = ExperimentConfig::from_file(&self.pipeline.config)?;
        config.override_run(self.pipeline.device.as_deref(), self.pipeline.seed);
        if config.data.train.is_some() {
            if self.sft_checkpoint.is_some() {
                return Err(ExperimentError::Invalid(
                    "--sft-checkpoint belongs to the recommendation pipeline; for a TRL dataset \
                     set `model` to the SFT checkpoint (a `policy-hf` folder) instead"
                        .into(),
                ));
            }
            return crate::text::train_text(config, &self.out, self.resume);
        }
        let start = Started::now();
        let pipeline = self.pipeline.pipeline()?;
        check_writable(&self.out)?;
        let initial = pipeline.initial_model()?;
        check_space(
            &self.out,
            checkpoint_bytes(
                pipeline.model_config.parameter_count(),
                prefopt_models::lora::trainable_params(&initial),
            ),
            "the checkpoints",
        )?;
        drop(initial);
        // The SFT checkpoint given on the command line is part of what a resume must repeat.
        let recorded = format!(
            "# --sft-checkpoint {:?}\n{}",
            self.sft_checkpoint,
            pipeline.config.to_toml()?
        );
        let checkpoints = Checkpoints::open(&self.out, &recorded, self.resume)?;
        let logs = self.out.join("logs");
        let sft = match &self.sft_checkpoint {
            Some(path) => {
                let model = load_model(path, &pipeline)?;
                SftStage::new(Trained {
                    run: crate::rec::Run {
                        name: "SFT".into(),
                        losses: vec![],
                        evaluations: vec![],
                        rows: 0,
                        swapped: 0,
                        seconds: 0.0,
                        log: None,
                    },
                    model,
                })
            }
            None => {
                eprintln!(
                    "SFT: {} epochs on {} prompts",
                    pipeline.config.sft.epochs,
                    pipeline.train.len()
                );
                let sft = pipeline.sft(Some(&logs), Some(&checkpoints))?;
                save_model(&self.out.join("sft.safetensors"), &pipeline, sft.model())?;
                sft
            }
        };
        let sft_evaluation = pipeline.evaluate_test(sft.model())?;
        let objective = pipeline.config.preference.objective.name();
        eprintln!("preference stage: {objective}");
        let Trained { run, model } = pipeline.preference(
            &objective,
            &sft,
            &pipeline.config.preference,
            Some(&logs),
            Some(&checkpoints),
        )?;
        save_model(&self.out.join("policy.safetensors"), &pipeline, &model)?;
        if let Some(checkpoint) = &pipeline.config.model.checkpoint {
            // The fine-tuned policy as a Hugging Face checkpoint (adapters merged), loadable by
            // `transformers` and as `model = "<out>/policy-hf"` here.
            prefopt_models::pretrained::save_checkpoint(
                &prefopt_models::lora::merge(model.clone()),
                checkpoint,
                &self.out.join("policy-hf"),
            )?;
        }
        if let Some(lora) = &pipeline.config.lora {
            // The preference adapter as PEFT writes it, on top of the merged SFT model.
            let base = pipeline.config.model.checkpoint.as_ref().map_or_else(
                || pipeline.config.model.preset.clone(),
                |d| d.display().to_string(),
            );
            prefopt_models::lora::save_peft(&model, lora, &base, &self.out.join("adapter"))?;
        }
        let evaluation = pipeline.evaluate_test(&model)?;
        let outcomes = [
            Outcome {
                method: "SFT".into(),
                settings: format!("{} epochs", pipeline.config.sft.epochs),
                stage: Stage::Sft,
                run: (!sft.run.losses.is_empty()).then(|| sft.run.clone()),
                evaluation: sft_evaluation,
            },
            Outcome {
                method: objective.clone(),
                settings: format!("K={}", pipeline.config.preference.negatives),
                stage: Stage::Preference,
                run: Some(run),
                evaluation,
            },
        ];
        for o in &outcomes {
            eprintln!(
                "  {:<24} HR@1 {:.3}",
                o.method,
                o.evaluation.hit_ratio_at_1()
            );
        }
        report(&pipeline, &outcomes, &self.out, start)?;
        checkpoints.complete()?;
        eprintln!("wrote {}", self.out.display());
        Ok(())
    }
}

impl EvalArgs {
    pub fn run(&self) -> Result<()> {
        let start = Started::now();
        let pipeline = self.pipeline.pipeline()?;
        let model = load_model(&self.checkpoint, &pipeline)?;
        let evaluation = pipeline.evaluate_test(&model)?;
        let name = self
            .checkpoint
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        eprintln!("{name}: HR@1 {:.3}", evaluation.hit_ratio_at_1());
        let outcomes = [Outcome {
            method: name,
            settings: String::new(),
            stage: Stage::Checkpoint,
            run: None,
            evaluation,
        }];
        report(&pipeline, &outcomes, &self.out, start)
    }
}

impl ScoreArgs {
    pub fn run(&self) -> Result<()> {
        let pipeline = self.pipeline.pipeline()?;
        let (examples, records) = match self.split.as_str() {
            "train" => (&pipeline.train, &pipeline.dataset.train),
            "valid" => (&pipeline.valid, &pipeline.dataset.valid),
            "test" => (&pipeline.test, &pipeline.dataset.test),
            other => {
                return Err(ExperimentError::Invalid(format!(
                    "--split {other}: expected train, valid or test"
                )));
            }
        };
        let model = load_model(&self.checkpoint, &pipeline)?.valid();
        let scores = candidate_scores(
            &model,
            examples,
            pipeline.config.eval.batch_size,
            pipeline.tokenizer.special().pad,
            pipeline.config.eval.threads,
        )?;
        let (guard, file) = prefopt_data::atomic::AtomicFile::create(&self.output)?;
        let mut out = std::io::BufWriter::new(file);
        let io = |e| ExperimentError::io(&self.output, e);
        writeln!(out, "example,user_id,item,is_target,logp").map_err(io)?;
        for (index, (record, row)) in records.iter().zip(&scores).enumerate() {
            let user = record.user_id.map_or(String::new(), |u| u.to_string());
            for (&item, logp) in record.candidate_items.iter().flatten().zip(row) {
                let target = u8::from(Some(item) == record.chosen_item);
                writeln!(out, "{index},{user},{item},{target},{logp}").map_err(io)?;
            }
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        guard.commit(file)?;
        eprintln!("wrote {} ({} prompts)", self.output.display(), scores.len());
        Ok(())
    }
}
