//! A converted recommendation dataset in memory: the three splits, the item table, and their
//! item-token encodings.

use std::path::{Path, PathBuf};

use prefopt_data::convert::{ItemTable, read_items};
use prefopt_data::{PreferenceDataset, PreferenceRecord, ReadOptions};
use prefopt_models::tokenizer::EncodedExample;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::config::{DataConfig, RowSample};
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

/// Every row of `dataset`, or `limit` of them chosen as `sample` says, each with its row number
/// in the file (what errors name). A random sample streams the file and keeps only the chosen
/// rows, so a split of millions of rows is never held whole.
fn read_rows(
    dataset: &PreferenceDataset,
    limit: Option<usize>,
    sample: RowSample,
    seed: u64,
) -> Result<Vec<(usize, PreferenceRecord)>> {
    let rows = dataset.num_rows()? as usize;
    let Some(limit) = limit.filter(|&l| l < rows) else {
        let (records, _) = dataset.read_all(ReadOptions::default())?;
        return Ok(records.into_iter().enumerate().collect());
    };
    let keep: Vec<usize> = match sample {
        RowSample::First => (0..limit).collect(),
        RowSample::Random => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut chosen = rand::seq::index::sample(&mut rng, rows, limit).into_vec();
            chosen.sort_unstable();
            chosen
        }
    };
    let mut records = Vec::with_capacity(limit);
    let (mut offset, mut next) = (0usize, 0usize);
    for batch in dataset.reader(ReadOptions::default()) {
        let batch = batch?;
        let end = offset + batch.len();
        let mut batch = batch.into_iter();
        let mut at = offset;
        while next < keep.len() && keep[next] < end {
            let record = batch.nth(keep[next] - at).ok_or_else(|| {
                ExperimentError::Invalid(format!(
                    "{}: row {} vanished while reading",
                    dataset.root().display(),
                    keep[next]
                ))
            })?;
            records.push((keep[next], record));
            at = keep[next] + 1;
            next += 1;
        }
        offset = end;
        if next == keep.len() {
            break;
        }
    }
    Ok(records)
}

/// The rows of `dir/<split>.parquet` the limit keeps, checked: not empty, with the item-id
/// columns, every id in the catalog of `catalog` items. Errors name the file's own row.
fn read_split(
    dir: &Path,
    split: &str,
    limit: Option<usize>,
    sample: RowSample,
    seed: u64,
    catalog: i64,
) -> Result<Vec<PreferenceRecord>> {
    let path = dir.join(format!("{split}.parquet"));
    if !path.exists() {
        return Err(ExperimentError::Data(
            prefopt_data::DataError::MissingInput {
                path,
                reason: "no such split; convert a dataset with `prefopt data convert` first".into(),
            },
        ));
    }
    let rows = read_rows(&PreferenceDataset::open(&path)?, limit, sample, seed)?;
    if rows.is_empty() {
        return Err(ExperimentError::Invalid(format!(
            "{}: the {split} split is empty",
            dir.display()
        )));
    }
    for (row, record) in &rows {
        // The experiments rank candidates and draw negatives by item id.
        if record.chosen_item.is_none()
            || record.candidate_items.is_none()
            || record.history_items.is_none()
        {
            return Err(ExperimentError::Data(prefopt_data::DataError::InvalidRow {
                path,
                row: *row as u64,
                column: "chosen_item, candidate_items, history_items".into(),
                reason: "recommendation experiments need the item-id columns".into(),
            }));
        }
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
                dir.display()
            )));
        }
    }
    Ok(rows.into_iter().map(|(_, record)| record).collect())
}

/// The sample seed of split `stream` (1 train, 2 valid, 3 test): each split its own draw.
fn split_seed(sample_seed: u64, stream: u64) -> u64 {
    sample_seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl RecDataset {
    pub fn load(config: &DataConfig) -> Result<Self> {
        let dir = config.dir.clone();
        let items = read_items(&dir.join("items.parquet"))?;
        let catalog = items.len() as i64;
        let split = |stream: u64, name: &str, limit: Option<usize>| {
            let seed = split_seed(config.sample_seed, stream);
            read_split(&dir, name, limit, config.sample, seed, catalog)
        };
        Ok(Self {
            train: split(1, "train", config.max_train)?,
            valid: split(2, "valid", config.max_valid)?,
            test: split(3, "test", config.max_test)?,
            items,
            dir,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec_small(sample: RowSample, sample_seed: u64, max_train: Option<usize>) -> RecDataset {
        RecDataset::load(&DataConfig {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/rec-small"),
            max_train,
            max_valid: Some(20),
            max_test: Some(20),
            sample,
            sample_seed,
            ..DataConfig::default()
        })
        .unwrap()
    }

    /// A random sample is seeded, has distinct rows of the file in file order, and draws its
    /// own rows per split; `first` keeps the head of the file.
    #[test]
    fn a_random_row_sample_is_seeded_distinct_and_in_file_order() {
        let all = rec_small(RowSample::First, 0, None).train;
        let position = |r: &PreferenceRecord| {
            all.iter()
                .position(|a| a == r)
                .expect("a sampled row is a row of the file")
        };
        let sampled = rec_small(RowSample::Random, 7, Some(40));
        let positions: Vec<usize> = sampled.train.iter().map(position).collect();
        assert_eq!(positions.len(), 40);
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(*positions.last().unwrap() > 40, "spread over the file");
        let again = rec_small(RowSample::Random, 7, Some(40));
        assert_eq!(again.train, sampled.train);
        assert_eq!(again.test, sampled.test);
        let other = rec_small(RowSample::Random, 8, Some(40));
        assert_ne!(other.train, sampled.train);
        let first = rec_small(RowSample::First, 7, Some(40));
        assert_eq!(first.train, all[..40]);
        // A limit above the file's rows keeps every row.
        assert_eq!(rec_small(RowSample::Random, 7, Some(1 << 20)).train, all);
    }

    /// A bad row of a sample is named by its row in the file, not its place in the sample.
    #[test]
    fn errors_of_a_sampled_split_name_the_file_row() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/rec-small");
        let all = rec_small(RowSample::First, 0, None).train;
        // With a catalog of 3 items nearly every row has an unknown item.
        let error = read_split(
            &dir,
            "train",
            Some(40),
            RowSample::Random,
            split_seed(7, 1),
            3,
        )
        .unwrap_err()
        .to_string();
        let row: usize = error
            .split("train.parquet row ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no row in: {error}"));
        let sampled = rec_small(RowSample::Random, 7, Some(40)).train;
        assert!(
            row > 0,
            "the first sampled row sits deep in the file: {error}"
        );
        assert_eq!(all[row], sampled[0], "{error}");
    }
}
