//! # prefopt-benches
//!
//! Criterion benchmarks, one bench target per workload of DESIGN.md §7:
//! `w1` (every loss, forward + backward, B = 64, K ∈ {1, 20}, flex); `w2`…`w4` are added by the
//! issues that build those workloads. Run one with `cargo bench -p prefopt-benches --bench w1`.
//!
//! The library part only names the losses W1 sweeps, so the list is shared and tested.

/// The losses W1 times: every objective of prefopt-objectives under its canonical name.
pub const W1_LOSSES: [&str; 31] = [
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
    "sigmoid+bco_pair+sft",
    "cdpo",
    "cpo",
    "simpo",
    "alphapo",
    "orpo",
    "kto",
    "apo_zero_unpaired",
    "sdpo",
    "dmpo",
    "dmpo/official_pairwise",
    "dynamicpo/dynamic_beta",
    "rosepo",
    "rpo/paired",
    "pdpo",
    "lipo",
];

#[cfg(test)]
mod tests {
    use super::W1_LOSSES;
    use prefopt_objectives::ObjectiveConfig;

    #[test]
    fn every_w1_loss_name_parses_and_validates() {
        for name in W1_LOSSES {
            ObjectiveConfig::from_name(name)
                .and_then(|c| c.check())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
