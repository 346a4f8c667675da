//! `prefopt data inspect`: the schema, size and summary statistics of a preference dataset,
//! computed in one streaming pass that also validates every row.

use std::collections::HashSet;
use std::fmt;

use crate::error::Result;
use crate::parquet_io::{PreferenceDataset, ReadOptions, ReadReport};
use crate::progress::Progress;
use crate::schema::Columns;

/// Running min / mean / max of a quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Default for Range {
    fn default() -> Self {
        Self {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Range {
    pub fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.count += 1;
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return write!(f, "-");
        }
        write!(
            f,
            "min {} / mean {:.2} / max {}",
            self.min,
            self.mean(),
            self.max
        )
    }
}

/// What `inspect` reports.
#[derive(Debug, Clone, Default)]
pub struct DatasetSummary {
    pub files: usize,
    /// The first file's Arrow schema, as written.
    pub schema: String,
    pub columns: Columns,
    pub rows: u64,
    pub rejected_per_row: Range,
    pub prompt_chars: Range,
    pub chosen_chars: Range,
    pub distinct_users: Option<usize>,
    pub item_ids: Range,
    pub history_length: Range,
    pub candidates_per_row: Range,
    pub weight: Range,
    pub smoothing: Range,
    pub report: ReadReport,
}

/// Reads the whole dataset once (validating every row with `options`) and summarizes it.
pub fn summarize(
    dataset: &PreferenceDataset,
    options: ReadOptions,
    progress: &mut dyn Progress,
) -> Result<DatasetSummary> {
    let mut summary = DatasetSummary {
        files: dataset.files().len(),
        columns: dataset.columns()?,
        ..DatasetSummary::default()
    };
    if let Some(first) = dataset.files().first() {
        let builder = crate::parquet_io::decoder::open(first)?;
        summary.schema = builder
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "  {}: {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " not null" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    progress.stage("validating", Some(dataset.num_rows()?));
    let mut users = HashSet::new();
    let mut reader = dataset.reader(options);
    for batch in reader.by_ref() {
        let batch = batch?;
        for record in &batch {
            summary.rows += 1;
            summary.rejected_per_row.add(record.rejected.len() as f64);
            summary
                .prompt_chars
                .add(record.prompt.chars().count() as f64);
            summary
                .chosen_chars
                .add(record.chosen.chars().count() as f64);
            if let Some(user) = record.user_id {
                users.insert(user);
            }
            for &item in record
                .chosen_item
                .iter()
                .chain(record.rejected_items.iter().flatten())
            {
                summary.item_ids.add(item as f64);
            }
            if let Some(history) = &record.history_items {
                summary.history_length.add(history.len() as f64);
            }
            if let Some(candidates) = &record.candidate_items {
                summary.candidates_per_row.add(candidates.len() as f64);
            }
            if let Some(w) = record.weight {
                summary.weight.add(f64::from(w));
            }
            if let Some(s) = record.smoothing {
                summary.smoothing.add(f64::from(s));
            }
        }
        progress.advance(batch.len() as u64);
    }
    progress.finish_stage();
    summary.report = reader.report().clone();
    summary.distinct_users = summary.columns.user_id.then_some(users.len());
    Ok(summary)
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "files:            {}", self.files)?;
        writeln!(f, "schema:\n{}", self.schema)?;
        writeln!(f, "rows:             {}", self.rows)?;
        writeln!(f, "rejected per row: {}", self.rejected_per_row)?;
        writeln!(f, "prompt chars:     {}", self.prompt_chars)?;
        writeln!(f, "chosen chars:     {}", self.chosen_chars)?;
        if let Some(users) = self.distinct_users {
            writeln!(f, "distinct users:   {users}")?;
        }
        let optional = [
            ("item ids", &self.item_ids),
            ("history length", &self.history_length),
            ("candidates", &self.candidates_per_row),
            ("weight", &self.weight),
            ("smoothing", &self.smoothing),
        ];
        for (name, range) in optional {
            if range.count > 0 {
                writeln!(f, "{:<18}{range}", format!("{name}:"))?;
            }
        }
        if self.report.rows_skipped == 0 {
            return write!(f, "valid:            every row passed validation");
        }
        write!(f, "skipped rows:     {} invalid", self.report.rows_skipped)?;
        for (column, count) in &self.report.skipped_by_column {
            write!(f, "\n  {column}: {count}")?;
        }
        Ok(())
    }
}
