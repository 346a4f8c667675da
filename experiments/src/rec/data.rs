//! A converted recommendation dataset in memory: the three splits, the item table, and their
//! item-token encodings.

use std::path::{Path, PathBuf};

use prefopt_data::convert::{ItemTable, read_items};
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions};
use prefopt_models::tokenizer::EncodedExample;

use crate::config::DataConfig;
use crate::error::{ExperimentError, Result};

/// The splits of a folder written by `prefopt data convert` or `prefopt data generate`.
#[derive(Clone, Debug)]
pub struct RecDataset {
    pub dir: PathBuf,
    pub train: Vec<PreferenceRecord>,
    pub valid: Vec<PreferenceRecord>,
    pub test: Vec<PreferenceRecord>,
    pub items: ItemTable,
}

fn read_split(dir: &Path, split: &str, limit: Option<usize>) -> Result<Vec<PreferenceRecord>> {
    let path = dir.join(format!("{split}.parquet"));
    if !path.exists() {
        return Err(ExperimentError::Data(
            prefopt_data::DataError::MissingInput {
                path,
                reason: "no such split; convert a dataset with `prefopt data convert` first".into(),
            },
        ));
    }
    let (mut records, _) = PreferenceDataset::open(&path)?.read_all(ReadOptions::default())?;
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    // The experiments rank candidates and draw negatives by item id.
    if let Some(row) = records.iter().position(|r| {
        r.chosen_item.is_none() || r.candidate_items.is_none() || r.history_items.is_none()
    }) {
        return Err(ExperimentError::Data(prefopt_data::DataError::InvalidRow {
            path,
            row: row as u64,
            column: "chosen_item, candidate_items, history_items".into(),
            reason: "recommendation experiments need the item-id columns".into(),
        }));
    }
    Ok(records)
}

impl RecDataset {
    pub fn load(config: &DataConfig) -> Result<Self> {
        let dir = config.dir.clone();
        let items = read_items(&dir.join("items.parquet"))?;
        let dataset = Self {
            train: read_split(&dir, "train", config.max_train)?,
            valid: read_split(&dir, "valid", config.max_valid)?,
            test: read_split(&dir, "test", config.max_test)?,
            items,
            dir,
        };
        let catalog = dataset.items.len() as i64;
        for (split, records) in [
            ("train", &dataset.train),
            ("valid", &dataset.valid),
            ("test", &dataset.test),
        ] {
            if records.is_empty() {
                return Err(ExperimentError::Invalid(format!(
                    "{}: the {split} split is empty",
                    dataset.dir.display()
                )));
            }
            for (row, record) in records.iter().enumerate() {
                let ids = record
                    .candidate_items
                    .iter()
                    .flatten()
                    .chain(record.history_items.iter().flatten())
                    .chain(record.rejected_items.iter().flatten())
                    .chain(record.chosen_item.iter());
                if let Some(bad) = ids.into_iter().find(|&&i| i < 0 || i >= catalog) {
                    return Err(ExperimentError::Invalid(format!(
                        "{}: {split}.parquet row {row}: item {bad} is not in items.parquet ({catalog} items)",
                        dataset.dir.display()
                    )));
                }
            }
        }
        Ok(dataset)
    }

    /// Training interaction counts as the eval crate takes them.
    pub fn popularity(&self) -> &[u64] {
        &self.items.popularity
    }
}

/// Encodes records with the pipeline's tokenizer (see [`super::RecTokenizer::encode`]).
pub fn encode(
    tokenizer: &super::RecTokenizer,
    records: &[PreferenceRecord],
) -> Result<Vec<EncodedExample>> {
    tokenizer.encode(records)
}
