//! Metrics of generated answers against a candidate set (`docs/methods/rec.md` §1): an answer
//! matches a candidate when the candidate's title is a substring of it. S-DPO's convention
//! counts a hit when exactly one candidate matches and the target's title is in the answer
//! (invalid answers are misses); LLaRA's lower-cases both, needs the one matched candidate to be
//! the target, and divides by the valid answers only.

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// What one answer was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// Exactly one candidate's title appears in the answer.
    Valid,
    /// No candidate appears, but some catalog title does (a real item outside the set).
    NoCandidateInCatalog,
    /// Neither a candidate nor any catalog title appears: the item does not exist.
    NotInCatalog,
    /// More than one candidate appears.
    MultiCandidate,
}

/// One scored answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerOutcome {
    pub kind: AnswerKind,
    /// S-DPO's hit: valid and the target's title is a substring of the answer.
    pub hit: bool,
    /// LLaRA's validity: exactly one candidate matches after lower-casing and trimming.
    pub valid_lowercase: bool,
    /// LLaRA's hit: valid after lower-casing and trimming, and the matched candidate is the target.
    pub hit_lowercase: bool,
}

/// Scores one answer. `catalog` (every item title) separates hallucinated items from real items
/// outside the candidate set; pass an empty slice when it is not known (then every non-matching
/// answer counts as `NotInCatalog`).
pub fn score_answer(
    answer: &str,
    candidates: &[&str],
    target: usize,
    catalog: &[&str],
    example: usize,
) -> Result<AnswerOutcome> {
    if candidates.is_empty() {
        return Err(EvalError::EmptyCandidates { example });
    }
    let target_title = *candidates.get(target).ok_or(EvalError::TargetOutOfRange {
        example,
        target,
        candidates: candidates.len(),
    })?;
    let matched: Vec<usize> = (0..candidates.len())
        .filter(|&i| answer.contains(candidates[i]))
        .collect();
    let kind = match matched.len() {
        1 => AnswerKind::Valid,
        0 if catalog.iter().any(|title| answer.contains(title)) => AnswerKind::NoCandidateInCatalog,
        0 => AnswerKind::NotInCatalog,
        _ => AnswerKind::MultiCandidate,
    };
    let hit = kind == AnswerKind::Valid && answer.contains(target_title);
    let lower = answer.trim().to_lowercase();
    let lower_matched: Vec<usize> = (0..candidates.len())
        .filter(|&i| lower.contains(&candidates[i].trim().to_lowercase()))
        .collect();
    Ok(AnswerOutcome {
        kind,
        hit,
        valid_lowercase: lower_matched.len() == 1,
        hit_lowercase: lower_matched == [target],
    })
}

/// Rates over a set of answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenerationSummary {
    pub answers: usize,
    /// S-DPO's HitRatio@1 (invalid answers are misses).
    pub hit_ratio_at_1: f64,
    /// LLaRA's HitRatio@1: lower-case hits over lower-case valid answers (NaN with none valid).
    pub hit_ratio_at_1_given_valid: f64,
    pub valid_ratio: f64,
    /// 1 − ValidRatio, split by kind.
    pub no_candidate_rate: f64,
    pub not_in_catalog_rate: f64,
    pub multi_candidate_rate: f64,
}

impl GenerationSummary {
    pub fn new(outcomes: &[AnswerOutcome]) -> Result<Self> {
        if outcomes.is_empty() {
            return Err(EvalError::Empty("generated answers"));
        }
        let n = outcomes.len() as f64;
        let rate = |f: &dyn Fn(&AnswerOutcome) -> bool| {
            outcomes.iter().filter(|o| f(o)).count() as f64 / n
        };
        let valid_lowercase = outcomes.iter().filter(|o| o.valid_lowercase).count();
        let lowercase_hits = outcomes.iter().filter(|o| o.hit_lowercase).count();
        Ok(Self {
            answers: outcomes.len(),
            hit_ratio_at_1: rate(&|o| o.hit),
            hit_ratio_at_1_given_valid: if valid_lowercase == 0 {
                f64::NAN
            } else {
                lowercase_hits as f64 / valid_lowercase as f64
            },
            valid_ratio: rate(&|o| o.kind == AnswerKind::Valid),
            no_candidate_rate: rate(&|o| {
                matches!(
                    o.kind,
                    AnswerKind::NoCandidateInCatalog | AnswerKind::NotInCatalog
                )
            }),
            not_in_catalog_rate: rate(&|o| o.kind == AnswerKind::NotInCatalog),
            multi_candidate_rate: rate(&|o| o.kind == AnswerKind::MultiCandidate),
        })
    }
}
