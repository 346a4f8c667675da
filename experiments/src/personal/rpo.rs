//! The RPO experiment (`docs/methods/personal.md` §1): DPO against RPO paired (embedding-weighted
//! and uniform), unpaired and diagonal, over several τ and micro-batch sizes, on generated
//! prompts that come in families (so cross-prompt contrasts within a family carry signal);
//! held-out preference accuracy and reward margins on new prompts of the same families; and the
//! effective-β shrinkage of the paired weights (the diagonal weight against the batch size).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Bool, DType, Tensor, TensorData};
use prefopt_data::synthetic::PromptFamilySpec;
use prefopt_data::vectors::{PROMPT_EMBEDDING, read_vectors};
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions, WriteOptions};
use prefopt_eval::stats::{mean_ci, paired_test};
use prefopt_models::ModelError;
use prefopt_models::scoring::{ScoreItem, ScoringMode, score};
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::{PreferenceTask, ReferenceLogps, Task, TrainConfig, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;
use prefopt_objectives::kto::UnpairedLogps;
use prefopt_objectives::personal::rpo::{Rpo, RpoConfig, RpoVariant};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::PersonalContext;
use super::text_policy::{TextPolicy, correct, describe_policy, reward_margins};
use crate::error::{ExperimentError, Result};
use crate::rec::RecPipeline;
use crate::report::plots::{Series, line_plot};
use crate::report::{Plot, Row, Section, Table};
use crate::tables::{claim_from_values, mean};

/// Where RPO's prompt embeddings come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingSource {
    /// The dataset's `prompt_embedding` column (a sentence encoder's output in the paper).
    Dataset,
    /// The SFT policy's mean hidden state over the prompt tokens.
    Policy,
}

/// Settings of the RPO experiment (`[rpo]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpoSettings {
    /// A folder with `train.parquet` / `test.parquet` carrying `prompt_embedding`; without it,
    /// prompt families are generated with the sizes below.
    pub data: Option<PathBuf>,
    pub families: usize,
    pub prompts_per_family: usize,
    pub pairs_per_prompt: usize,
    pub preset: String,
    pub vocab_size: usize,
    pub sft: TrainConfig,
    /// Preference training (its `batch_size` is the main micro-batch B).
    pub train: TrainConfig,
    pub beta: f64,
    /// τ of the paired runs (the first is the main one).
    pub temperatures: Vec<f64>,
    /// Micro-batch sizes of the batch sweep (paired RPO and DPO).
    pub batch_sizes: Vec<usize>,
    /// γ of the diagonal variant.
    pub diagonal_weight: f64,
    pub embeddings: EmbeddingSource,
}

impl Default for RpoSettings {
    fn default() -> Self {
        Self {
            data: None,
            families: 10,
            prompts_per_family: 20,
            pairs_per_prompt: 3,
            preset: "tiny".into(),
            vocab_size: 600,
            sft: TrainConfig {
                epochs: 3,
                batch_size: 16,
                lr: 3e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            train: TrainConfig {
                epochs: 4,
                batch_size: 8,
                lr: 1e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            beta: 0.1,
            temperatures: vec![0.5, 0.1, 5.0],
            batch_sizes: vec![2, 16],
            diagonal_weight: 0.8,
            embeddings: EmbeddingSource::Dataset,
        }
    }
}

impl RpoSettings {
    pub fn check(&self) -> Result<()> {
        if self.temperatures.is_empty() || self.temperatures.iter().any(|&t| !super::positive(t)) {
            return Err(ExperimentError::Invalid(
                "rpo.temperatures must list values > 0".into(),
            ));
        }
        if self.batch_sizes.contains(&0) || !super::positive(self.beta) {
            return Err(ExperimentError::Invalid(
                "rpo.batch_sizes must be ≥ 1 and rpo.beta > 0".into(),
            ));
        }
        self.sft.check()?;
        self.train.check()?;
        Ok(())
    }
}

/// Unpaired RPO: single (prompt, response) examples tagged chosen or rejected, batched as they
/// come (so a batch's chosen and rejected responses mostly belong to different prompts). A
/// batch without both sides has a loss of 0 (the official trainer's constant), detached so the
/// trainer skips it rather than stepping the optimizer on zero gradients.
pub struct UnpairedRpoTask<'a> {
    /// One response per example.
    pub examples: &'a [EncodedExample],
    pub desirable: &'a [bool],
    pub reference: &'a [f64],
    pub embeddings: &'a [Vec<f64>],
    pub objective: Rpo,
    pub pad: u32,
}

impl Task<Transformer> for UnpairedRpoTask<'_> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    fn loss(
        &self,
        model: &Transformer,
        indices: &[usize],
    ) -> prefopt_models::Result<(Tensor<1>, Vec<(String, f64)>)> {
        let items: Vec<ScoreItem<'_>> = indices
            .iter()
            .map(|&i| ScoreItem::of(&self.examples[i]))
            .collect();
        let scores = score(model, &items, ScoringMode::SharedPrefix, None, self.pad)?;
        let n = indices.len();
        let device = scores.logps.device();
        let dtype = scores.logps.dtype();
        let floats = |values: Vec<f64>, shape: [usize; 2]| {
            Tensor::<2>::from_data(TensorData::new(values, shape), (&device, DType::F64))
                .cast(dtype)
        };
        let width = self.embeddings.first().map_or(0, Vec::len);
        let desirable: Vec<bool> = indices.iter().map(|&i| self.desirable[i]).collect();
        let one_sided = desirable.iter().all(|&d| d) || !desirable.iter().any(|&d| d);
        let input = UnpairedLogps {
            policy: scores.logps.narrow(1, 0, 1).reshape([n]),
            reference: floats(indices.iter().map(|&i| self.reference[i]).collect(), [n, 1])
                .reshape([n]),
            desirable: Tensor::<1, Bool>::from_data(TensorData::new(desirable, [n]), &device),
            prompt_embeddings: Some(floats(
                indices
                    .iter()
                    .flat_map(|&i| self.embeddings[i].iter().copied())
                    .collect(),
                [n, width],
            )),
            kl_policy: None,
            kl_reference: None,
        };
        let output = self
            .objective
            .compute_unpaired(&input)
            .map_err(ModelError::from)?;
        // The objective's 0 for a one-sided batch stays attached to the graph (zero gradients);
        // detached, the trainer skips the batch instead of taking an optimizer step on zeros.
        let loss = if one_sided {
            output.loss.detach()
        } else {
            output.loss
        };
        Ok((loss, Vec::new()))
    }
}

struct Split {
    records: Vec<PreferenceRecord>,
    embeddings: Vec<Vec<f64>>,
}

fn read_split(path: &std::path::Path) -> Result<Split> {
    let (records, _) = PreferenceDataset::open(path)?.read_all(ReadOptions::default())?;
    let table = read_vectors(path, None, &[PROMPT_EMBEDDING])?;
    let column = &table.columns[0];
    let embeddings = (0..column.rows()).map(|r| column.row(r).to_vec()).collect();
    Ok(Split {
        records,
        embeddings,
    })
}

/// One trained method and its held-out numbers.
struct Evaluated {
    method: String,
    settings: String,
    correct: Vec<f64>,
    margins: Vec<f64>,
    seconds: f64,
}

struct Experiment<'a> {
    context: &'a PersonalContext<'a>,
    settings: &'a RpoSettings,
    policy: TextPolicy,
    train: Vec<EncodedExample>,
    test: Vec<EncodedExample>,
    train_embeddings: Vec<Vec<f64>>,
    sft: Transformer,
    train_reference: Vec<Vec<f64>>,
    test_reference: Vec<Vec<f64>>,
    dir: PathBuf,
}

pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let settings = &context.config.rpo;
    settings.check()?;
    let dir = match &settings.data {
        Some(dir) => dir.clone(),
        None => {
            let spec = PromptFamilySpec {
                families: settings.families,
                prompts_per_family: settings.prompts_per_family,
                pairs_per_prompt: settings.pairs_per_prompt,
                seed: context.config.seed,
                ..PromptFamilySpec::default()
            };
            let dir = context.out.join("data").join("rpo");
            spec.generate()?.write(&dir, &WriteOptions::default())?;
            dir
        }
    };
    let (train_split, test_split) = (
        read_split(&dir.join("train.parquet"))?,
        read_split(&dir.join("test.parquet"))?,
    );
    let policy = TextPolicy::new(
        context.config,
        &train_split.records,
        settings.vocab_size,
        &settings.preset,
    )?;
    let train = policy.encode(&train_split.records)?;
    let test = policy.encode(&test_split.records)?;
    let (sft, sft_seconds) = policy.sft(
        &train,
        &settings.sft,
        context.config.seed,
        &context.out.join("logs"),
        "rpo-sft",
    )?;
    eprintln!(
        "  RPO SFT on {} chosen responses ({sft_seconds:.1} s)",
        train.len()
    );
    let train_embeddings = match settings.embeddings {
        EmbeddingSource::Dataset => train_split.embeddings,
        EmbeddingSource::Policy => {
            let prompts: Vec<&[u32]> = train.iter().map(|e| e.prompt.as_slice()).collect();
            sft.clone()
                .valid()
                .mean_prompt_states(&prompts, policy.pad())?
        }
    };
    let none = |_: &[usize]| Ok(None);
    let train_reference = policy.logps(&sft, &train, 64, &none)?;
    let test_reference = policy.logps(&sft, &test, 64, &none)?;
    Experiment {
        context,
        settings,
        policy,
        train,
        test,
        train_embeddings,
        sft,
        train_reference,
        test_reference,
        dir,
    }
    .report()
}

impl Experiment<'_> {
    fn evaluate(&self, model: &Transformer) -> Result<(Vec<f64>, Vec<f64>)> {
        let none = |_: &[usize]| Ok(None);
        let logps = self.policy.logps(model, &self.test, 64, &none)?;
        let margins = reward_margins(&logps, &self.test_reference, self.settings.beta);
        Ok((correct(&margins), margins))
    }

    fn config(&self, name: &str, batch_size: usize) -> Result<TrainConfig> {
        let mut config = RecPipeline::log_config(
            &TrainConfig {
                batch_size,
                ..self.settings.train.clone()
            },
            Some(&self.context.out.join("logs")),
            name,
        )?;
        config.seed ^= self.context.config.seed;
        Ok(config)
    }

    /// DPO or a paired / diagonal RPO run at micro-batch `batch_size`.
    fn paired(
        &self,
        method: &str,
        settings: String,
        objective: ObjectiveConfig,
        batch_size: usize,
        embeddings: bool,
    ) -> Result<Evaluated> {
        let start = Instant::now();
        let objective = objective.with_beta(self.settings.beta).check()?;
        let reference = ReferenceLogps(self.train_reference.clone());
        let mut task = PreferenceTask::new(
            &self.train,
            objective.as_ref(),
            Some(&reference),
            self.policy.pad(),
        );
        if embeddings {
            task = task.with_prompt_embeddings(&self.train_embeddings);
        }
        let name = format!("rpo-{method}-{settings}").replace([' ', ',', '=', 'τ', 'γ'], "");
        let config = self.config(&name, batch_size)?;
        let outcome = train(
            self.policy.preference_start(&self.sft)?,
            &task,
            &config,
            &self.policy.description()?,
            None,
        )?;
        let (correct, margins) = self.evaluate(&outcome.model)?;
        Ok(Evaluated {
            method: method.into(),
            settings,
            correct,
            margins,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    fn unpaired(&self, temperature: f64, batch_size: usize) -> Result<Evaluated> {
        let start = Instant::now();
        // Every triplet becomes a chosen and a rejected single example, shuffled together.
        let mut singles: Vec<(EncodedExample, bool, f64, Vec<f64>)> = Vec::new();
        for (i, example) in self.train.iter().enumerate() {
            for (slot, desirable) in [(0, true), (1, false)] {
                singles.push((
                    EncodedExample {
                        responses: vec![example.responses[slot].clone()],
                        ..example.clone()
                    },
                    desirable,
                    self.train_reference[i][slot],
                    self.train_embeddings[i].clone(),
                ));
            }
        }
        singles.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(
            self.context.config.seed,
        ));
        let examples: Vec<EncodedExample> = singles.iter().map(|s| s.0.clone()).collect();
        let desirable: Vec<bool> = singles.iter().map(|s| s.1).collect();
        let reference: Vec<f64> = singles.iter().map(|s| s.2).collect();
        let embeddings: Vec<Vec<f64>> = singles.iter().map(|s| s.3.clone()).collect();
        let task = UnpairedRpoTask {
            examples: &examples,
            desirable: &desirable,
            reference: &reference,
            embeddings: &embeddings,
            objective: RpoConfig {
                variant: RpoVariant::Unpaired,
                beta: self.settings.beta,
                distance_temperature: temperature,
                ..RpoConfig::default()
            }
            .check()?,
            pad: self.policy.pad(),
        };
        // Two singles per triplet: twice the micro-batch keeps the updates per epoch equal.
        let config = self.config(&format!("rpo-unpaired-t{temperature}"), 2 * batch_size)?;
        let outcome = train(
            self.policy.preference_start(&self.sft)?,
            &task,
            &config,
            &self.policy.description()?,
            None,
        )?;
        let (correct, margins) = self.evaluate(&outcome.model)?;
        Ok(Evaluated {
            method: "RPO unpaired".into(),
            settings: format!("τ {temperature}, B {}", 2 * batch_size),
            correct,
            margins,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    fn rpo(&self, variant: RpoVariant, temperature: f64) -> ObjectiveConfig {
        ObjectiveConfig::Rpo(RpoConfig {
            variant,
            distance_temperature: temperature,
            diagonal_weight: self.settings.diagonal_weight,
            ..RpoConfig::default()
        })
    }

    fn report(&self) -> Result<Section> {
        let s = self.settings;
        let b = s.train.batch_size;
        let tau = s.temperatures[0];
        let dpo = || ObjectiveConfig::from_name("dpo");
        let mut runs = vec![
            self.paired("DPO", format!("B {b}"), dpo()?, b, false)?,
            self.paired(
                "RPO paired",
                format!("τ {tau}, B {b}"),
                self.rpo(RpoVariant::Paired, tau),
                b,
                true,
            )?,
            self.paired(
                "RPO uniform",
                format!("no embeddings, B {b}"),
                self.rpo(RpoVariant::Paired, tau),
                b,
                false,
            )?,
            self.paired(
                "RPO diagonal",
                format!("γ {}, B {b}", s.diagonal_weight),
                self.rpo(RpoVariant::Diagonal, tau),
                b,
                false,
            )?,
            self.unpaired(tau, b)?,
        ];
        for &t in &s.temperatures[1..] {
            runs.push(self.paired(
                "RPO paired",
                format!("τ {t}, B {b}"),
                self.rpo(RpoVariant::Paired, t),
                b,
                true,
            )?);
        }
        for &size in &s.batch_sizes {
            runs.push(self.paired("DPO", format!("B {size}"), dpo()?, size, false)?);
            runs.push(self.paired(
                "RPO paired",
                format!("τ {tau}, B {size}"),
                self.rpo(RpoVariant::Paired, tau),
                size,
                true,
            )?);
        }
        for run in &runs {
            eprintln!(
                "  {:<14} {:<22} acc {:.3}, margin {:+.4} ({:.1} s)",
                run.method,
                run.settings,
                mean(&run.correct),
                mean(&run.margins),
                run.seconds
            );
        }
        let columns = ["held-out acc", "reward margin", "train s"];
        let dpo_main = &runs[0];
        let rows = runs
            .iter()
            .map(|run| {
                Ok(Row {
                    method: run.method.clone(),
                    settings: run.settings.clone(),
                    metrics: BTreeMap::from([
                        (columns[0].to_string(), mean_ci(&run.correct)?),
                        (columns[1].to_string(), mean_ci(&run.margins)?),
                    ]),
                    values: BTreeMap::from([(columns[2].to_string(), run.seconds)]),
                    versus_baseline: if std::ptr::eq(run, dpo_main) {
                        None
                    } else {
                        Some(paired_test(&run.correct, &dpo_main.correct)?)
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let table = Table {
            id: "rpo".into(),
            title: "RPO: held-out preference accuracy and reward margin on new prompts of known \
                    families"
                .into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            baseline: format!("DPO (B {b})"),
            compared: "held-out acc".into(),
            rows,
        };
        let find = |method: &str, settings: &str| {
            runs.iter()
                .find(|r| r.method == method && r.settings == settings)
                .ok_or_else(|| ExperimentError::Invalid(format!("no run {method} {settings}")))
        };
        let paired_main = find("RPO paired", &format!("τ {tau}, B {b}"))?;
        let uniform = find("RPO uniform", &format!("no embeddings, B {b}"))?;
        let unpaired = runs
            .iter()
            .find(|r| r.method == "RPO unpaired")
            .expect("the unpaired run is in the list");
        let mut claims = vec![
            claim_from_values(
                "embedding-weighted RPO ≥ DPO (held-out accuracy)",
                &paired_main.correct,
                &dpo_main.correct,
                "RPO paired",
                "DPO",
                "held-out accuracy",
                false,
            )?,
            claim_from_values(
                "embedding weights beat uniform weights",
                &paired_main.correct,
                &uniform.correct,
                "RPO paired",
                "RPO uniform",
                "held-out accuracy",
                false,
            )?,
            claim_from_values(
                "unpaired RPO learns without matched pairs (accuracy above ½)",
                &unpaired.correct,
                &vec![0.5; unpaired.correct.len()],
                "RPO unpaired",
                "½",
                "held-out accuracy",
                false,
            )?,
        ];
        if let (Some(&small), Some(&large)) = (
            s.batch_sizes.iter().min().filter(|&&x| x < b),
            s.batch_sizes.iter().max().filter(|&&x| x > b),
        ) {
            let lead = |size: usize| -> Result<Vec<f64>> {
                let rpo = find("RPO paired", &format!("τ {tau}, B {size}"))?;
                let dpo = find("DPO", &format!("B {size}"))?;
                Ok(rpo
                    .correct
                    .iter()
                    .zip(&dpo.correct)
                    .map(|(r, d)| r - d)
                    .collect())
            };
            claims.push(claim_from_values(
                "RPO's lead over DPO grows with the micro-batch",
                &lead(large)?,
                &lead(small)?,
                &format!("lead at B {large}"),
                &format!("lead at B {small}"),
                "held-out accuracy difference",
                false,
            )?);
        }
        let (shrinkage, shrinkage_plot, shrinkage_claim) = self.effective_beta()?;
        claims.push(shrinkage_claim);
        let paragraphs = vec![format!(
            "Data: `{}` ({} train / {} test pairs; test prompts are new prompts of the training \
             families). Policy: {}, SFT on the chosen \
             responses, which is also the frozen reference. Every run starts from the SFT model \
             with β {} and the same schedule; prompt embeddings: {:?}. Accuracy is \
             1[β·(lc − lr) > 0] per held-out pair; Δ is paired against DPO at B {b}. \
             Unpaired RPO splits every triplet into a chosen and a rejected example and shuffles \
             them, so its micro-batch holds 2B singles.",
            self.dir.display(),
            self.train.len(),
            self.test.len(),
            describe_policy(self.context.config, &s.preset),
            s.beta,
            s.embeddings
        )];
        Ok(Section {
            heading: "RPO: relative preference optimization (arXiv 2402.10958)".into(),
            paragraphs,
            table,
            extra_tables: vec![shrinkage],
            claims,
            plots: vec![shrinkage_plot],
        })
    }

    /// The paired weights' diagonal `w_ii` on random training batches of each size, against the
    /// prediction for unrelated prompts at the batch's mean distance.
    fn effective_beta(&self) -> Result<(Table, Plot, crate::report::Claim)> {
        let s = self.settings;
        let normalised: Vec<Vec<f64>> = self
            .train_embeddings
            .iter()
            .map(|e| {
                let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                e.iter().map(|v| v / norm).collect()
            })
            .collect();
        let distance = |i: usize, j: usize| {
            1.0 - normalised[i]
                .iter()
                .zip(&normalised[j])
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.context.config.seed);
        let sizes = [2usize, 4, 8, 16, 32];
        let mut rows = Vec::new();
        let mut series = Vec::new();
        let mut at_extremes: (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for &tau in &s.temperatures {
            let mut points = Vec::new();
            for &size in sizes.iter().filter(|&&n| n <= self.train.len()) {
                let (mut diagonal, mut predicted) = (Vec::new(), Vec::new());
                for _ in 0..200 {
                    let mut order: Vec<usize> = (0..self.train.len()).collect();
                    order.shuffle(&mut rng);
                    let batch = &order[..size];
                    for &i in batch {
                        let logits: Vec<f64> =
                            batch.iter().map(|&j| -distance(i, j) / tau).collect();
                        let max = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                        let total: f64 = logits.iter().map(|l| (l - max).exp()).sum();
                        diagonal.push((-distance(i, i) / tau - max).exp() / total);
                        let others: Vec<f64> = batch
                            .iter()
                            .filter(|&&j| j != i)
                            .map(|&j| distance(i, j))
                            .collect();
                        let mean_distance = mean(&others);
                        predicted
                            .push(1.0 / (1.0 + (size as f64 - 1.0) * (-mean_distance / tau).exp()));
                    }
                }
                if tau == s.temperatures[0] && size == 2 {
                    at_extremes.0 = diagonal.clone();
                }
                if tau == s.temperatures[0]
                    && size
                        == *sizes
                            .iter()
                            .filter(|&&n| n <= self.train.len())
                            .max()
                            .unwrap_or(&2)
                {
                    at_extremes.1 = diagonal.clone();
                }
                points.push((size as f64, mean(&diagonal)));
                rows.push(Row {
                    method: format!("τ {tau}"),
                    settings: format!("B {size}"),
                    metrics: BTreeMap::from([(
                        "diagonal weight w_ii".to_string(),
                        mean_ci(&diagonal)?,
                    )]),
                    values: BTreeMap::from([
                        ("unrelated-prompt prediction".to_string(), mean(&predicted)),
                        ("1/B".to_string(), 1.0 / size as f64),
                    ]),
                    versus_baseline: None,
                });
            }
            series.push(Series {
                name: format!("τ {tau}"),
                points,
            });
        }
        let table = Table {
            id: "rpo_effective_beta".into(),
            title: "Effective β: the paired weights' diagonal w_ii (the DPO term runs at β·w_ii) \
                    on random training batches"
                .into(),
            columns: vec![
                "diagonal weight w_ii".into(),
                "unrelated-prompt prediction".into(),
                "1/B".into(),
            ],
            baseline: "–".into(),
            compared: String::new(),
            rows,
        };
        let file = "rpo_effective_beta.svg".to_string();
        line_plot(
            &self.context.out.join(&file),
            "RPO: diagonal weight vs micro-batch size",
            "batch size B",
            "w_ii",
            &series,
        )?;
        let n = at_extremes.0.len().min(at_extremes.1.len());
        let claim = claim_from_values(
            "the DPO term's effective β shrinks as the batch grows (w_ii at B 2 > at the largest B)",
            &at_extremes.0[..n],
            &at_extremes.1[..n],
            "B 2",
            "largest B",
            "diagonal weight",
            false,
        )?;
        Ok((
            table,
            Plot {
                file,
                caption: "RPO's diagonal weight against the micro-batch size".into(),
            },
            claim,
        ))
    }
}
