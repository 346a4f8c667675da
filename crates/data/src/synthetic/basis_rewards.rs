//! Users as mixtures of a few basis reward functions (LoRe's model): responses carry feature
//! vectors φ, basis reward b is r_b(φ) = ⟨w_b, φ⟩, user u weighs them with α_u ~ Dirichlet, and
//! prefers response a to b with Bradley–Terry probability σ(scale · (r_u(a) − r_u(b))).

use std::path::Path;

use rand::RngExt;
use rand_distr::Distribution;
use rand_distr::multi::Dirichlet;

use super::normal;
use super::tables::{push_user_pair, write_vectors};
use crate::error::{DataError, Result};
use crate::parquet_io::WriteOptions;
use crate::samplers::example_rng;
use crate::schema::{Columns, PreferenceRecord};
use crate::vectors::{CHOSEN_FEATURES, REJECTED_FEATURES, write_with_vectors};

/// Shape of a basis-reward mixture dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct BasisRewardSpec {
    pub users: usize,
    /// Number of basis rewards B.
    pub bases: usize,
    pub feature_dim: usize,
    pub prompts: usize,
    pub responses_per_prompt: usize,
    pub pairs_per_user: usize,
    /// Dirichlet concentration of every user's mixture (small: users close to one basis).
    pub concentration: f64,
    /// Bradley–Terry inverse temperature.
    pub scale: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for BasisRewardSpec {
    fn default() -> Self {
        Self {
            users: 100,
            bases: 3,
            feature_dim: 8,
            prompts: 50,
            responses_per_prompt: 6,
            pairs_per_user: 30,
            concentration: 0.5,
            scale: 3.0,
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

/// Records and the ground truth that generated them.
#[derive(Debug, Clone)]
pub struct BasisRewardData {
    pub train: Vec<PreferenceRecord>,
    pub test: Vec<PreferenceRecord>,
    /// `bases` weight vectors of length `feature_dim`.
    pub basis_weights: Vec<Vec<f64>>,
    /// Each user's mixture over the bases (sums to 1).
    pub user_mixtures: Vec<Vec<f64>>,
    /// Features of response `k` of prompt `p` at `p * responses_per_prompt + k`.
    pub response_features: Vec<Vec<f64>>,
    /// Response texts, same indexing; each starts with its id `[p.k]`.
    pub response_texts: Vec<String>,
    /// `(chosen, rejected)` response indices of every train / test record, in record order.
    pub train_responses: Vec<(usize, usize)>,
    pub test_responses: Vec<(usize, usize)>,
}

impl BasisRewardSpec {
    pub fn check(&self) -> Result<()> {
        if self.users == 0
            || self.bases == 0
            || self.feature_dim == 0
            || self.prompts == 0
            || self.pairs_per_user == 0
        {
            return Err(DataError::parameter("synthetic", "sizes must be ≥ 1"));
        }
        if self.responses_per_prompt < 2 {
            return Err(DataError::parameter(
                "synthetic",
                "responses_per_prompt must be ≥ 2",
            ));
        }
        if !(self.concentration > 0.0
            && self.scale.is_finite()
            && (0.0..=1.0).contains(&self.test_fraction))
        {
            return Err(DataError::parameter(
                "synthetic",
                "concentration > 0, finite scale, test_fraction in [0, 1]",
            ));
        }
        Ok(())
    }

    /// The reward of response features `phi` for mixture `alpha`.
    pub fn reward(basis_weights: &[Vec<f64>], alpha: &[f64], phi: &[f64]) -> f64 {
        basis_weights
            .iter()
            .zip(alpha)
            .map(|(w, a)| a * w.iter().zip(phi).map(|(x, y)| x * y).sum::<f64>())
            .sum()
    }

    pub fn generate(&self) -> Result<BasisRewardData> {
        self.check()?;
        let mut rng = example_rng(self.seed, u64::MAX);
        let basis_weights: Vec<Vec<f64>> = (0..self.bases)
            .map(|_| (0..self.feature_dim).map(|_| normal(&mut rng)).collect())
            .collect();
        let total = self.prompts * self.responses_per_prompt;
        let response_features: Vec<Vec<f64>> = (0..total)
            .map(|_| (0..self.feature_dim).map(|_| normal(&mut rng)).collect())
            .collect();
        let response_texts: Vec<String> = response_features
            .iter()
            .enumerate()
            .map(|(i, phi)| {
                let (p, k) = (i / self.responses_per_prompt, i % self.responses_per_prompt);
                let words: Vec<String> = phi
                    .iter()
                    .enumerate()
                    .map(|(j, x)| format!("f{j}{}", level(*x)))
                    .collect();
                format!("[{p}.{k}] {}", words.join(" "))
            })
            .collect();
        let user_mixtures: Vec<Vec<f64>> = if self.bases == 1 {
            vec![vec![1.0]; self.users]
        } else {
            let dirichlet = Dirichlet::new(&vec![self.concentration; self.bases])
                .map_err(|e| DataError::parameter("concentration", e.to_string()))?;
            (0..self.users)
                .map(|_| dirichlet.sample(&mut rng))
                .collect()
        };
        let test_pairs = (self.pairs_per_user as f64 * self.test_fraction).round() as usize;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        let (mut train_responses, mut test_responses) = (Vec::new(), Vec::new());
        for (user, alpha) in user_mixtures.iter().enumerate() {
            let mut rng = example_rng(self.seed, user as u64);
            for pair in 0..self.pairs_per_user {
                let p = rng.random_range(0..self.prompts);
                let a = rng.random_range(0..self.responses_per_prompt);
                let b = (a + rng.random_range(1..self.responses_per_prompt))
                    % self.responses_per_prompt;
                let (ia, ib) = (
                    p * self.responses_per_prompt + a,
                    p * self.responses_per_prompt + b,
                );
                let margin = Self::reward(&basis_weights, alpha, &response_features[ia])
                    - Self::reward(&basis_weights, alpha, &response_features[ib]);
                let prefers_a = rng.random::<f64>() < 1.0 / (1.0 + (-self.scale * margin).exp());
                let (chosen, rejected) = if prefers_a { (ia, ib) } else { (ib, ia) };
                if pair + test_pairs >= self.pairs_per_user {
                    test_responses.push((chosen, rejected));
                } else {
                    train_responses.push((chosen, rejected));
                }
                push_user_pair(
                    (&mut train, &mut test),
                    (pair, self.pairs_per_user, test_pairs),
                    user,
                    format!("Prompt {p}: answer in your own style."),
                    response_texts[chosen].clone(),
                    response_texts[rejected].clone(),
                );
            }
        }
        Ok(BasisRewardData {
            train,
            test,
            basis_weights,
            user_mixtures,
            response_features,
            response_texts,
            train_responses,
            test_responses,
        })
    }
}

/// A word for a feature value, so that texts carry the features.
fn level(x: f64) -> &'static str {
    match x {
        x if x < -1.0 => "lowest",
        x if x < -0.3 => "low",
        x if x < 0.3 => "mid",
        x if x < 1.0 => "high",
        _ => "highest",
    }
}

impl BasisRewardData {
    /// `train.parquet` and `test.parquet` (text, `user_id`, and each pair's response features in
    /// `chosen_features` / `rejected_features`), `users.parquet` (mixtures), `bases.parquet`
    /// (basis weights) and `responses.parquet` (features, by response index) in `folder`.
    pub fn write(&self, folder: &Path, options: &WriteOptions) -> Result<()> {
        std::fs::create_dir_all(folder).map_err(|e| DataError::io(folder, e))?;
        let columns = Columns {
            user_id: true,
            ..Columns::default()
        };
        for (name, records, pairs) in [
            ("train", &self.train, &self.train_responses),
            ("test", &self.test, &self.test_responses),
        ] {
            let (chosen, rejected): (Vec<Vec<f64>>, Vec<Vec<f64>>) = pairs
                .iter()
                .map(|&(c, r)| {
                    (
                        self.response_features[c].clone(),
                        self.response_features[r].clone(),
                    )
                })
                .unzip();
            write_with_vectors(
                &folder.join(format!("{name}.parquet")),
                records,
                columns,
                &[(CHOSEN_FEATURES, &chosen), (REJECTED_FEATURES, &rejected)],
                options,
            )?;
        }
        write_vectors(
            &folder.join("users.parquet"),
            "user_id",
            "mixture",
            &self.user_mixtures,
            options,
        )?;
        write_vectors(
            &folder.join("bases.parquet"),
            "basis",
            "weights",
            &self.basis_weights,
            options,
        )?;
        write_vectors(
            &folder.join("responses.parquet"),
            "response",
            "features",
            &self.response_features,
            options,
        )
    }
}
