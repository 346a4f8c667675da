//! The P-RLHF experiment (`docs/methods/personal.md` §2): the conflicting-preference task at small
//! scale (a majority of users prefers long responses, a minority short ones, on the same
//! prompts), vanilla DPO against P-DPO with individual and cluster user models at several α
//! and user-token counts. Reports per-group preference accuracy on held-out pairs and the
//! length of generated responses per group.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use prefopt_data::synthetic::ConflictingSpec;
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions, WriteOptions};
use prefopt_eval::stats::mean_ci;
use prefopt_models::ModelError;
use prefopt_models::generate::{GenerateConfig, generate_with_soft_tokens};
use prefopt_models::scoring::{ScoreItem, score};
use prefopt_models::tokenizer::{EncodedExample, Tokenizer};
use prefopt_models::train::{PreferenceTask, Task, TrainConfig, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;
use prefopt_objectives::personal::pdpo::PdpoConfig;
use prefopt_user_models::prlhf::{UserInit, UserModel, UserModelConfig, UserModelKind};
use serde::{Deserialize, Serialize};

use super::PersonalContext;
use super::text_policy::{TextPolicy, correct, describe_policy, reward_margins};
use crate::error::{ExperimentError, Result};
use crate::rec::RecPipeline;
use crate::report::plots::{Bar, bar_chart};
use crate::report::{Row, Section, Table};
use crate::tables::{claim_from_values, mean};

/// Settings of the P-RLHF experiment (`[prlhf]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrlhfSettings {
    /// A folder as `prefopt data generate conflicting` writes it (train/test/users.parquet);
    /// without it, data are generated with the sizes below.
    pub data: Option<PathBuf>,
    pub users: usize,
    pub prompts: usize,
    pub pairs_per_user: usize,
    /// Share of users who prefer short responses (the paper's synthetic task: 0.3).
    pub short_fraction: f64,
    pub short_words: (usize, usize),
    pub long_words: (usize, usize),
    pub label_noise: f64,
    pub test_fraction: f64,
    pub preset: String,
    pub vocab_size: usize,
    pub sft: TrainConfig,
    pub train: TrainConfig,
    pub beta: f64,
    /// α of the P-DPO rows (weight of the personalised term).
    pub alphas: Vec<f64>,
    /// User tokens T_u of the P-DPO rows (at the first α).
    pub user_tokens: Vec<usize>,
    /// Clusters of the cluster-model row (0: no such row).
    pub clusters: usize,
    /// Test prompts generated for, users per group, and the longest response in tokens.
    pub generation_prompts: usize,
    pub generation_users: usize,
    pub max_tokens: usize,
}

impl Default for PrlhfSettings {
    fn default() -> Self {
        Self {
            data: None,
            users: 40,
            prompts: 120,
            pairs_per_user: 40,
            short_fraction: 0.3,
            short_words: (2, 4),
            long_words: (8, 12),
            label_noise: 0.05,
            test_fraction: 0.25,
            preset: "tiny".into(),
            vocab_size: 1000,
            sft: TrainConfig {
                epochs: 3,
                batch_size: 32,
                lr: 3e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            train: TrainConfig {
                epochs: 3,
                batch_size: 32,
                lr: 1e-3,
                warmup_ratio: 0.05,
                ..TrainConfig::default()
            },
            beta: 0.5,
            alphas: vec![0.5, 1.0],
            user_tokens: vec![1, 4],
            clusters: 2,
            generation_prompts: 12,
            generation_users: 3,
            max_tokens: 24,
        }
    }
}

impl PrlhfSettings {
    pub fn check(&self) -> Result<()> {
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(0.0..=1.0).contains(a)) {
            return Err(ExperimentError::Invalid(
                "prlhf.alphas must list values in [0, 1]".into(),
            ));
        }
        if self.user_tokens.is_empty() || self.user_tokens.contains(&0) {
            return Err(ExperimentError::Invalid(
                "prlhf.user_tokens must list counts ≥ 1".into(),
            ));
        }
        if !super::positive(self.beta) || self.max_tokens == 0 {
            return Err(ExperimentError::Invalid(
                "prlhf.beta and prlhf.max_tokens must be positive".into(),
            ));
        }
        self.sft.check()?;
        self.train.check()?;
        Ok(())
    }
}

/// A policy and its user model, trained jointly under P-DPO.
#[derive(Module, Debug)]
pub struct PersonalizedPolicy {
    pub policy: Transformer,
    pub users: UserModel,
}

/// P-DPO's task: every example is scored under its user's soft tokens (user 0, the generic
/// user, for the duplicated copies) and the P-DPO objective mixes the two groups with α.
pub struct PdpoTask<'a> {
    pub inner: PreferenceTask<'a>,
}

fn user_ids(examples: &[EncodedExample], indices: &[usize]) -> Vec<usize> {
    indices
        .iter()
        .map(|&i| examples[i].user.unwrap_or(0).max(0) as usize)
        .collect()
}

impl Task<PersonalizedPolicy> for PdpoTask<'_> {
    fn len(&self) -> usize {
        self.inner.examples.len()
    }

    fn loss(
        &self,
        model: &PersonalizedPolicy,
        indices: &[usize],
    ) -> prefopt_models::Result<(Tensor<1>, Vec<(String, f64)>)> {
        let examples = self.inner.examples;
        let soft = model
            .users
            .embeddings(&user_ids(examples, indices))
            .map_err(|e| ModelError::external("user embeddings", e))?;
        let items: Vec<ScoreItem<'_>> = indices
            .iter()
            .map(|&i| ScoreItem::of(&examples[i]))
            .collect();
        let scores = score(
            &model.policy,
            &items,
            self.inner.mode,
            Some(soft),
            self.inner.pad,
        )?;
        let input = self.inner.logps(&scores, indices)?;
        let output = self.inner.objective.compute(&input)?;
        Ok((output.loss.clone(), output.metrics().values))
    }
}

/// The generated (or given) data: records with P-RLHF user ids (known users 1..=U), and
/// which users prefer short responses.
struct Conflicting {
    train: Vec<PreferenceRecord>,
    test: Vec<PreferenceRecord>,
    /// Index `u` (1-based user id): prefers short responses.
    prefers_short: Vec<bool>,
    dir: PathBuf,
}

fn read_records(path: &std::path::Path) -> Result<Vec<PreferenceRecord>> {
    Ok(PreferenceDataset::open(path)?
        .read_all(ReadOptions::default())?
        .0)
}

fn load(context: &PersonalContext<'_>, settings: &PrlhfSettings) -> Result<Conflicting> {
    let dir = match &settings.data {
        Some(dir) => dir.clone(),
        None => {
            let spec = ConflictingSpec {
                users: settings.users,
                prompts: settings.prompts,
                pairs_per_user: settings.pairs_per_user,
                short_fraction: settings.short_fraction,
                short_words: settings.short_words,
                long_words: settings.long_words,
                label_noise: settings.label_noise,
                test_fraction: settings.test_fraction,
                seed: context.config.seed,
            };
            let dir = context.out.join("data").join("prlhf");
            std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
            spec.generate()?.write(&dir, &WriteOptions::default())?;
            dir
        }
    };
    let groups = prefopt_data::vectors::read_vectors(
        &dir.join("users.parquet"),
        Some("user_id"),
        &["prefers_short"],
    )?;
    // The generator numbers users from 0; P-RLHF keeps 0 for the generic user, so known user
    // `u` of the files is user `u + 1` here.
    let ids = groups.ids.unwrap_or_default();
    if let Some(&bad) = ids.iter().find(|&&id| id < 0) {
        return Err(ExperimentError::Invalid(format!(
            "{}: user_id {bad} in users.parquet is negative",
            dir.display()
        )));
    }
    let mut prefers_short = vec![false; ids.iter().copied().max().unwrap_or(0) as usize + 2];
    let mut listed = vec![false; prefers_short.len()];
    for (row, &id) in ids.iter().enumerate() {
        prefers_short[id as usize + 1] = groups.columns[0].row(row)[0] > 0.5;
        listed[id as usize + 1] = true;
    }
    let shift = |file: &str, mut records: Vec<PreferenceRecord>| -> Result<Vec<PreferenceRecord>> {
        for (row, record) in records.iter_mut().enumerate() {
            let user = record
                .user_id
                .filter(|&u| u >= 0 && listed.get(u as usize + 1) == Some(&true));
            let Some(user) = user else {
                return Err(ExperimentError::Invalid(format!(
                    "{}: row {row} has user_id {:?}, which users.parquet does not list",
                    dir.join(file).display(),
                    record.user_id
                )));
            };
            record.user_id = Some(user + 1);
        }
        Ok(records)
    };
    Ok(Conflicting {
        train: shift("train.parquet", read_records(&dir.join("train.parquet"))?)?,
        test: shift("test.parquet", read_records(&dir.join("test.parquet"))?)?,
        prefers_short,
        dir,
    })
}

/// One trained method and its evaluation.
struct Evaluated {
    method: String,
    settings: String,
    /// Per test example: correct under the user's own soft tokens (or none).
    correct: Vec<f64>,
    /// Per test example: correct under the generic user 0 (P-DPO only).
    generic: Option<Vec<f64>>,
    /// Per generation prompt: mean generated words of long- and short-group users.
    words: (Vec<f64>, Vec<f64>),
    /// Cluster models: mean softmax weight on cluster 0 of long- and short-group users.
    cluster_weight: Option<(f64, f64)>,
    seconds: f64,
}

struct Experiment<'a> {
    context: &'a PersonalContext<'a>,
    settings: &'a PrlhfSettings,
    policy: TextPolicy,
    data: Conflicting,
    train: Vec<EncodedExample>,
    test: Vec<EncodedExample>,
    sft: Transformer,
    train_reference: Vec<Vec<f64>>,
    test_reference: Vec<Vec<f64>>,
    /// Users per group whose generations are measured.
    generation_users: (Vec<usize>, Vec<usize>),
    generation_prompts: Vec<usize>,
}

pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let settings = &context.config.prlhf;
    settings.check()?;
    let data = load(context, settings)?;
    let short_users = data.prefers_short.iter().skip(1).filter(|s| **s).count();
    if short_users == 0 || short_users + 1 == data.prefers_short.len() {
        return Err(ExperimentError::Invalid(format!(
            "{}: P-RLHF compares two groups, but all {} users are in one (raise users or move \
             short_fraction away from 0 and 1)",
            data.dir.display(),
            data.prefers_short.len() - 1
        )));
    }
    let policy = TextPolicy::new(
        context.config,
        &data.train,
        settings.vocab_size,
        &settings.preset,
    )?;
    let train = policy.encode(&data.train)?;
    let test = policy.encode(&data.test)?;
    let logs = context.out.join("logs");
    let (sft, sft_seconds) = policy.sft(
        &train,
        &settings.sft,
        context.config.seed,
        &logs,
        "prlhf-sft",
    )?;
    eprintln!(
        "  P-RLHF SFT on {} chosen responses ({sft_seconds:.1} s)",
        train.len()
    );
    let none = |_: &[usize]| Ok(None);
    let train_reference = policy.logps(&sft, &train, 64, &none)?;
    let test_reference = policy.logps(&sft, &test, 64, &none)?;
    let users_of = |short: bool| -> Vec<usize> {
        (1..data.prefers_short.len())
            .filter(|&u| data.prefers_short[u] == short)
            .take(settings.generation_users)
            .collect()
    };
    let generation_users = (users_of(false), users_of(true));
    let mut seen_prompts = std::collections::BTreeSet::new();
    let generation_prompts: Vec<usize> = (0..test.len())
        .filter(|&i| seen_prompts.insert(data.test[i].prompt.clone()))
        .take(settings.generation_prompts)
        .collect();
    let experiment = Experiment {
        context,
        settings,
        policy,
        data,
        train,
        test,
        sft,
        train_reference,
        test_reference,
        generation_users,
        generation_prompts,
    };
    experiment.report()
}

impl Experiment<'_> {
    fn groups(&self) -> (Vec<usize>, Vec<usize>) {
        let short = |i: &usize| {
            let user = self.test[*i].user.unwrap_or(0).max(0) as usize;
            self.data.prefers_short.get(user).copied().unwrap_or(false)
        };
        let all: Vec<usize> = (0..self.test.len()).collect();
        let (short_rows, long_rows): (Vec<usize>, Vec<usize>) = all.into_iter().partition(short);
        (long_rows, short_rows)
    }

    fn train_config(&self, name: &str) -> Result<TrainConfig> {
        let mut config = RecPipeline::log_config(
            &self.settings.train,
            Some(&self.context.out.join("logs")),
            name,
        )?;
        config.seed ^= self.context.config.seed;
        Ok(config)
    }

    /// Mean generated words of each group's users, per generation prompt.
    fn generated_words(
        &self,
        policy: &Transformer,
        soft_tokens: &dyn Fn(usize) -> Result<Option<Tensor<2>>>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let special = self.policy.tokenizer.special();
        let config = GenerateConfig {
            beams: 1,
            max_tokens: self.settings.max_tokens,
            ..GenerateConfig::default()
        };
        let per_group = |users: &[usize]| -> Result<Vec<f64>> {
            self.generation_prompts
                .iter()
                .map(|&i| {
                    let mut words = 0.0;
                    for &user in users {
                        let out = generate_with_soft_tokens(
                            policy,
                            &self.test[i].prompt,
                            soft_tokens(user)?,
                            &config,
                            None,
                            special.eos,
                            special.pad,
                        )?;
                        let tokens = out.first().map_or(&[][..], |g| &g.tokens[..]);
                        let text = self.policy.tokenizer.decode_response(tokens)?.text;
                        words += text.split_whitespace().count() as f64;
                    }
                    Ok(words / users.len().max(1) as f64)
                })
                .collect()
        };
        Ok((
            per_group(&self.generation_users.0)?,
            per_group(&self.generation_users.1)?,
        ))
    }

    fn dpo(&self) -> Result<Evaluated> {
        let start = Instant::now();
        let objective = ObjectiveConfig::from_name("dpo")?
            .with_beta(self.settings.beta)
            .check()?;
        let reference = prefopt_models::train::ReferenceLogps(self.train_reference.clone());
        let task = PreferenceTask::new(
            &self.train,
            objective.as_ref(),
            Some(&reference),
            self.policy.pad(),
        );
        let config = self.train_config("prlhf-dpo")?;
        let outcome = train(
            self.policy.preference_start(&self.sft)?,
            &task,
            &config,
            &self.policy.description()?,
            None,
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let model = outcome.model.valid();
        let none = |_: &[usize]| Ok(None);
        let logps = self.policy.logps(&model, &self.test, 64, &none)?;
        let correct = correct(&reward_margins(
            &logps,
            &self.test_reference,
            self.settings.beta,
        ));
        let words = self.generated_words(&model, &|_| Ok(None))?;
        Ok(Evaluated {
            method: "DPO".into(),
            settings: format!("β {}, no user tokens", self.settings.beta),
            correct,
            generic: None,
            words,
            cluster_weight: None,
            seconds,
        })
    }

    fn pdpo(&self, kind: UserModelKind, tokens: usize, alpha: f64) -> Result<Evaluated> {
        let start = Instant::now();
        let seed = self.context.config.seed;
        let n_users = self.data.prefers_short.len() - 1;
        let user_config = UserModelConfig {
            kind,
            n_users,
            n_tokens: tokens,
            dim: self.policy.model_config.d_model,
        };
        let vocabulary = self.sft.embedding_matrix().val();
        let init = if vocabulary.dims()[0] >= (n_users + 1) * tokens {
            UserInit::FromVocabulary(&vocabulary)
        } else {
            UserInit::Uniform
        };
        let users = UserModel::new(&user_config, init, seed, &self.policy.device)?;
        // Every comparison once under its user and once under the generic user 0, as the
        // official trainer duplicates its data.
        let mut examples = self.train.clone();
        examples.extend(self.train.iter().map(|e| EncodedExample {
            user: Some(0),
            ..e.clone()
        }));
        let reference = prefopt_models::train::ReferenceLogps(
            self.train_reference
                .iter()
                .chain(&self.train_reference)
                .cloned()
                .collect(),
        );
        let objective = ObjectiveConfig::Pdpo(PdpoConfig {
            beta: self.settings.beta,
            alpha,
            ..PdpoConfig::default()
        })
        .check()?;
        let task = PdpoTask {
            inner: PreferenceTask::new(
                &examples,
                objective.as_ref(),
                Some(&reference),
                self.policy.pad(),
            ),
        };
        let kind_name = match kind {
            UserModelKind::Individual { .. } => "individual".to_string(),
            UserModelKind::Cluster { n_clusters } => format!("cluster {n_clusters}"),
        };
        let name = format!(
            "prlhf-pdpo-{}-t{tokens}-a{alpha}",
            kind_name.replace(' ', "")
        );
        let config = self.train_config(&name)?;
        let model = PersonalizedPolicy {
            policy: self.policy.preference_start(&self.sft)?,
            users,
        };
        let description = format!(
            "{}+{}",
            self.policy.description()?,
            serde_json::to_string(&user_config)
                .map_err(|e| ExperimentError::Invalid(e.to_string()))?
        );
        let outcome = train(model, &task, &config, &description, None)?;
        let seconds = start.elapsed().as_secs_f64();
        let model = outcome.model.valid();
        model.users.save(
            &self
                .context
                .out
                .join("logs")
                .join(format!("{name}.users.safetensors")),
        )?;
        let soft = |ids: Vec<usize>| -> Result<Option<Tensor<3>>> {
            Ok(Some(model.users.embeddings(&ids)?))
        };
        let own = |chunk: &[usize]| soft(user_ids(&self.test, chunk));
        let generic = |chunk: &[usize]| soft(vec![0; chunk.len()]);
        let beta = self.settings.beta;
        let own_logps = self.policy.logps(&model.policy, &self.test, 64, &own)?;
        let generic_logps = self.policy.logps(&model.policy, &self.test, 64, &generic)?;
        let words = self.generated_words(&model.policy, &|user| {
            let tokens = model.users.embeddings(&[user])?;
            let [_, t, d] = tokens.dims();
            Ok(Some(tokens.reshape([t, d])))
        })?;
        let cluster_weight = match model
            .users
            .cluster_weights(&(1..=n_users).collect::<Vec<_>>())?
        {
            Some(weights) => {
                let values: Vec<f64> = weights
                    .into_data()
                    .convert::<f64>()
                    .try_to_vec()
                    .map_err(|e| ModelError::device_read("cluster weights", e))?;
                let width = values.len() / n_users;
                let group_mean = |short: bool| {
                    let picked: Vec<f64> = (1..=n_users)
                        .filter(|&u| self.data.prefers_short[u] == short)
                        .map(|u| values[(u - 1) * width])
                        .collect();
                    mean(&picked)
                };
                Some((group_mean(false), group_mean(true)))
            }
            None => None,
        };
        Ok(Evaluated {
            method: format!("P-DPO {kind_name}"),
            settings: format!("α {alpha}, T_u {tokens}"),
            correct: correct(&reward_margins(&own_logps, &self.test_reference, beta)),
            generic: Some(correct(&reward_margins(
                &generic_logps,
                &self.test_reference,
                beta,
            ))),
            words,
            cluster_weight,
            seconds,
        })
    }

    fn report(&self) -> Result<Section> {
        let settings = self.settings;
        let individual = UserModelKind::Individual {
            add_generic_user: true,
        };
        let mut runs = vec![self.dpo()?];
        let first_alpha = settings.alphas[0];
        for &tokens in &settings.user_tokens {
            runs.push(self.pdpo(individual, tokens, first_alpha)?);
        }
        for &alpha in &settings.alphas[1..] {
            runs.push(self.pdpo(individual, settings.user_tokens[0], alpha)?);
        }
        if settings.clusters > 0 {
            runs.push(self.pdpo(
                UserModelKind::Cluster {
                    n_clusters: settings.clusters,
                },
                settings.user_tokens[0],
                first_alpha,
            )?);
        }
        for run in &runs {
            eprintln!(
                "  {:<28} {:<16} acc {:.3} ({:.1} s)",
                run.method,
                run.settings,
                mean(&run.correct),
                run.seconds
            );
        }
        let (long_rows, short_rows) = self.groups();
        let pick = |values: &[f64], rows: &[usize]| -> Vec<f64> {
            rows.iter().map(|&i| values[i]).collect()
        };
        let columns = [
            "acc long group",
            "acc short group",
            "acc all",
            "as user 0: long",
            "as user 0: short",
            "words long users",
            "words short users",
            "train s",
        ];
        let dpo = &runs[0];
        let mut rows = Vec::new();
        for run in &runs {
            let mut metrics = BTreeMap::new();
            metrics.insert(
                columns[0].to_string(),
                mean_ci(&pick(&run.correct, &long_rows))?,
            );
            metrics.insert(
                columns[1].to_string(),
                mean_ci(&pick(&run.correct, &short_rows))?,
            );
            metrics.insert(columns[2].to_string(), mean_ci(&run.correct)?);
            if let Some(generic) = &run.generic {
                metrics.insert(columns[3].to_string(), mean_ci(&pick(generic, &long_rows))?);
                metrics.insert(
                    columns[4].to_string(),
                    mean_ci(&pick(generic, &short_rows))?,
                );
            }
            metrics.insert(columns[5].to_string(), mean_ci(&run.words.0)?);
            metrics.insert(columns[6].to_string(), mean_ci(&run.words.1)?);
            rows.push(Row {
                method: run.method.clone(),
                settings: run.settings.clone(),
                metrics,
                values: BTreeMap::from([(columns[7].to_string(), run.seconds)]),
                versus_baseline: if run.method == "DPO" {
                    None
                } else {
                    Some(prefopt_eval::stats::paired_test(
                        &run.correct,
                        &dpo.correct,
                    )?)
                },
            });
        }
        let table = Table {
            id: "prlhf".into(),
            title: "P-RLHF: preference accuracy on held-out pairs per user group, and generated \
                    length per group"
                .into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            baseline: "DPO".into(),
            compared: "acc all".into(),
            rows,
        };
        let main = &runs[1];
        let half = |n: usize| vec![0.5; n];
        let mut claims = vec![
            claim_from_values(
                "vanilla DPO follows the majority: the minority (short) group's accuracy is below ½",
                &half(short_rows.len()),
                &pick(&dpo.correct, &short_rows),
                "½",
                "DPO, short group",
                "accuracy",
                false,
            )?,
            claim_from_values(
                "P-DPO serves the minority group better than DPO",
                &pick(&main.correct, &short_rows),
                &pick(&dpo.correct, &short_rows),
                &format!("{} ({})", main.method, main.settings),
                "DPO",
                "short-group accuracy",
                false,
            )?,
            claim_from_values(
                "one personalized model serves both groups: minority accuracy above ½",
                &pick(&main.correct, &short_rows),
                &half(short_rows.len()),
                &format!("{}, short group", main.method),
                "½",
                "accuracy",
                false,
            )?,
            claim_from_values(
                "P-DPO keeps the majority group's accuracy above ½",
                &pick(&main.correct, &long_rows),
                &half(long_rows.len()),
                &format!("{}, long group", main.method),
                "½",
                "accuracy",
                false,
            )?,
            claim_from_values(
                "generation length follows the user: long-group users get longer responses",
                &main.words.0,
                &main.words.1,
                "long-group users",
                "short-group users",
                "generated words per prompt",
                false,
            )?,
        ];
        if let Some(generic) = &main.generic {
            claims.push(claim_from_values(
                "the generic user 0 behaves like the majority (long group above ½)",
                &pick(generic, &long_rows),
                &half(long_rows.len()),
                "user 0, long-group pairs",
                "½",
                "accuracy",
                false,
            )?);
        }
        let mut paragraphs = vec![format!(
            "Data: `{}` ({} train / {} test pairs; {} users, {} preferring short responses). \
             Policy: {} ({} tokens), SFT on the chosen \
             responses, which is also the reference (no user tokens, as in the official code). \
             P-DPO trains the policy and the user model jointly; every comparison appears once \
             under its user and once under the generic user 0 (`docs/methods/personal.md` §2a). \
             Accuracy is the implicit reward's order, 1[β·(lc − lr) > 0], per held-out pair, \
             under the user's own soft tokens (\"as user 0\": under the generic user's). \
             Generated words: greedy responses to {} test prompts for {} users of each group.",
            self.data.dir.display(),
            self.train.len(),
            self.test.len(),
            self.data.prefers_short.len() - 1,
            self.data.prefers_short.iter().filter(|s| **s).count(),
            describe_policy(self.context.config, &settings.preset),
            self.policy.tokenizer.vocab_size(),
            self.generation_prompts.len(),
            settings.generation_users
        )];
        for run in &runs {
            if let Some((long, short)) = run.cluster_weight {
                paragraphs.push(format!(
                    "{} ({}): mean softmax weight on cluster 0 is {long:.3} for long-group users \
                     and {short:.3} for short-group users (a gap means the clusters separate the \
                     groups).",
                    run.method, run.settings
                ));
            }
        }
        let bars: Vec<Bar> = runs
            .iter()
            .flat_map(|run| {
                [("long", &long_rows), ("short", &short_rows)].map(|(group, rows)| {
                    mean_ci(&pick(&run.correct, rows))
                        .map(|m| Bar::of(format!("{} {} / {group}", run.method, run.settings), &m))
                })
            })
            .collect::<std::result::Result<_, _>>()?;
        let plot = bar_chart(
            self.context.out,
            "prlhf_accuracy.svg",
            "P-RLHF: held-out accuracy per user group",
            "accuracy",
            &bars,
            "held-out preference accuracy per group, DPO vs P-DPO",
        )?;
        Ok(Section {
            heading: "P-RLHF / P-DPO: personalized DPO with user models (arXiv 2402.05133)".into(),
            paragraphs,
            table,
            extra_tables: Vec::new(),
            claims,
            plots: vec![plot],
        })
    }
}
