//! P-DPO on a TRL dataset with a `user_id` column: a P-RLHF user model (individual
//! embeddings plus a generic one) trained jointly with the policy, whose soft tokens precede
//! every prompt. As the official trainer does, every training pair appears twice: under its
//! user and under the generic user 0, and the P-DPO objective weighs the two with α.
//!
//! Dataset user ids may be any integers: the users seen in training become 1, 2, … (in
//! increasing id order); an evaluation user never seen in training is served by the generic
//! user, as the reference implementation serves unseen users.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use prefopt_models::ModelError;
use prefopt_models::tokenizer::EncodedExample;
use prefopt_models::train::{PreferenceTask, ReferenceLogps, TrainConfig};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::Objective;
use prefopt_user_models::prlhf::{UserInit, UserModel, UserModelConfig, UserModelKind};

use super::data::TextPipeline;
use super::evaluate::{HeldOut, evaluate_paired};
use super::stage::{Stage, evaluate_while_training};
use crate::error::{ExperimentError, Result};
use crate::prlhf::task::{PdpoTask, PersonalizedPolicy};

/// The inputs of P-DPO's stage.
pub struct Personal<'a> {
    pub pipeline: &'a TextPipeline,
    pub objective: &'a dyn Objective,
    pub train_rows: &'a [EncodedExample],
    pub eval_rows: &'a [EncodedExample],
    pub train_reference: &'a ReferenceLogps,
    pub eval_reference: &'a ReferenceLogps,
}

/// Dataset user ids ↔ the user model's 1, 2, ….
struct Users {
    ids: Vec<i64>,
    index: BTreeMap<i64, usize>,
}

impl Users {
    fn of(rows: &[EncodedExample]) -> Result<Self> {
        let mut ids = Vec::with_capacity(rows.len());
        for (row, example) in rows.iter().enumerate() {
            match example.user {
                Some(id) => ids.push(id),
                None => {
                    return Err(ExperimentError::Invalid(format!(
                        "P-DPO needs a `user_id` on every training row; training row {row} has \
                         none"
                    )));
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let index = ids.iter().enumerate().map(|(i, &id)| (id, i + 1)).collect();
        Ok(Self { ids, index })
    }

    /// The rows with their users as the user model numbers them (unknown users: 0).
    fn renumber(&self, rows: &[EncodedExample]) -> Vec<EncodedExample> {
        rows.iter()
            .map(|e| EncodedExample {
                user: Some(
                    e.user
                        .and_then(|u| self.index.get(&u))
                        .map_or(0, |&i| i as i64),
                ),
                ..e.clone()
            })
            .collect()
    }

    /// Per-user accuracies keyed by dataset user id again (the generic user stays 0).
    fn original_ids(&self, mut held: HeldOut) -> HeldOut {
        held.per_user = std::mem::take(&mut held.per_user)
            .into_iter()
            .filter(|(user, _)| *user > 0)
            .map(|(user, values)| (self.ids[user as usize - 1], values))
            .collect();
        held
    }
}

fn user_indices(rows: &[EncodedExample], indices: &[usize]) -> Vec<usize> {
    indices
        .iter()
        .map(|&i| rows.get(i).and_then(|e| e.user).unwrap_or(0).max(0) as usize)
        .collect()
}

impl Personal<'_> {
    pub fn train(
        &self,
        policy: Transformer,
        config: &TrainConfig,
        description: &str,
    ) -> Result<Stage> {
        let settings = &self.pipeline.config.prlhf;
        let users = Users::of(self.train_rows)?;
        let train = users.renumber(self.train_rows);
        let mut examples = train.clone();
        examples.extend(train.iter().map(|e| EncodedExample {
            user: Some(0),
            ..e.clone()
        }));
        let reference = ReferenceLogps(
            self.train_reference
                .0
                .iter()
                .chain(&self.train_reference.0)
                .cloned()
                .collect(),
        );
        let eval_rows = users.renumber(self.eval_rows);
        let tokens = settings.user_tokens.first().copied().unwrap_or(1);
        let user_config = UserModelConfig {
            kind: UserModelKind::Individual {
                add_generic_user: true,
            },
            n_users: users.ids.len(),
            n_tokens: tokens,
            dim: policy.config.d_model,
        };
        let vocabulary = policy.embedding_matrix().val();
        let init = if vocabulary.dims()[0] >= (users.ids.len() + 1) * tokens {
            UserInit::FromVocabulary(&vocabulary)
        } else {
            UserInit::Uniform
        };
        let user_model = UserModel::new(
            &user_config,
            init,
            self.pipeline.config.seed,
            &self.pipeline.device,
        )?;
        let pad = self.pipeline.pad();
        let task = PdpoTask {
            inner: PreferenceTask::new(&examples, self.objective, Some(&reference), pad),
        };
        let batch = self.pipeline.config.eval.batch_size;
        let evaluate = |model: &PersonalizedPolicy| -> Result<HeldOut> {
            let soft = |chunk: &[usize]| -> Result<Option<Tensor<3>>> {
                let ids = model
                    .users
                    .generic_for_unknown(&user_indices(&eval_rows, chunk));
                Ok(Some(
                    model
                        .users
                        .embeddings(&ids)
                        .map_err(|e| ModelError::external("user embeddings", e))?,
                ))
            };
            let task =
                PreferenceTask::new(&eval_rows, self.objective, Some(self.eval_reference), pad);
            let held = evaluate_paired(&model.policy, &task, batch, Some(&soft))?;
            Ok(users.original_ids(held))
        };
        let model = PersonalizedPolicy {
            policy,
            users: user_model,
        };
        let description = format!("{description}+{}", serde_json::to_string(&user_config)?);
        let run = evaluate_while_training(model, &task, &evaluate, config, &description)?;
        let mut trained_users = None;
        let run = run.map(|model| {
            trained_users = Some(model.users);
            model.policy
        });
        Ok(Stage {
            run,
            users: trained_users.map(|model| (model, users.ids)),
        })
    }
}
