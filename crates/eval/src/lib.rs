//! # prefopt-eval
//!
//! Ranking metrics over candidate sets (HitRatio@K, NDCG@K, MRR, Recall@K; ties counted
//! against the target), metrics of generated answers (HitRatio@1 in S-DPO's and LLaRA's
//! conventions, ValidRatio, hallucination rates), popularity bias of recommendations (mean and
//! relative popularity, head share, Gini, coverage), preference accuracy and margins, and
//! statistics (means with 95% CIs, paired tests against a baseline) on statrs. No ML framework.
//!
//! ```
//! use prefopt_eval::ranking::RankingMetrics;
//! use prefopt_eval::stats::mean_ci;
//!
//! // Two examples: the target (index 0) ranks 1st, then 3rd behind a tie.
//! let metrics = RankingMetrics::new(&[vec![0.9, 0.1, 0.2], vec![0.4, 0.4, 0.7]], &[0, 0])?;
//! assert_eq!(metrics.ranks, vec![1, 3]);
//! let hit = mean_ci(&metrics.hit_ratio(1))?;
//! assert_eq!(hit.mean, 0.5);
//! # Ok::<(), prefopt_eval::EvalError>(())
//! ```

pub mod bias;
pub mod error;
pub mod generation;
pub mod preference;
pub mod ranking;
pub mod stats;

pub use error::{EvalError, Result};
