//! # prefopt-eval
//!
//! Will hold: ranking metrics (HitRatio@K, NDCG@K, MRR, Recall@K with pessimistic ties), metrics
//! from generations (HitRatio@1, ValidRatio, hallucination rate), popularity-bias measures,
//! preference accuracy, and statistics (means with 95% CIs, paired tests) on statrs. It uses no
//! ML framework.
