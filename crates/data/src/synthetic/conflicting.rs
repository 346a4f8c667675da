//! Conflicting preferences (P-RLHF's motivating case): one group of users prefers short responses,
//! the other long ones, on the same prompts. A model without user information can at best match
//! the majority; a personalized one can satisfy both.

use std::path::Path;

use rand::RngExt;

use super::tables::{push_user_pair, write_user_splits, write_vectors};
use super::words;
use crate::error::{DataError, Result};
use crate::parquet_io::WriteOptions;
use crate::samplers::example_rng;
use crate::schema::PreferenceRecord;

/// Shape of a conflicting-preference dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictingSpec {
    pub users: usize,
    pub prompts: usize,
    pub pairs_per_user: usize,
    /// Share of users in the group that prefers short responses.
    pub short_fraction: f64,
    /// Word counts of short and long responses.
    pub short_words: (usize, usize),
    pub long_words: (usize, usize),
    /// Probability that a label goes against the user's group.
    pub label_noise: f64,
    /// Share of each user's pairs held out as the test split.
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for ConflictingSpec {
    fn default() -> Self {
        Self {
            users: 100,
            prompts: 200,
            pairs_per_user: 20,
            short_fraction: 0.5,
            short_words: (3, 8),
            long_words: (20, 40),
            label_noise: 0.1,
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

/// Records, split by user-held-out pairs, and the ground truth.
#[derive(Debug, Clone)]
pub struct ConflictingData {
    pub train: Vec<PreferenceRecord>,
    pub test: Vec<PreferenceRecord>,
    /// `true` for users who prefer short responses.
    pub prefers_short: Vec<bool>,
}

impl ConflictingSpec {
    pub fn check(&self) -> Result<()> {
        if self.users == 0 || self.prompts == 0 || self.pairs_per_user == 0 {
            return Err(DataError::parameter(
                "synthetic",
                "users, prompts, pairs must be ≥ 1",
            ));
        }
        let ordered = |(a, b): (usize, usize)| a >= 1 && a <= b;
        if !ordered(self.short_words)
            || !ordered(self.long_words)
            || self.short_words.1 >= self.long_words.0
        {
            return Err(DataError::parameter(
                "synthetic",
                "word ranges must be ordered, short entirely below long",
            ));
        }
        for (name, value) in [
            ("short_fraction", self.short_fraction),
            ("label_noise", self.label_noise),
            ("test_fraction", self.test_fraction),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(DataError::parameter(
                    "synthetic",
                    format!("{name} = {value} is not in [0, 1]"),
                ));
            }
        }
        Ok(())
    }

    pub fn generate(&self) -> Result<ConflictingData> {
        self.check()?;
        let mut rng = example_rng(self.seed, u64::MAX);
        let vocabulary = words::vocabulary(500, &mut rng);
        let prompts: Vec<String> = (0..self.prompts)
            .map(|_| {
                let count = rng.random_range(4..=9);
                format!(
                    "Tell me about {}?",
                    words::title(&vocabulary, count, &mut rng).to_lowercase()
                )
            })
            .collect();
        let prefers_short: Vec<bool> = (0..self.users)
            .map(|_| rng.random::<f64>() < self.short_fraction)
            .collect();
        let test_pairs = (self.pairs_per_user as f64 * self.test_fraction).round() as usize;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (user, &short) in prefers_short.iter().enumerate() {
            let mut rng = example_rng(self.seed, user as u64);
            for pair in 0..self.pairs_per_user {
                let prompt = &prompts[rng.random_range(0..prompts.len())];
                let mut response = |(low, high): (usize, usize)| {
                    let count = rng.random_range(low..=high);
                    format!("{}.", words::title(&vocabulary, count, &mut rng))
                };
                let brief = response(self.short_words);
                let long = response(self.long_words);
                let agrees = rng.random::<f64>() >= self.label_noise;
                let (chosen, rejected) = if short == agrees {
                    (brief, long)
                } else {
                    (long, brief)
                };
                push_user_pair(
                    (&mut train, &mut test),
                    (pair, self.pairs_per_user, test_pairs),
                    user,
                    prompt.clone(),
                    chosen,
                    rejected,
                );
            }
        }
        Ok(ConflictingData {
            train,
            test,
            prefers_short,
        })
    }
}

impl ConflictingData {
    /// `train.parquet`, `test.parquet` and `users.parquet` (`user_id`, `group`: [1.0] short, [0.0]
    /// long) in `folder`.
    pub fn write(&self, folder: &Path, options: &WriteOptions) -> Result<()> {
        write_user_splits(folder, &self.train, &self.test, options)?;
        let groups: Vec<Vec<f64>> = self
            .prefers_short
            .iter()
            .map(|&s| vec![f64::from(u8::from(s))])
            .collect();
        write_vectors(
            &folder.join("users.parquet"),
            "user_id",
            "prefers_short",
            &groups,
            options,
        )
    }
}
