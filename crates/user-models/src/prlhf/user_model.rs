//! The individual and cluster user models of P-RLHF's official code.
//!
//! Both map a batch of user ids to `[batch, n_tokens, dim]` embeddings. Row layouts follow the
//! reference so that tables (and the golden cases) carry over unchanged:
//! - individual: table `E` with `(n_users + 1) · n_tokens` rows, row `u · n_tokens + t` is token
//!   `t` of user `u`; with `add_generic_user`, user `u ≥ 1` gets `E[t] + E[u · n_tokens + t]`
//!   (generic plus offset) and user 0 gets `E[t]`, so every example trains the generic user;
//! - cluster: table `C` with `n_clusters · n_tokens` rows (row `c · n_tokens + t`) and user
//!   logits `A` (`n_users + 1` rows); token `t` of user `u` is `Σ_c softmax(A_u)_c C[c · n_tokens + t]`.

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::index::sample;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, UserModelError};

/// Which user model, with its own settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum UserModelKind {
    /// Paper "Example 2": a generic embedding plus a per-user offset (when `add_generic_user`),
    /// or free per-user embeddings.
    Individual { add_generic_user: bool },
    /// Paper "Example 3": users are softmax mixtures of `n_clusters` cluster embeddings.
    Cluster { n_clusters: usize },
}

/// Sizes of a user model. `dim` is the policy's hidden size (the tokens enter its embedding
/// stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserModelConfig {
    pub kind: UserModelKind,
    /// Known users are `1..=n_users`; 0 is the generic user.
    pub n_users: usize,
    /// Soft tokens per user (`T_u`).
    pub n_tokens: usize,
    pub dim: usize,
}

impl UserModelConfig {
    pub fn check(&self) -> Result<()> {
        if self.n_tokens == 0 || self.dim == 0 {
            return Err(UserModelError::InvalidConfig(format!(
                "a user model needs at least one token of positive width (n_tokens {}, dim {})",
                self.n_tokens, self.dim
            )));
        }
        if let UserModelKind::Cluster { n_clusters: 0 } = self.kind {
            return Err(UserModelError::InvalidConfig(
                "a cluster user model needs at least one cluster".into(),
            ));
        }
        Ok(())
    }

    /// Rows of the embedding table (individual) or of the cluster table (cluster).
    fn table_rows(&self) -> usize {
        match self.kind {
            UserModelKind::Individual { .. } => (self.n_users + 1) * self.n_tokens,
            UserModelKind::Cluster { n_clusters } => n_clusters * self.n_tokens,
        }
    }
}

/// How the embedding rows start (`initialize_from_vocab` in the reference).
#[derive(Clone, Copy, Debug)]
pub enum UserInit<'a> {
    /// `U(−0.5, 0.5)`.
    Uniform,
    /// Each row copies the input embedding of a distinct random vocabulary token, so soft tokens
    /// start where the policy's real tokens live (the reference's default).
    FromVocabulary(&'a Tensor<2>),
}

/// A P-RLHF user model: a burn module trained jointly with the policy.
#[derive(Module, Debug)]
pub struct UserModel {
    /// Individual: `E`; cluster: `C`.
    pub table: Param<Tensor<2>>,
    /// Cluster only: user logits `A`, `(n_users + 1) × n_clusters`.
    pub user_logits: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub config: UserModelConfig,
}

impl UserModel {
    /// A new user model; `seed` fixes the initial values on every backend.
    pub fn new(
        config: &UserModelConfig,
        init: UserInit<'_>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        config.check()?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let rows = config.table_rows();
        let table = match init {
            UserInit::Uniform => {
                let values: Vec<f32> = (0..rows * config.dim)
                    .map(|_| rng.random_range(-0.5f32..0.5))
                    .collect();
                Tensor::from_data(TensorData::new(values, [rows, config.dim]), device)
            }
            UserInit::FromVocabulary(embeddings) => {
                let [vocab, width] = embeddings.dims();
                if width != config.dim {
                    return Err(UserModelError::DimensionMismatch {
                        what: "vocabulary embedding width vs user-model dim".into(),
                        expected: config.dim,
                        got: width,
                    });
                }
                if vocab < rows {
                    return Err(UserModelError::InvalidConfig(format!(
                        "{rows} user-model rows need as many distinct vocabulary tokens, the \
                         vocabulary has {vocab}"
                    )));
                }
                let picks: Vec<i64> = sample(&mut rng, vocab, rows)
                    .into_iter()
                    .map(|i| i as i64)
                    .collect();
                let picks = Tensor::<1, Int>::from_data(
                    TensorData::new(picks, [rows]),
                    &embeddings.device(),
                );
                // Through the host, so the table is a fresh leaf even when the vocabulary is a
                // trained (autodiff) parameter.
                let rows = embeddings.clone().detach().select(0, picks).into_data();
                Tensor::from_data(rows, device)
            }
        };
        let user_logits = match config.kind {
            UserModelKind::Individual { .. } => None,
            UserModelKind::Cluster { n_clusters } => {
                // `nn.Embedding`'s N(0, 1), as the reference.
                let normal = Normal::new(0.0f32, 1.0).expect("unit normal");
                let values: Vec<f32> = (0..(config.n_users + 1) * n_clusters)
                    .map(|_| normal.sample(&mut rng))
                    .collect();
                Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(values, [config.n_users + 1, n_clusters]),
                    device,
                )))
            }
        };
        Ok(Self {
            table: Param::from_tensor(table),
            user_logits,
            config: config.clone(),
        })
    }

    /// A user model from given tables (a checkpoint, or another implementation's values).
    pub fn from_tables(
        config: &UserModelConfig,
        table: Tensor<2>,
        user_logits: Option<Tensor<2>>,
    ) -> Result<Self> {
        config.check()?;
        let [rows, dim] = table.dims();
        check_size("embedding table rows", config.table_rows(), rows)?;
        check_size("embedding table width", config.dim, dim)?;
        let user_logits = match (config.kind, user_logits) {
            (UserModelKind::Individual { .. }, None) => None,
            (UserModelKind::Cluster { n_clusters }, Some(logits)) => {
                let [users, clusters] = logits.dims();
                check_size("user-logit rows (n_users + 1)", config.n_users + 1, users)?;
                check_size("user-logit columns (clusters)", n_clusters, clusters)?;
                Some(Param::from_tensor(logits))
            }
            (kind, _) => {
                return Err(UserModelError::InvalidConfig(format!(
                    "user logits are given exactly for cluster models (kind {kind:?})"
                )));
            }
        };
        Ok(Self {
            table: Param::from_tensor(table),
            user_logits,
            config: config.clone(),
        })
    }

    /// Replaces ids of users the model does not know by the generic user 0 (how the reference
    /// serves unseen users).
    pub fn generic_for_unknown(&self, user_ids: &[usize]) -> Vec<usize> {
        user_ids
            .iter()
            .map(|&u| if u > self.config.n_users { 0 } else { u })
            .collect()
    }

    /// The soft tokens of each user: `[user_ids.len(), n_tokens, dim]`. An id beyond
    /// `n_users` is an error naming it (see [`Self::generic_for_unknown`]).
    pub fn embeddings(&self, user_ids: &[usize]) -> Result<Tensor<3>> {
        self.check_ids(user_ids)?;
        let config = &self.config;
        let (batch, tokens, dim) = (user_ids.len(), config.n_tokens, config.dim);
        let device = self.table.device();
        let table = self.table.val();
        let embeddings = match config.kind {
            UserModelKind::Individual { add_generic_user } => {
                let rows = index(
                    user_ids
                        .iter()
                        .flat_map(|&u| (0..tokens).map(move |t| u * tokens + t)),
                    &device,
                );
                let own = table.clone().select(0, rows);
                if add_generic_user {
                    let generic_rows = index(user_ids.iter().flat_map(|_| 0..tokens), &device);
                    let generic = table.select(0, generic_rows);
                    // User 0's own rows are the generic rows: it gets them once.
                    let known: Vec<f32> = user_ids
                        .iter()
                        .flat_map(|&u| std::iter::repeat_n(f32::from(u8::from(u != 0)), tokens))
                        .collect();
                    let known = Tensor::<2>::from_data(
                        TensorData::new(known, [batch * tokens, 1]),
                        (&device, own.dtype()),
                    );
                    generic + own * known
                } else {
                    own
                }
            }
            UserModelKind::Cluster { n_clusters } => {
                let logits = self
                    .user_logits
                    .as_ref()
                    .expect("cluster models hold user logits")
                    .val();
                let weights = softmax(
                    logits.select(0, index(user_ids.iter().copied(), &device)),
                    1,
                );
                let clusters = table.reshape([n_clusters, tokens * dim]);
                weights.matmul(clusters)
            }
        };
        Ok(embeddings.reshape([batch, tokens, dim]))
    }

    /// An id beyond `n_users` is an error naming it and its position.
    fn check_ids(&self, user_ids: &[usize]) -> Result<()> {
        let n_users = self.config.n_users;
        match user_ids.iter().enumerate().find(|(_, u)| **u > n_users) {
            Some((position, &id)) => Err(UserModelError::UnknownUser {
                id,
                position,
                n_users,
            }),
            None => Ok(()),
        }
    }

    /// The mixture weights `softmax(A_u)` of a cluster model (`None` for individual models):
    /// how each user sits on the simplex over clusters.
    pub fn cluster_weights(&self, user_ids: &[usize]) -> Result<Option<Tensor<2>>> {
        let Some(logits) = &self.user_logits else {
            return Ok(None);
        };
        self.check_ids(user_ids)?;
        let device = self.table.device();
        Ok(Some(softmax(
            logits
                .val()
                .select(0, index(user_ids.iter().copied(), &device)),
            1,
        )))
    }
}

fn index(rows: impl Iterator<Item = usize>, device: &Device) -> Tensor<1, Int> {
    let rows: Vec<i64> = rows.map(|r| r as i64).collect();
    let count = rows.len();
    Tensor::from_data(TensorData::new(rows, [count]), device)
}

fn check_size(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(UserModelError::DimensionMismatch {
            what: what.into(),
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: UserModelKind) -> UserModelConfig {
        UserModelConfig {
            kind,
            n_users: 3,
            n_tokens: 2,
            dim: 4,
        }
    }

    #[test]
    fn unknown_users_are_errors_or_generic() {
        let model = UserModel::new(
            &config(UserModelKind::Individual {
                add_generic_user: true,
            }),
            UserInit::Uniform,
            1,
            &Device::flex(),
        )
        .unwrap();
        let error = model.embeddings(&[1, 7]).unwrap_err();
        assert!(
            error.to_string().contains("unknown user 7 at position 1"),
            "{error}"
        );
        let ids = model.generic_for_unknown(&[1, 7]);
        assert_eq!(ids, vec![1, 0]);
        let embeddings = model.embeddings(&ids).unwrap();
        assert_eq!(embeddings.dims(), [2, 2, 4]);
    }

    #[test]
    fn vocabulary_initialisation_copies_distinct_rows_and_checks_width() {
        let device = Device::flex();
        let vocabulary = Tensor::<2>::from_data(
            TensorData::new((0..40).map(|v| v as f32).collect::<Vec<_>>(), [10, 4]),
            &device,
        );
        let cluster = config(UserModelKind::Cluster { n_clusters: 3 });
        let model =
            UserModel::new(&cluster, UserInit::FromVocabulary(&vocabulary), 2, &device).unwrap();
        let rows: Vec<f32> = model.table.val().into_data().try_to_vec().unwrap();
        let mut firsts: Vec<i32> = rows.chunks(4).map(|r| r[0] as i32).collect();
        assert!(firsts.iter().all(|f| f % 4 == 0));
        firsts.sort();
        firsts.dedup();
        assert_eq!(
            firsts.len(),
            6,
            "3 clusters × 2 tokens, distinct vocabulary rows"
        );
        let weights = model.cluster_weights(&[0, 3]).unwrap().unwrap();
        let sums: Vec<f32> = weights.sum_dim(1).into_data().try_to_vec().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6));
        let narrow = UserModelConfig { dim: 5, ..cluster };
        assert!(
            UserModel::new(&narrow, UserInit::FromVocabulary(&vocabulary), 2, &device).is_err()
        );
    }
}
