//! # prefopt-user-models
//!
//! Will hold: P-RLHF user models (individual and cluster user embeddings as soft prompt tokens,
//! trained jointly with the policy under P-DPO) and LoRe low-rank reward factorization (basis
//! rewards, per-user simplex weights, few-shot fitting of new users). Linear algebra on ndarray,
//! decompositions with faer; it depends on prefopt-objectives, never on experiments.
