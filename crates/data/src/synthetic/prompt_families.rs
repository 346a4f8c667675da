//! Prompts in families of related prompts (RPO's setting): every family has its own "good"
//! and "bad" words, a response is preferred when it uses more of its family's good words, and
//! the family's prompts share a topic. What makes a response good is a family-level feature,
//! so contrasting a chosen response with the rejected responses of *other prompts of the same
//! family* carries signal, while contrasts across families do not. Each prompt carries an
//! embedding (its family's centroid plus noise) in the `prompt_embedding` column.

use std::path::Path;

use rand::RngExt;
use rand::seq::SliceRandom;

use super::{normal, words};
use crate::error::{DataError, Result};
use crate::parquet_io::WriteOptions;
use crate::samplers::example_rng;
use crate::schema::{Columns, PreferenceRecord};
use crate::vectors::{PROMPT_EMBEDDING, write_with_vectors};

/// Shape of a prompt-family dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFamilySpec {
    pub families: usize,
    pub prompts_per_family: usize,
    /// Comparisons per prompt (each a fresh chosen and rejected response).
    pub pairs_per_prompt: usize,
    /// Good and bad words of each family (from one shared pool, so a word good in one family
    /// may be bad in another).
    pub words_per_family: usize,
    /// Words per response.
    pub response_words: (usize, usize),
    /// Share of a chosen response's words drawn from the family's good words (the rest are
    /// filler); rejected responses draw the same share from the bad words.
    pub signal: f64,
    /// Share of each family's prompts held out for testing (new prompts, known families).
    pub test_fraction: f64,
    pub embedding_dim: usize,
    /// Standard deviation of a prompt's embedding around its family centroid.
    pub embedding_noise: f64,
    pub seed: u64,
}

impl Default for PromptFamilySpec {
    fn default() -> Self {
        Self {
            families: 8,
            prompts_per_family: 12,
            pairs_per_prompt: 3,
            words_per_family: 6,
            response_words: (4, 7),
            signal: 0.5,
            test_fraction: 0.25,
            embedding_dim: 16,
            embedding_noise: 0.3,
            seed: 0,
        }
    }
}

/// Records of both splits with their prompt embeddings and each record's family.
#[derive(Debug, Clone)]
pub struct PromptFamilyData {
    pub train: Vec<PreferenceRecord>,
    pub test: Vec<PreferenceRecord>,
    pub train_embeddings: Vec<Vec<f64>>,
    pub test_embeddings: Vec<Vec<f64>>,
    pub train_families: Vec<usize>,
    pub test_families: Vec<usize>,
}

impl PromptFamilySpec {
    pub fn check(&self) -> Result<()> {
        if self.families == 0
            || self.prompts_per_family < 2
            || self.pairs_per_prompt == 0
            || self.words_per_family == 0
            || self.embedding_dim == 0
        {
            return Err(DataError::parameter(
                "synthetic",
                "families, pairs, words and embedding_dim must be ≥ 1 and prompts_per_family ≥ 2",
            ));
        }
        let (low, high) = self.response_words;
        if low == 0 || low > high {
            return Err(DataError::parameter(
                "synthetic",
                "response_words must be an ordered range starting at 1 or more",
            ));
        }
        if !(0.0..=1.0).contains(&self.signal)
            || !(0.0..1.0).contains(&self.test_fraction)
            || self.embedding_noise.is_nan()
            || self.embedding_noise < 0.0
        {
            return Err(DataError::parameter(
                "synthetic",
                "signal in [0, 1], test_fraction in [0, 1), embedding_noise ≥ 0",
            ));
        }
        Ok(())
    }

    pub fn generate(&self) -> Result<PromptFamilyData> {
        self.check()?;
        let mut rng = example_rng(self.seed, u64::MAX);
        let pool_size = 4 * self.words_per_family.max(4);
        let vocabulary = words::vocabulary(pool_size + 200, &mut rng);
        let (pool, filler) = vocabulary.split_at(pool_size);
        let mut data = PromptFamilyData {
            train: Vec::new(),
            test: Vec::new(),
            train_embeddings: Vec::new(),
            test_embeddings: Vec::new(),
            train_families: Vec::new(),
            test_families: Vec::new(),
        };
        let held_out = ((self.prompts_per_family as f64 * self.test_fraction).round() as usize)
            .min(self.prompts_per_family - 1);
        for family in 0..self.families {
            let mut rng = example_rng(self.seed, family as u64);
            let mut shuffled: Vec<&String> = pool.iter().collect();
            shuffled.shuffle(&mut rng);
            let good = &shuffled[..self.words_per_family];
            let bad = &shuffled[self.words_per_family..2 * self.words_per_family];
            let topic = words::title(filler, 2, &mut rng).to_lowercase();
            let centroid: Vec<f64> = (0..self.embedding_dim).map(|_| normal(&mut rng)).collect();
            for prompt_index in 0..self.prompts_per_family {
                let variant = words::title(filler, 3, &mut rng).to_lowercase();
                let prompt = format!("About {topic}: what of {variant}?");
                let embedding: Vec<f64> = centroid
                    .iter()
                    .map(|c| c + self.embedding_noise * normal(&mut rng))
                    .collect();
                let is_test = prompt_index >= self.prompts_per_family - held_out;
                for _ in 0..self.pairs_per_prompt {
                    let mut response = |marked: &[&String]| {
                        let count = rng.random_range(self.response_words.0..=self.response_words.1);
                        let words: Vec<&str> = (0..count)
                            .map(|_| {
                                if rng.random::<f64>() < self.signal {
                                    marked[rng.random_range(0..marked.len())].as_str()
                                } else {
                                    filler[rng.random_range(0..filler.len())].as_str()
                                }
                            })
                            .collect();
                        format!("{}.", words.join(" "))
                    };
                    let chosen = response(good);
                    let rejected = response(bad);
                    let record = PreferenceRecord {
                        prompt: prompt.clone(),
                        chosen,
                        rejected: vec![rejected],
                        ..PreferenceRecord::default()
                    };
                    let (records, embeddings, families) = if is_test {
                        (
                            &mut data.test,
                            &mut data.test_embeddings,
                            &mut data.test_families,
                        )
                    } else {
                        (
                            &mut data.train,
                            &mut data.train_embeddings,
                            &mut data.train_families,
                        )
                    };
                    records.push(record);
                    embeddings.push(embedding.clone());
                    families.push(family);
                }
            }
        }
        Ok(data)
    }
}

impl PromptFamilyData {
    /// `train.parquet` and `test.parquet` (text columns and `prompt_embedding`) in `folder`.
    pub fn write(&self, folder: &Path, options: &WriteOptions) -> Result<()> {
        std::fs::create_dir_all(folder).map_err(|e| DataError::io(folder, e))?;
        for (name, records, embeddings) in [
            ("train", &self.train, &self.train_embeddings),
            ("test", &self.test, &self.test_embeddings),
        ] {
            write_with_vectors(
                &folder.join(format!("{name}.parquet")),
                records,
                Columns::default(),
                &[(PROMPT_EMBEDDING, embeddings)],
                options,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_share_good_words_and_embeddings_cluster_by_family() {
        let spec = PromptFamilySpec::default();
        let data = spec.generate().unwrap();
        let per_family = spec.prompts_per_family * spec.pairs_per_prompt;
        assert_eq!(
            data.train.len() + data.test.len(),
            spec.families * per_family
        );
        assert_eq!(data.test.len(), spec.families * 3 * spec.pairs_per_prompt);
        assert_eq!(data.train_embeddings.len(), data.train.len());
        // Same-family embeddings are closer than other families' (cosine).
        let cosine = |a: &[f64], b: &[f64]| {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            dot / (norm(a) * norm(b))
        };
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for i in 0..data.train.len() {
            for j in (i + 1)..data.train.len() {
                let c = cosine(&data.train_embeddings[i], &data.train_embeddings[j]);
                if data.train_families[i] == data.train_families[j] {
                    same.push(c);
                } else {
                    other.push(c);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            mean(&same) > 0.8 && mean(&other).abs() < 0.3,
            "{} {}",
            mean(&same),
            mean(&other)
        );
        // Test prompts are new prompts of known families.
        let train_prompts: std::collections::HashSet<&str> =
            data.train.iter().map(|r| r.prompt.as_str()).collect();
        assert!(
            data.test
                .iter()
                .all(|r| !train_prompts.contains(r.prompt.as_str()))
        );
        assert!(
            PromptFamilySpec {
                prompts_per_family: 1,
                ..spec
            }
            .generate()
            .is_err()
        );
    }
}
