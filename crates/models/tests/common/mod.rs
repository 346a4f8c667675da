//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions};
use prefopt_models::config::TransformerConfig;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, ItemTokenizer, encode_record};
use prefopt_models::train::{ReferenceLogps, reference_logps};
use prefopt_models::transformer::Transformer;

/// A temporary folder removed when the guard drops.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("prefopt-models-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A split of the committed generated dataset `datasets/synthetic-rec` (500 items, K = 3).
pub fn synthetic_rec(split: &str) -> Vec<PreferenceRecord> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/synthetic-rec")
        .join(format!("{split}.parquet"));
    PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap()
        .0
}

/// One split of a converted dataset folder.
pub fn read_split(folder: &Path, split: &str) -> Vec<PreferenceRecord> {
    PreferenceDataset::open(folder.join(format!("{split}.parquet")))
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap()
        .0
}

pub fn encode(tokenizer: &ItemTokenizer, records: &[PreferenceRecord]) -> Vec<EncodedExample> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| encode_record(tokenizer, r, i).unwrap())
        .collect()
}

/// Reference log-probs from a freshly initialised model (seed `seed`), for tests that need a
/// reference but not a trained one.
pub fn fresh_reference(
    config: &TransformerConfig,
    examples: &[EncodedExample],
    seed: u64,
    device: &Device,
) -> ReferenceLogps {
    let model = Transformer::new(config, seed, device).unwrap();
    reference_logps(&model, examples, 16, ScoringMode::SharedPrefix, 0, 1).unwrap()
}
