//! Evaluation of a policy on a split, per `docs/methods/rec.md` §1: the candidate ranking by
//! sequence log-prob (HitRatio@K, NDCG@K, MRR, ties against the target), a greedy answer per
//! prompt scored as text against the candidate titles (both HitRatio@1 conventions,
//! ValidRatio, hallucination kinds), and the popularity of the top-ranked candidates.
//! Per-example values are kept so that tables carry confidence intervals and paired tests.

use prefopt_data::PreferenceRecord;
use prefopt_eval::bias::{PopularityBias, popularity_bias};
use prefopt_eval::generation::{AnswerKind, AnswerOutcome, GenerationSummary, score_answer};
use prefopt_eval::ranking::{RankingMetrics, hit_at, ndcg_at, reciprocal_rank};
use prefopt_models::generate::{GenerateConfig, generate};
use prefopt_models::pool::run_in_order;
use prefopt_models::ranking::candidate_scores;
use prefopt_models::tokenizer::{EncodedExample, Tokenizer};
use prefopt_models::transformer::Transformer;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What one model did on one split, example by example (kept as JSON beside a finished run
/// so that a resumed table does not evaluate it again).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// 1-based rank of the target among the candidates (ties against it).
    pub ranks: Vec<usize>,
    /// The top-ranked candidate's item id.
    pub top_items: Vec<usize>,
    pub targets: Vec<usize>,
    /// Greedy answers and how each was scored as text (when generation is on).
    pub answers: Option<Vec<Answer>>,
}

/// One greedy answer: its text and how it was scored against the candidates.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    #[serde(rename = "answer")]
    pub text: String,
    #[serde(flatten)]
    pub outcome: AnswerOutcome,
}

/// A per-example metric of an [`Evaluation`]: what claims and plots ask for by value, and
/// what a table column names by its [`label`](Metric::label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// HitRatio@k of the candidate ranking.
    HitRatio(usize),
    /// NDCG@k of the candidate ranking.
    Ndcg(usize),
    /// Reciprocal rank of the target.
    Mrr,
    /// S-DPO's HitRatio@1 of the greedy answer (an invalid answer is a miss).
    GenerationHitRatio,
    /// The greedy answer names exactly one candidate.
    ValidRatio,
}

impl Metric {
    /// The ranking metrics every table can show.
    pub const RANKING: [Metric; 6] = [
        Metric::HitRatio(1),
        Metric::HitRatio(5),
        Metric::HitRatio(10),
        Metric::Ndcg(5),
        Metric::Ndcg(10),
        Metric::Mrr,
    ];

    /// The column name in tables and reports.
    pub fn label(self) -> String {
        match self {
            Self::HitRatio(k) => format!("HR@{k}"),
            Self::Ndcg(k) => format!("NDCG@{k}"),
            Self::Mrr => "MRR".into(),
            Self::GenerationHitRatio => "gen HitRatio@1".into(),
            Self::ValidRatio => "ValidRatio".into(),
        }
    }

    /// The metric a table column names (`None` for a column that is not a per-example
    /// metric, such as "train s").
    pub fn from_label(label: &str) -> Option<Self> {
        let cutoff = |prefix: &str| label.strip_prefix(prefix)?.parse::<usize>().ok();
        match label {
            "MRR" => Some(Self::Mrr),
            "gen HitRatio@1" => Some(Self::GenerationHitRatio),
            "ValidRatio" => Some(Self::ValidRatio),
            _ => cutoff("HR@")
                .map(Self::HitRatio)
                .or_else(|| cutoff("NDCG@").map(Self::Ndcg)),
        }
    }
}

impl Evaluation {
    /// Per-example values of a metric (`None` for a generation metric without generation).
    pub fn values(&self, metric: Metric) -> Option<Vec<f64>> {
        let ranks = || self.ranks.iter().copied();
        let answers = || self.answers.iter().flatten();
        let flag = |b: bool| f64::from(u8::from(b));
        Some(match metric {
            Metric::HitRatio(k) => ranks().map(|r| hit_at(r, k)).collect(),
            Metric::Ndcg(k) => ranks().map(|r| ndcg_at(r, k)).collect(),
            Metric::Mrr => ranks().map(reciprocal_rank).collect(),
            Metric::GenerationHitRatio if self.answers.is_some() => {
                answers().map(|a| flag(a.outcome.hit)).collect()
            }
            Metric::ValidRatio if self.answers.is_some() => answers()
                .map(|a| flag(a.outcome.kind == AnswerKind::Valid))
                .collect(),
            Metric::GenerationHitRatio | Metric::ValidRatio => return None,
        })
    }

    /// Mean HitRatio@1 (the number every table compares).
    pub fn hit_ratio_at_1(&self) -> f64 {
        crate::common::mean(&self.values(Metric::HitRatio(1)).unwrap_or_default())
    }

    pub fn generation(&self) -> Result<Option<GenerationSummary>> {
        Ok(match &self.answers {
            Some(answers) => {
                let outcomes: Vec<AnswerOutcome> = answers.iter().map(|a| a.outcome).collect();
                Some(GenerationSummary::new(&outcomes)?)
            }
            None => None,
        })
    }

    pub fn popularity(&self, popularity: &[u64]) -> Result<PopularityBias> {
        Ok(popularity_bias(popularity, &self.top_items, &self.targets)?)
    }
}

/// A summary row for JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationSummary {
    pub examples: usize,
    pub ranking: Vec<(String, f64)>,
    pub generation: Option<GenerationSummary>,
    pub popularity: PopularityBias,
}

/// Ranks every example's candidates and, when `generation` is set, answers each prompt greedily;
/// `threads` forward passes (ranking batches, or prompts being answered) run at once.
pub fn evaluate(
    model: &Transformer,
    tokenizer: &super::RecTokenizer,
    prompts: &Prompts<'_>,
    batch_size: usize,
    generation: Option<&GenerateConfig>,
    threads: usize,
) -> Result<Evaluation> {
    let pad = tokenizer.special().pad;
    let scores = candidate_scores(model, prompts.examples, batch_size, pad, threads)?;
    let mut evaluation = Evaluation::from_scores(&scores, prompts.records)?;
    if let Some(config) = generation {
        evaluation.answers = Some(answer_all(model, tokenizer, prompts, config, threads)?);
    }
    Ok(evaluation)
}

/// One line of an answers file: what a reader checks when ValidRatio or the generation
/// HitRatio look wrong.
#[derive(Serialize)]
struct AnswerLine<'a> {
    example: usize,
    target: &'a str,
    #[serde(flatten)]
    answer: &'a Answer,
}

impl Evaluation {
    /// Writes every greedy answer with its target title and how it was scored, one JSON line
    /// per test example, to `path` (nothing without generation).
    pub fn write_answers(&self, path: &std::path::Path, titles: &[String]) -> Result<()> {
        let Some(answers) = &self.answers else {
            return Ok(());
        };
        let mut out = String::new();
        for (example, (answer, &target)) in answers.iter().zip(&self.targets).enumerate() {
            let line = AnswerLine {
                example,
                target: titles.get(target).map_or("", String::as_str),
                answer,
            };
            out.push_str(&serde_json::to_string(&line)?);
            out.push('\n');
        }
        Ok(prefopt_data::atomic::write(path, out)?)
    }
}

impl Evaluation {
    /// The ranking part from any scorer's candidate scores (`scores[i]` in the order of
    /// `records[i].candidate_items`): a policy, popularity, the item-kNN oracle.
    pub fn from_scores(scores: &[Vec<f64>], records: &[PreferenceRecord]) -> Result<Self> {
        let candidates: Vec<&[prefopt_data::ItemId]> = records
            .iter()
            .map(|r| r.candidate_items.as_deref().unwrap_or(&[]))
            .collect();
        let targets: Vec<usize> = records
            .iter()
            .map(|r| r.chosen_item.unwrap_or(-1) as usize)
            .collect();
        let in_set: Vec<usize> = candidates
            .iter()
            .zip(records)
            .map(|(c, r)| {
                c.iter()
                    .position(|&i| Some(i) == r.chosen_item)
                    .unwrap_or(c.len())
            })
            .collect();
        let ranking = RankingMetrics::new(scores, &in_set)?;
        let top_items = candidates
            .iter()
            .zip(scores)
            .map(|(c, s)| {
                // The first of the best-scored candidates (prompt order breaks ties).
                let best = (0..s.len())
                    .max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                c.get(best).map_or(0, |&i| i as usize)
            })
            .collect();
        Ok(Self {
            ranks: ranking.ranks,
            top_items,
            targets,
            answers: None,
        })
    }
}

/// The split being evaluated: encoded prompts, their records and the catalog's titles.
pub struct Prompts<'a> {
    pub examples: &'a [EncodedExample],
    pub records: &'a [PreferenceRecord],
    pub titles: &'a [String],
}

/// A greedy answer to every prompt, `threads` prompts at once, in prompt order.
fn answer_all(
    model: &Transformer,
    tokenizer: &super::RecTokenizer,
    prompts: &Prompts<'_>,
    config: &GenerateConfig,
    threads: usize,
) -> Result<Vec<Answer>> {
    let special = tokenizer.special();
    let catalog: Vec<&str> = prompts.titles.iter().map(String::as_str).collect();
    let answer_one = |index: usize| -> Result<Answer> {
        let (example, record) = (&prompts.examples[index], &prompts.records[index]);
        let best = generate(
            model,
            &example.prompt,
            config,
            None,
            special.eos,
            special.pad,
        )?;
        let tokens = best.first().map(|g| g.tokens.as_slice()).unwrap_or(&[]);
        // The answer as text: item tokens become titles, a text model's answer is read as is.
        let answer = tokenizer.answer(tokens, &catalog)?;
        let candidates: Vec<&str> = record
            .candidate_items
            .iter()
            .flatten()
            .map(|&i| catalog[i as usize])
            .collect();
        let target = example.candidates.as_ref().map_or(0, |c| c.target);
        let outcome = score_answer(&answer, &candidates, target, &catalog, index)?;
        Ok(Answer {
            text: answer,
            outcome,
        })
    };
    let jobs = prompts.examples.len().min(prompts.records.len());
    let mut answers = Vec::with_capacity(jobs);
    for result in run_in_order(jobs, threads, answer_one) {
        match result {
            Some(answer) => answers.push(answer?),
            // Prompts after a failed one are not answered; the failure comes first.
            None => break,
        }
    }
    Ok(answers)
}
