//! Preference datasets in TRL's formats, read unchanged: what a user of TRL's `DPOTrainer`,
//! `KTOTrainer` or `CPOTrainer` already has on disk.
//!
//! | format | columns |
//! |---|---|
//! | standard | `prompt`, `chosen`, `rejected` strings |
//! | implicit prompt | `chosen`, `rejected` only: the prompt is their shared beginning |
//! | conversational | each of the above a list of `{role, content}` messages |
//! | unpaired (KTO) | `prompt`, `completion`, `label` (bool) |
//!
//! This project's extensions ride along in optional columns: `rejected` as a list (K negatives,
//! strings or conversations), `user_id` (P-DPO, per-user metrics), `weight`, `smoothing`, and
//! cached reference log-probs (`ref_chosen_logp` / `ref_rejected_logps`; `ref_logp` for
//! unpaired rows). Files are Parquet or JSON Lines, a single file or a Hugging Face dataset
//! folder (`data/<split>-*.parquet`).
//!
//! Every row is checked as it is read: a row that fits no format, or another format than the
//! dataset's first row, is an error naming the file, the row and the column.
//!
//! ```no_run
//! use prefopt_data::trl::{TrlDataset, TrlRows};
//!
//! let dataset = TrlDataset::read("datasets/ultrafeedback", "train")?;
//! if let TrlRows::Paired(rows) = &dataset.rows {
//!     println!("{} pairs, {:?}", rows.len(), dataset.format);
//! }
//! # Ok::<(), prefopt_data::DataError>(())
//! ```

mod files;
mod json_rows;
mod prompt;
mod rows;
mod write;

use std::path::{Path, PathBuf};

use crate::error::Result;

pub use files::split_files;
pub use prompt::{extract_conversation_prompt, extract_text_prompt};
pub use write::write_parquet;

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// The role as chat templates spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "system" => Self::System,
            "user" => Self::User,
            "assistant" => Self::Assistant,
            "tool" => Self::Tool,
            _ => return None,
        })
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A prompt or a completion: plain text (standard format) or messages (conversational).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    Plain(String),
    Conversation(Vec<Message>),
}

/// Whether a dataset's texts are strings or conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Standard,
    Conversational,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Conversational => "conversational",
        }
    }
}

/// Where a row came from, for errors raised after reading (a chat template that fails on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowOrigin {
    pub file: PathBuf,
    /// Counted from 0 within the file (Parquet rows as pyarrow counts them; JSON Lines from the
    /// first line).
    pub row: u64,
}

impl std::fmt::Display for RowOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: row {}", self.file.display(), self.row)
    }
}

/// The optional columns a row may carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    pub user_id: Option<i64>,
    pub weight: Option<f32>,
    pub smoothing: Option<f32>,
    /// Cached reference log-probs: of `chosen` (paired) or of `completion` (unpaired).
    pub ref_chosen_logp: Option<f64>,
    /// Cached reference log-probs of each rejected completion (paired).
    pub ref_rejected_logps: Option<Vec<f64>>,
}

/// A prompt with one chosen and K ≥ 1 rejected completions.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedRow {
    pub origin: RowOrigin,
    pub prompt: Text,
    pub chosen: Text,
    pub rejected: Vec<Text>,
    /// The prompt was the shared beginning of `chosen` and `rejected` (no `prompt` column).
    pub implicit_prompt: bool,
    pub extras: Extras,
}

/// A prompt with one completion labelled desirable or not (KTO's format).
#[derive(Clone, Debug, PartialEq)]
pub struct UnpairedRow {
    pub origin: RowOrigin,
    pub prompt: Text,
    pub completion: Text,
    /// `true`: desirable.
    pub label: bool,
    pub extras: Extras,
}

/// A dataset's rows, all of one kind.
#[derive(Clone, Debug, PartialEq)]
pub enum TrlRows {
    Paired(Vec<PairedRow>),
    Unpaired(Vec<UnpairedRow>),
}

impl TrlRows {
    pub fn len(&self) -> usize {
        match self {
            Self::Paired(rows) => rows.len(),
            Self::Unpaired(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `paired` or `unpaired`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Paired(_) => "paired",
            Self::Unpaired(_) => "unpaired",
        }
    }
}

/// A TRL-format split, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TrlDataset {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    pub format: Format,
    pub rows: TrlRows,
}

impl TrlDataset {
    /// Reads split `split` of `path`: a `.parquet` / `.jsonl` / `.json` file (the split name is
    /// then unused), or a dataset folder holding `data/<split>-*.parquet` (the Hugging Face Hub
    /// layout), `<split>-*.parquet`, `<split>.parquet` or `<split>.jsonl`.
    pub fn read(path: impl AsRef<Path>, split: &str) -> Result<Self> {
        let files = split_files(path.as_ref(), split)?;
        rows::read_files(files)
    }

    /// Reads the given files as one split.
    pub fn read_files(files: Vec<PathBuf>) -> Result<Self> {
        rows::read_files(files)
    }

    /// Removes the last `count` rows (keeping the first ones).
    pub fn hold_out_last(&mut self, count: usize) {
        match &mut self.rows {
            TrlRows::Paired(rows) => rows.truncate(rows.len().saturating_sub(count)),
            TrlRows::Unpaired(rows) => rows.truncate(rows.len().saturating_sub(count)),
        }
    }

    /// Holds a seeded sample of `count` rows back as a second dataset (an evaluation split cut
    /// from a training file). Both keep file order and their rows' origins.
    pub fn hold_out(&mut self, count: usize, seed: u64) -> Self {
        use rand::SeedableRng;
        use rand::seq::index::sample;
        let total = self.rows.len();
        let mut held = vec![false; total];
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        for index in sample(&mut rng, total, count.min(total)) {
            held[index] = true;
        }
        fn part<T>(rows: &mut Vec<T>, held: &[bool]) -> Vec<T> {
            let (out, kept): (Vec<_>, Vec<_>) = std::mem::take(rows)
                .into_iter()
                .zip(held)
                .partition(|(_, h)| **h);
            *rows = kept.into_iter().map(|(r, _)| r).collect();
            out.into_iter().map(|(r, _)| r).collect()
        }
        let rows = match &mut self.rows {
            TrlRows::Paired(rows) => TrlRows::Paired(part(rows, &held)),
            TrlRows::Unpaired(rows) => TrlRows::Unpaired(part(rows, &held)),
        };
        Self {
            files: self.files.clone(),
            format: self.format,
            rows,
        }
    }
}
