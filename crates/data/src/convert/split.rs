//! Train/valid/test splits of sequential data.

use super::sequences::UserSequence;
use crate::error::{DataError, Result};

/// How examples are divided.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Split {
    /// Each user's last interaction is the test target, the one before the validation target,
    /// all earlier ones are training targets (the SASRec/BERT4Rec protocol; the default).
    #[default]
    LeaveLastOut,
    /// All examples ordered by their target's time and cut at the `train` and `train + valid`
    /// fractions (the chronological 8:1:1 split LLaRA and S-DPO use).
    Chronological { train: f64, valid: f64 },
}

impl std::str::FromStr for Split {
    type Err = DataError;

    /// `leave-last-out`, or `chronological` (8:1:1), or `chronological:0.8:0.1`.
    fn from_str(text: &str) -> Result<Self> {
        let mut parts = text.split(':');
        match parts.next() {
            Some("leave-last-out" | "loo") if parts.next().is_none() => Ok(Self::LeaveLastOut),
            Some("chronological" | "ratio") => {
                let fractions: Vec<&str> = parts.collect();
                let (train, valid) = match fractions.as_slice() {
                    [] => (0.8, 0.1),
                    [train, valid] => (
                        train.parse().map_err(|_| bad(text))?,
                        valid.parse().map_err(|_| bad(text))?,
                    ),
                    _ => return Err(bad(text)),
                };
                let split = Self::Chronological { train, valid };
                split.check()?;
                Ok(split)
            }
            _ => Err(bad(text)),
        }
    }
}

fn bad(text: &str) -> DataError {
    DataError::parameter(
        "split",
        format!("`{text}`: use leave-last-out, chronological or chronological:TRAIN:VALID"),
    )
}

impl Split {
    pub fn check(&self) -> Result<()> {
        if let Self::Chronological { train, valid } = *self
            && !(train > 0.0 && valid >= 0.0 && train + valid <= 1.0)
        {
            return Err(DataError::parameter(
                "split",
                format!("fractions train {train} and valid {valid} must be > 0, ≥ 0, sum ≤ 1"),
            ));
        }
        Ok(())
    }
}

/// The part an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Train,
    Valid,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Valid, Part::Test];

    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Valid => "valid",
            Self::Test => "test",
        }
    }
}

/// A split resolved against the data: where each example goes, and which interactions training
/// may see (the popularity counts of the negative samplers use only those).
#[derive(Debug, Clone)]
pub struct SplitPlan {
    split: Split,
    min_history: usize,
    /// Chronological cut points: keys below `valid_from` are train, below `test_from` valid.
    valid_from: (i64, u64),
    test_from: (i64, u64),
}

impl SplitPlan {
    pub fn new(split: Split, min_history: usize, sequences: &[UserSequence]) -> Self {
        let (mut valid_from, mut test_from) = ((i64::MAX, u64::MAX), (i64::MAX, u64::MAX));
        if let Split::Chronological { train, valid } = split {
            let mut keys: Vec<(i64, u64)> = sequences
                .iter()
                .flat_map(|s| (min_history..s.len()).map(move |i| s.key(i)))
                .collect();
            keys.sort_unstable();
            let n = keys.len();
            let at = |fraction: f64| {
                let index = ((fraction * n as f64).round() as usize).min(n);
                keys.get(index).copied().unwrap_or((i64::MAX, u64::MAX))
            };
            valid_from = at(train);
            test_from = at(train + valid);
        }
        Self {
            split,
            min_history,
            valid_from,
            test_from,
        }
    }

    /// The part of the example whose target is position `i`, or `None` when it has too little
    /// history to be an example.
    pub fn part(&self, sequence: &UserSequence, i: usize) -> Option<Part> {
        if i < self.min_history {
            return None;
        }
        Some(match self.split {
            Split::LeaveLastOut => match sequence.len() - 1 - i {
                0 => Part::Test,
                1 => Part::Valid,
                _ => Part::Train,
            },
            Split::Chronological { .. } => {
                let key = sequence.key(i);
                if key < self.valid_from {
                    Part::Train
                } else if key < self.test_from {
                    Part::Valid
                } else {
                    Part::Test
                }
            }
        })
    }

    /// Whether the interaction at position `i` is visible to training.
    pub fn visible_in_training(&self, sequence: &UserSequence, i: usize) -> bool {
        match self.split {
            Split::LeaveLastOut => i + 2 < sequence.len(),
            Split::Chronological { .. } => sequence.key(i) < self.valid_from,
        }
    }
}
