//! Training the rows of the RPO table: the shared SFT policy and reference, DPO, paired,
//! uniform, diagonal and unpaired RPO, and the τ and batch-size sweeps.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::{PreferenceTask, ReferenceLogps, Task, TrainConfig, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;
use prefopt_objectives::personal::rpo::{RpoConfig, RpoVariant};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::data::{data_dir, read_split};
use super::settings::{EmbeddingSource, RpoSettings};
use super::task::UnpairedRpoTask;
use crate::common::mean;
use crate::error::Result;
use crate::personal::PersonalContext;
use crate::personal::text_policy::{TextPolicy, correct, reward_margins};

/// One trained method and its held-out numbers.
pub struct Evaluated {
    pub method: String,
    pub settings: String,
    pub correct: Vec<f64>,
    pub margins: Vec<f64>,
    pub seconds: f64,
}

pub struct Experiment<'a> {
    pub context: &'a PersonalContext<'a>,
    pub settings: &'a RpoSettings,
    pub policy: TextPolicy,
    pub train: Vec<EncodedExample>,
    pub test: Vec<EncodedExample>,
    pub train_embeddings: Vec<Vec<f64>>,
    pub sft: Transformer,
    pub train_reference: Vec<Vec<f64>>,
    pub test_reference: Vec<Vec<f64>>,
    pub dir: PathBuf,
}

impl<'a> Experiment<'a> {
    /// Loads the data, trains the SFT policy (the reference), caches its log-probs and the
    /// training prompts' embeddings.
    pub fn prepare(context: &'a PersonalContext<'a>) -> Result<Self> {
        let settings = &context.config.rpo;
        settings.check()?;
        let dir = data_dir(context, settings)?;
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
        Ok(Experiment {
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
        })
    }
}

impl Experiment<'_> {
    /// Held-out correctness and reward margins of a trained policy.
    fn evaluate(&self, model: &Transformer) -> Result<(Vec<f64>, Vec<f64>)> {
        let none = |_: &[usize]| Ok(None);
        let logps = self.policy.logps(model, &self.test, 64, &none)?;
        let margins = reward_margins(&logps, &self.test_reference, self.settings.beta);
        Ok((correct(&margins), margins))
    }

    /// The preference schedule at micro-batch `batch_size`, logging to `<out>/logs/<name>`.
    fn config(&self, name: &str, batch_size: usize) -> Result<TrainConfig> {
        let settings = TrainConfig {
            batch_size,
            ..self.settings.train.clone()
        };
        self.context.train_config(&settings, name)
    }

    /// Trains a fresh preference start with `task` and evaluates it on the test pairs.
    fn train_and_evaluate(
        &self,
        task: &(impl Task<Transformer> + Sync),
        config: &TrainConfig,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let outcome = train(
            self.policy.preference_start(&self.sft)?,
            task,
            config,
            &self.policy.description()?,
            None,
        )?;
        self.evaluate(&outcome.model)
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
        let (correct, margins) = self.train_and_evaluate(&task, &config)?;
        Ok(Evaluated {
            method: method.into(),
            settings,
            correct,
            margins,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Unpaired RPO on the triplets split into single examples.
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
        let (correct, margins) = self.train_and_evaluate(&task, &config)?;
        Ok(Evaluated {
            method: "RPO unpaired".into(),
            settings: format!("τ {temperature}, B {}", 2 * batch_size),
            correct,
            margins,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// RPO of `variant` at distance temperature `temperature`.
    fn rpo(&self, variant: RpoVariant, temperature: f64) -> ObjectiveConfig {
        ObjectiveConfig::Rpo(RpoConfig {
            variant,
            distance_temperature: temperature,
            diagonal_weight: self.settings.diagonal_weight,
            ..RpoConfig::default()
        })
    }

    /// Every row of the table: the main runs at micro-batch B and the first τ, the τ sweep,
    /// and DPO and paired RPO at each batch size of the sweep.
    pub fn train_all(&self) -> Result<RpoRuns> {
        let s = self.settings;
        let b = s.train.batch_size;
        let tau = s.temperatures[0];
        let dpo = || ObjectiveConfig::from_name("dpo");
        let paired = |t: f64, size: usize| {
            self.paired(
                "RPO paired",
                format!("τ {t}, B {size}"),
                self.rpo(RpoVariant::Paired, t),
                size,
                true,
            )
        };
        let runs = RpoRuns {
            dpo: self.paired("DPO", format!("B {b}"), dpo()?, b, false)?,
            paired: paired(tau, b)?,
            uniform: self.paired(
                "RPO uniform",
                format!("no embeddings, B {b}"),
                self.rpo(RpoVariant::Paired, tau),
                b,
                false,
            )?,
            diagonal: self.paired(
                "RPO diagonal",
                format!("γ {}, B {b}", s.diagonal_weight),
                self.rpo(RpoVariant::Diagonal, tau),
                b,
                false,
            )?,
            unpaired: self.unpaired(tau, b)?,
            temperatures: s.temperatures[1..]
                .iter()
                .map(|&t| paired(t, b))
                .collect::<Result<_>>()?,
            batch_sweep: s
                .batch_sizes
                .iter()
                .map(|&size| {
                    let dpo = self.paired("DPO", format!("B {size}"), dpo()?, size, false)?;
                    Ok(BatchRuns {
                        size,
                        dpo,
                        rpo: paired(tau, size)?,
                    })
                })
                .collect::<Result<_>>()?,
        };
        for run in runs.all() {
            eprintln!(
                "  {:<14} {:<22} acc {:.3}, margin {:+.4} ({:.1} s)",
                run.method,
                run.settings,
                mean(&run.correct),
                mean(&run.margins),
                run.seconds
            );
        }
        Ok(runs)
    }
}

/// DPO and paired RPO at one micro-batch size.
pub struct BatchRuns {
    pub size: usize,
    pub dpo: Evaluated,
    pub rpo: Evaluated,
}

/// The rows of the table by role.
pub struct RpoRuns {
    /// DPO at the main micro-batch B: the baseline.
    pub dpo: Evaluated,
    /// Embedding-weighted paired RPO at the first τ.
    pub paired: Evaluated,
    /// Paired RPO without embeddings (uniform weights).
    pub uniform: Evaluated,
    pub diagonal: Evaluated,
    pub unpaired: Evaluated,
    /// Paired RPO at each further τ.
    pub temperatures: Vec<Evaluated>,
    pub batch_sweep: Vec<BatchRuns>,
}

impl RpoRuns {
    /// Every row in table order.
    pub fn all(&self) -> impl Iterator<Item = &Evaluated> {
        [
            &self.dpo,
            &self.paired,
            &self.uniform,
            &self.diagonal,
            &self.unpaired,
        ]
        .into_iter()
        .chain(&self.temperatures)
        .chain(self.batch_sweep.iter().flat_map(|b| [&b.dpo, &b.rpo]))
    }

    /// The batch-sweep runs at `size` (the first, if the sweep lists it twice).
    pub fn at_batch(&self, size: usize) -> Option<&BatchRuns> {
        self.batch_sweep.iter().find(|b| b.size == size)
    }
}
