//! `prefopt train` on a TRL-format dataset: optional SFT, the preference stage against the
//! frozen starting model, held-out metrics before, during and after, and the outputs.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use prefopt_models::lora;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, UnpairedExample};
use prefopt_models::train::{
    PreferenceTask, ReferenceLogps, SftTask, Task, TrainConfig, UnpairedTask, kl_partners,
    kl_responses, reference_logps, train, unpaired_reference_logps,
};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

use super::data::{TextData, TextPipeline};
use super::evaluate::{HeldOut, evaluate_paired, evaluate_unpaired};
use super::personal::Personal;
use super::report::{TextOutcome, write_report};
use super::stage::{Stage, Trained, evaluate_while_training};
use crate::common::checkpoints::Checkpoints;
use crate::common::logs::with_log;
use crate::common::output::{check_space, check_writable, checkpoint_bytes};
use crate::config::ExperimentConfig;
use crate::error::{ExperimentError, Result};
use crate::report::git_revision;

/// Each unpaired row's `[completion, mismatched completion]` and their reference log-probs.
type KlPrepared = (Vec<[Vec<u32>; 2]>, Vec<[f64; 2]>);

/// Evaluates twice per epoch unless the config says otherwise.
fn with_evaluation(config: &TrainConfig, rows: usize, seed: u64) -> TrainConfig {
    let per_epoch = rows.div_ceil(config.batch_size * config.grad_accum);
    TrainConfig {
        eval_every: config.eval_every.or(Some(per_epoch.div_ceil(2).max(1))),
        seed: config.seed ^ seed,
        progress: config.progress || std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..config.clone()
    }
}

/// RPO's prompt embeddings when the dataset has none: the frozen starting model's mean final
/// hidden state over each prompt (constants).
fn prompt_embeddings(
    model: &Transformer,
    rows: &[EncodedExample],
    batch: usize,
    pad: u32,
) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch.max(1)) {
        let prompts: Vec<&[u32]> = chunk.iter().map(|e| e.prompt.as_slice()).collect();
        out.extend(model.mean_prompt_states(&prompts, pad)?);
    }
    Ok(out)
}

/// `task` with the extras an objective reads: prompt embeddings (RPO) and graded labels
/// (LiPO-λ).
fn with_extras<'a>(
    mut task: PreferenceTask<'a>,
    embeddings: Option<&'a [Vec<f64>]>,
    labels: Option<&'a [Vec<f64>]>,
) -> PreferenceTask<'a> {
    if let Some(e) = embeddings {
        task = task.with_prompt_embeddings(e);
    }
    if let Some(l) = labels {
        task = task.with_list_labels(l);
    }
    task
}

/// LiPO-λ's graded labels from a pair's roles: 1 for the chosen completion, 0 for every
/// rejected one (TRL-format rows carry no finer grades).
fn chosen_first_labels(rows: &[EncodedExample]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|e| {
            (0..e.responses.len())
                .map(|i| if i == 0 { 1.0 } else { 0.0 })
                .collect()
        })
        .collect()
}

/// The rows SFT reads: each pair's chosen completion, each desirable unpaired completion.
fn sft_examples(data: &TextData) -> Vec<EncodedExample> {
    match data {
        TextData::Paired(examples) => examples.clone(),
        TextData::Unpaired(examples) => examples
            .iter()
            .filter(|e| e.label)
            .map(|e| EncodedExample::new(e.prompt.clone(), vec![e.completion.clone()]))
            .collect(),
    }
}

impl TextPipeline {
    /// What checkpoints of this run must have been built as.
    /// Parameters the preference stage trains (the adapters with LoRA).
    fn trainable_parameters(&self) -> Result<usize> {
        Ok(match &self.config.lora {
            Some(l) => lora::trainable_params(&lora::attach(self.base.clone(), l)?),
            None => self.base.config.parameter_count(),
        })
    }

    fn description(&self) -> Result<String> {
        Ok(serde_json::to_string(&(
            &self.base.config,
            &self.config.model.checkpoint,
            &self.config.lora,
        ))?)
    }

    /// SFT (when asked) and the model the preference stage starts from, with its reference.
    fn starting_point(
        &self,
        log_dir: &Path,
        checkpoints: Option<&Checkpoints>,
    ) -> Result<(Transformer, Transformer, Option<f64>)> {
        let config = &self.config;
        let initial = match &config.lora {
            Some(l) => lora::attach(self.base.clone(), l)?,
            None => self.base.clone(),
        };
        let (start, sft_seconds) = if config.text.sft_first {
            let begin = Instant::now();
            let examples = sft_examples(&self.train);
            let sft_config = with_evaluation(&config.sft, examples.len(), config.seed);
            let sft_config = TrainConfig {
                eval_every: None,
                ..with_log(&sft_config, Some(log_dir), "sft")?
            };
            let sft_config = Checkpoints::apply(checkpoints, &sft_config, "sft");
            eprintln!(
                "SFT: {} epochs on {} completions",
                sft_config.epochs,
                examples.len()
            );
            let task = SftTask {
                examples: &examples,
                pad: self.pad(),
            };
            let outcome = train(initial, &task, &sft_config, &self.description()?, None)?;
            (outcome.last, Some(begin.elapsed().as_secs_f64()))
        } else {
            (initial, None)
        };
        // With LoRA the reference is the policy with its adapter off (after SFT: the merged
        // SFT model, with a fresh adapter on top); without, a frozen copy.
        Ok(match &config.lora {
            Some(l) => {
                let policy = if sft_seconds.is_some() {
                    lora::restart(start, l)?
                } else {
                    start
                };
                let reference = policy.without_adapters().valid();
                (policy, reference, sft_seconds)
            }
            None => {
                let reference = start.clone().valid();
                (start, reference, sft_seconds)
            }
        })
    }

    /// Trains the preference stage; `log_dir` receives the JSONL logs, `checkpoints` (when
    /// given) the stages' checkpoints, from which a resumed command continues.
    pub fn train(&self, log_dir: &Path, checkpoints: Option<&Checkpoints>) -> Result<Trained> {
        let config = &self.config;
        let (policy, reference, sft_seconds) = self.starting_point(log_dir, checkpoints)?;
        let batch = config.eval.batch_size;
        let pad = self.pad();
        let train_config = with_evaluation(&config.preference.train, self.train.len(), config.seed);
        let train_config = with_log(&train_config, Some(log_dir), "preference")?;
        let train_config = Checkpoints::apply(checkpoints, &train_config, "preference");
        let description = self.description()?;
        let begin = Instant::now();
        let stage = match (&self.train, &self.eval) {
            (TextData::Paired(train_rows), TextData::Paired(eval_rows)) => {
                let objective = config.preference.objective.check()?;
                let reference_of = |rows: &[EncodedExample]| -> Result<ReferenceLogps> {
                    Ok(match ReferenceLogps::from_examples(rows) {
                        Some(cached) => cached,
                        None => reference_logps(
                            &reference,
                            rows,
                            batch,
                            ScoringMode::SharedPrefix,
                            pad,
                            config.eval.threads,
                        )?,
                    })
                };
                let train_reference = reference_of(train_rows)?;
                let eval_reference = reference_of(eval_rows)?;
                if let ObjectiveConfig::Pdpo(_) = &config.preference.objective {
                    let personal = Personal {
                        pipeline: self,
                        objective: objective.as_ref(),
                        train_rows,
                        eval_rows,
                        train_reference: &train_reference,
                        eval_reference: &eval_reference,
                    };
                    personal.train(policy, &train_config, &description)?
                } else {
                    let inputs = objective.inputs();
                    let embeddings = |rows: &[EncodedExample]| {
                        inputs
                            .prompt_embeddings
                            .is_read()
                            .then(|| prompt_embeddings(&reference, rows, batch, pad))
                            .transpose()
                    };
                    let labels = |rows: &[EncodedExample]| {
                        inputs
                            .list_labels
                            .is_read()
                            .then(|| chosen_first_labels(rows))
                    };
                    let (train_embeddings, eval_embeddings) =
                        (embeddings(train_rows)?, embeddings(eval_rows)?);
                    let (train_labels, eval_labels) = (labels(train_rows), labels(eval_rows));
                    let task = with_extras(
                        PreferenceTask::new(
                            train_rows,
                            objective.as_ref(),
                            Some(&train_reference),
                            pad,
                        ),
                        train_embeddings.as_deref(),
                        train_labels.as_deref(),
                    );
                    let eval_task = with_extras(
                        PreferenceTask::new(
                            eval_rows,
                            objective.as_ref(),
                            Some(&eval_reference),
                            pad,
                        ),
                        eval_embeddings.as_deref(),
                        eval_labels.as_deref(),
                    );
                    let evaluate = |m: &Transformer| evaluate_paired(m, &eval_task, batch, None);
                    run_stage(policy, &task, &evaluate, &train_config, &description)?
                }
            }
            (TextData::Unpaired(train_rows), TextData::Unpaired(eval_rows)) => {
                let ObjectiveConfig::Kto(kto) = &config.preference.objective else {
                    return Err(ExperimentError::Invalid(format!(
                        "`{}` trains on pairs; these rows are unpaired",
                        config.preference.objective.name()
                    )));
                };
                let objective = kto.check()?;
                let block = config.preference.train.batch_size;
                if block < 2 && kto.loss_type == prefopt_objectives::kto::KtoLossType::Kto {
                    return Err(ExperimentError::Invalid(
                        "KTO needs preference.train.batch_size of at least 2: its KL estimate \
                         pairs each row with another row's completion in the batch"
                            .into(),
                    ));
                }
                let train_config = TrainConfig {
                    shuffle: false,
                    ..train_config.clone()
                };
                let prepare = |rows: &[UnpairedExample]| -> Result<KlPrepared> {
                    let responses = kl_responses(rows, &kl_partners(rows.len(), block));
                    let mut logps = unpaired_reference_logps(
                        &reference,
                        rows,
                        &responses,
                        batch,
                        pad,
                        config.eval.threads,
                    )?;
                    for (row, logp) in rows.iter().zip(&mut logps) {
                        if let Some(cached) = row.reference {
                            logp[0] = cached;
                        }
                    }
                    Ok((responses, logps))
                };
                let (train_responses, train_reference) = prepare(train_rows)?;
                let (eval_responses, eval_reference) = prepare(eval_rows)?;
                let task = UnpairedTask {
                    examples: train_rows,
                    responses: &train_responses,
                    objective: &objective,
                    reference: &train_reference,
                    pad,
                };
                let eval_task = UnpairedTask {
                    examples: eval_rows,
                    responses: &eval_responses,
                    objective: &objective,
                    reference: &eval_reference,
                    pad,
                };
                let evaluate =
                    |m: &Transformer| evaluate_unpaired(m, &eval_task, &objective, batch);
                run_stage(policy, &task, &evaluate, &train_config, &description)?
            }
            _ => {
                return Err(ExperimentError::Invalid(
                    "the training and evaluation splits hold different kinds of rows".into(),
                ));
            }
        };
        Ok(Trained {
            run: stage.run,
            users: stage.users,
            seconds: begin.elapsed().as_secs_f64(),
            sft_seconds,
        })
    }
}

/// [`evaluate_while_training`] of a bare policy.
fn run_stage(
    policy: Transformer,
    task: &(dyn Task<Transformer> + Sync),
    evaluate: &dyn Fn(&Transformer) -> Result<HeldOut>,
    config: &TrainConfig,
    description: &str,
) -> Result<Stage> {
    let run = evaluate_while_training(policy, task, evaluate, config, description)?;
    Ok(Stage { run, users: None })
}

/// `prefopt train` with `[data] train`: trains, then writes into `out` the PEFT adapter
/// (`adapter/`, with LoRA), the merged Hugging Face checkpoint (`policy-hf/`), the logs and the
/// report (`results.md|csv|json`, `config.toml`, curves).
pub fn train_text(config: ExperimentConfig, out: &Path, resume: bool) -> Result<()> {
    let started = Instant::now();
    let revision = git_revision();
    check_writable(out)?;
    let pipeline = TextPipeline::load(config)?;
    eprintln!("{}", pipeline.describe_data());
    check_space(
        out,
        checkpoint_bytes(
            pipeline.base.config.parameter_count(),
            pipeline.trainable_parameters()?,
        ),
        "the checkpoints",
    )?;
    let checkpoints = Checkpoints::open(out, &pipeline.config.to_toml()?, resume)?;
    let trained = pipeline.train(&out.join("logs"), Some(&checkpoints))?;
    let config = &pipeline.config;
    let checkpoint = config.model.checkpoint.clone().unwrap_or_default();
    if let Some(l) = &config.lora {
        lora::save_peft(
            &trained.run.last,
            l,
            &checkpoint.display().to_string(),
            &out.join("adapter"),
        )?;
    }
    prefopt_models::pretrained::save_checkpoint(
        &lora::merge(trained.run.last.clone()),
        &checkpoint,
        &out.join("policy-hf"),
    )?;
    if let Some((users, ids)) = &trained.users {
        // P-DPO's user model (load with `UserModel::load`) and which dataset user each row is.
        users.save(&out.join("users.safetensors"))?;
        let path = out.join("users.json");
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "generic": 0,
            "dataset_user_ids": ids,
        }))?;
        prefopt_data::atomic::write(&path, json + "\n")?;
    }
    let outcome = TextOutcome {
        pipeline: &pipeline,
        trained: &trained,
        revision,
        elapsed: started.elapsed().as_secs_f64(),
    };
    write_report(&outcome, out)?;
    checkpoints.complete()?;
    eprintln!(
        "held-out reward accuracy {:.3} → {:.3}; wrote {}",
        trained.run.before.score(),
        trained.run.after.score(),
        out.display()
    );
    Ok(())
}
