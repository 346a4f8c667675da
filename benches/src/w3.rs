//! W3 (docs/benchmarks.md): an interaction log → preference Parquet with 19 popularity negatives per
//! row, then read back. The fixture is a synthetic log written as Parquet, so prefopt and the
//! Polars peer (`benches/peers/w3_polars.py`) start from the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use prefopt_data::convert::{CandidateSampling, ConvertConfig, ConvertSummary, convert};
use prefopt_data::logs::{LogFormat, LogSource};
use prefopt_data::parquet_io::ParquetSink;
use prefopt_data::progress::NoProgress;
use prefopt_data::synthetic::SequentialSpec;
use prefopt_data::{PreferenceDataset, ReadOptions, Result, WriteOptions};

/// Files of the W3 fixture.
#[derive(Debug, Clone)]
pub struct W3Fixture {
    pub interactions: PathBuf,
    pub items: PathBuf,
    pub rows: usize,
}

/// Writes about `interactions` synthetic interactions (`user_id, item_id, rating, timestamp`)
/// and the item table (`item_id, title`) as Parquet under `folder`.
pub fn write_fixture(folder: &Path, interactions: usize, seed: u64) -> Result<W3Fixture> {
    let mean_length = 40;
    let spec = SequentialSpec {
        users: (interactions / mean_length).max(1),
        items: (interactions / 50).clamp(200, 20_000),
        min_length: 20,
        max_length: 60,
        seed,
        ..SequentialSpec::default()
    };
    let data = spec.generate()?;
    let log = &data.log;
    let rows = log.interactions.len();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values(
                log.interactions.iter().map(|i| i64::from(i.user)),
            )),
        ),
        (
            "item_id",
            Arc::new(Int64Array::from_iter_values(
                log.interactions.iter().map(|i| i64::from(i.item)),
            )),
        ),
        (
            "rating",
            Arc::new(Float32Array::from_iter_values(
                log.interactions.iter().map(|i| i.rating),
            )),
        ),
        (
            "timestamp",
            Arc::new(Int64Array::from_iter_values(
                log.interactions.iter().map(|i| i.timestamp),
            )),
        ),
    ];
    let interactions_path = folder.join("interactions.parquet");
    write_batch(&interactions_path, columns)?;
    let items_path = folder.join("items.parquet");
    let n = log.catalog.len();
    write_batch(
        &items_path,
        vec![
            (
                "item_id",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
            ),
            (
                "title",
                Arc::new(StringArray::from_iter_values(log.catalog.titles())),
            ),
        ],
    )?;
    Ok(W3Fixture {
        interactions: interactions_path,
        items: items_path,
        rows,
    })
}

fn write_batch(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    let batch = RecordBatch::try_from_iter(columns).expect("columns of equal length");
    let mut sink = ParquetSink::create(path, batch.schema(), &WriteOptions::default())?;
    sink.write(&batch)?;
    sink.finish().map(|_| ())
}

/// The W3 conversion settings: 20 candidates, 19 popularity negatives, all of them rejected.
pub fn config(seed: u64) -> ConvertConfig {
    ConvertConfig {
        candidates: 20,
        negatives: 19,
        candidate_sampling: CandidateSampling::Popularity { alpha: 1.0 },
        seed,
        ..ConvertConfig::default()
    }
}

/// Loads the fixture's log and converts it into `output`.
pub fn convert_fixture(fixture: &W3Fixture, output: &Path, seed: u64) -> Result<ConvertSummary> {
    let log = LogSource::new(LogFormat::Interactions, &fixture.interactions)
        .with_items(&fixture.items)
        .load()?;
    convert(&log, &config(seed), output, &mut NoProgress)
}

/// Reads train/valid/test back and returns the number of rows.
pub fn read_back(output: &Path) -> Result<u64> {
    let mut rows = 0;
    for part in ["train", "valid", "test"] {
        let dataset = PreferenceDataset::open(output.join(format!("{part}.parquet")))?;
        for batch in dataset.reader(ReadOptions::default()) {
            rows += batch?.len() as u64;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3_pipeline_runs_end_to_end_on_a_small_log() {
        let folder = std::env::temp_dir().join(format!("prefopt-w3-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        let fixture = write_fixture(&folder, 20_000, 1).unwrap();
        assert!(fixture.rows > 15_000);
        let output = folder.join("out");
        let summary = convert_fixture(&fixture, &output, 1).unwrap();
        let written: u64 = summary.rows.values().sum();
        assert_eq!(read_back(&output).unwrap(), written);
        // Each user with ≥ 4 interactions gives one test row; every row has 19 rejected items.
        assert_eq!(summary.rows["test"], summary.users);
        let (records, _) = PreferenceDataset::open(output.join("valid.parquet"))
            .unwrap()
            .read_all(ReadOptions::default())
            .unwrap();
        assert!(records.iter().all(|r| r.rejected.len() == 19));
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
