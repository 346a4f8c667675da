//! Recommendation objectives of the seed papers (`docs/methods/rec.md`): S-DPO, DMPO (paper form and
//! official pairwise code), DynamicPO's dynamic-β hard-negative loss, and RosePO's per-example
//! label smoothing (with cDPO, its constant-ε special case).

pub mod dmpo;
pub mod dynamicpo;
pub mod rosepo;
pub mod sdpo;
mod sklearn_kmeans;
