//! Training the rows of the P-RLHF table: the shared SFT policy and reference, vanilla DPO,
//! and P-DPO with individual and cluster user models.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use prefopt_models::ModelError;
use prefopt_models::generate::{GenerateConfig, generate_with_soft_tokens};
use prefopt_models::tokenizer::{EncodedExample, Tokenizer};
use prefopt_models::train::{PreferenceTask, ReferenceLogps, TrainConfig, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;
use prefopt_objectives::personal::pdpo::PdpoConfig;
use prefopt_user_models::prlhf::{UserInit, UserModel, UserModelConfig, UserModelKind};

use super::data::{Conflicting, load};
use super::settings::PrlhfSettings;
use super::task::{PdpoTask, PersonalizedPolicy, user_ids};
use crate::common::mean;
use crate::error::{ExperimentError, Result};
use crate::personal::PersonalContext;
use crate::personal::text_policy::{TextPolicy, correct, reward_margins};

/// One trained method and its evaluation.
pub struct Evaluated {
    pub method: String,
    pub settings: String,
    /// Per test example: correct under the user's own soft tokens (or none).
    pub correct: Vec<f64>,
    /// Per test example: correct under the generic user 0 (P-DPO only).
    pub generic: Option<Vec<f64>>,
    /// Per generation prompt: mean generated words of long- and short-group users.
    pub words: (Vec<f64>, Vec<f64>),
    /// Cluster models: mean softmax weight on cluster 0 of long- and short-group users.
    pub cluster_weight: Option<(f64, f64)>,
    pub seconds: f64,
}

pub struct Experiment<'a> {
    pub context: &'a PersonalContext<'a>,
    pub settings: &'a PrlhfSettings,
    pub policy: TextPolicy,
    pub data: Conflicting,
    pub train: Vec<EncodedExample>,
    pub test: Vec<EncodedExample>,
    pub sft: Transformer,
    pub train_reference: Vec<Vec<f64>>,
    pub test_reference: Vec<Vec<f64>>,
    /// Users per group whose generations are measured.
    pub generation_users: (Vec<usize>, Vec<usize>),
    pub generation_prompts: Vec<usize>,
}

impl<'a> Experiment<'a> {
    /// Loads the data, trains the SFT policy (the reference) and caches its log-probs.
    pub fn prepare(context: &'a PersonalContext<'a>) -> Result<Self> {
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
        Ok(Experiment {
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
        })
    }
}

impl Experiment<'_> {
    /// Test rows of the long-preferring and of the short-preferring users.
    pub fn groups(&self) -> (Vec<usize>, Vec<usize>) {
        let short = |i: &usize| {
            let user = self.test[*i].user.unwrap_or(0).max(0) as usize;
            self.data.prefers_short.get(user).copied().unwrap_or(false)
        };
        let all: Vec<usize> = (0..self.test.len()).collect();
        let (short_rows, long_rows): (Vec<usize>, Vec<usize>) = all.into_iter().partition(short);
        (long_rows, short_rows)
    }

    fn train_config(&self, name: &str) -> Result<TrainConfig> {
        self.context.train_config(&self.settings.train, name)
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

    /// Vanilla DPO: no user tokens.
    fn dpo(&self) -> Result<Evaluated> {
        let start = Instant::now();
        let objective = ObjectiveConfig::from_name("dpo")?
            .with_beta(self.settings.beta)
            .check()?;
        let reference = ReferenceLogps(self.train_reference.clone());
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

    /// P-DPO with a user model of `kind`, `tokens` user tokens and weight `alpha`.
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
        let reference = ReferenceLogps(
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
            serde_json::to_string(&user_config)?
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
        let mut evaluated = self.evaluate_personalized(&model)?;
        evaluated.method = format!("P-DPO {kind_name}");
        evaluated.settings = format!("α {alpha}, T_u {tokens}");
        evaluated.seconds = seconds;
        Ok(evaluated)
    }

    /// Held-out accuracy under each user's own tokens and under the generic user's, generated
    /// lengths per group, and the cluster weights of a cluster model.
    fn evaluate_personalized(&self, model: &PersonalizedPolicy) -> Result<Evaluated> {
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
        Ok(Evaluated {
            method: String::new(),
            settings: String::new(),
            correct: correct(&reward_margins(&own_logps, &self.test_reference, beta)),
            generic: Some(correct(&reward_margins(
                &generic_logps,
                &self.test_reference,
                beta,
            ))),
            words,
            cluster_weight: self.cluster_weight(&model.users)?,
            seconds: 0.0,
        })
    }

    /// A cluster model's mean softmax weight on cluster 0 for long- and short-group users.
    fn cluster_weight(&self, users: &UserModel) -> Result<Option<(f64, f64)>> {
        let n_users = self.data.prefers_short.len() - 1;
        let Some(weights) = users.cluster_weights(&(1..=n_users).collect::<Vec<_>>())? else {
            return Ok(None);
        };
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
        Ok(Some((group_mean(false), group_mean(true))))
    }

    /// Every row of the table: DPO, P-DPO at each T_u (first α), at each further α (first
    /// T_u), and the cluster model (first α and T_u).
    pub fn train_all(&self) -> Result<PrlhfRuns> {
        let settings = self.settings;
        let individual = UserModelKind::Individual {
            add_generic_user: true,
        };
        let first_alpha = settings.alphas[0];
        let first_tokens = settings.user_tokens[0];
        let dpo = self.dpo()?;
        let by_tokens = settings
            .user_tokens
            .iter()
            .map(|&tokens| self.pdpo(individual, tokens, first_alpha))
            .collect::<Result<Vec<_>>>()?;
        let by_alpha = settings.alphas[1..]
            .iter()
            .map(|&alpha| self.pdpo(individual, first_tokens, alpha))
            .collect::<Result<Vec<_>>>()?;
        let cluster = if settings.clusters > 0 {
            let kind = UserModelKind::Cluster {
                n_clusters: settings.clusters,
            };
            Some(self.pdpo(kind, first_tokens, first_alpha)?)
        } else {
            None
        };
        let runs = PrlhfRuns {
            dpo,
            by_tokens,
            by_alpha,
            cluster,
        };
        for run in runs.all() {
            eprintln!(
                "  {:<28} {:<16} acc {:.3} ({:.1} s)",
                run.method,
                run.settings,
                mean(&run.correct),
                run.seconds
            );
        }
        Ok(runs)
    }
}

/// The rows of the table by role.
pub struct PrlhfRuns {
    pub dpo: Evaluated,
    /// Individual user model at each T_u of the grid (first α); the first is the main row.
    pub by_tokens: Vec<Evaluated>,
    /// Individual user model at each further α (first T_u).
    pub by_alpha: Vec<Evaluated>,
    pub cluster: Option<Evaluated>,
}

impl PrlhfRuns {
    /// Every row in table order.
    pub fn all(&self) -> impl Iterator<Item = &Evaluated> {
        std::iter::once(&self.dpo)
            .chain(&self.by_tokens)
            .chain(&self.by_alpha)
            .chain(&self.cluster)
    }

    /// The P-DPO row of the claims: individual users, the first T_u and α.
    pub fn main(&self) -> Result<&Evaluated> {
        self.by_tokens.first().ok_or_else(|| {
            ExperimentError::Invalid("prlhf.user_tokens must list counts ≥ 1".into())
        })
    }
}
