//! The runs of the RosePO ablations: one rejected item per prompt and strategy, and the
//! smoothing comparison under injected label noise. Results are held by role.

use prefopt_objectives::ObjectiveConfig;

use crate::config::{PreferenceConfig, RejectedStrategy, Smoothing};
use crate::error::{ExperimentError, Result};
use crate::rec::table::{Job, Outcome, TableContext};

/// Every evaluated run of the ablations.
pub struct RosepoRuns {
    pub sft: Outcome,
    /// The rejected-sampling rows (ε = 0, no label noise).
    pub sampling: SamplingRuns,
    /// The smoothing rows (self-hard negatives, `label_noise` of the pairs swapped).
    pub smoothing: SmoothingRuns,
}

pub struct SamplingRuns {
    pub random: Outcome,
    pub self_hard: Outcome,
    pub semantic: Outcome,
    pub popularity: Outcome,
    pub all_three: Outcome,
}

pub struct SmoothingRuns {
    /// ε = 0 (DPO on noisy labels).
    pub none: Outcome,
    /// A constant ε (cDPO).
    pub constant: Outcome,
    /// ε of each pair from the preference oracle (RosePO).
    pub oracle: Outcome,
}

impl RosepoRuns {
    /// The rows of the main table, in order.
    pub fn main_rows(&self) -> Vec<&Outcome> {
        let s = &self.sampling;
        vec![
            &self.sft,
            &s.random,
            &s.self_hard,
            &s.semantic,
            &s.popularity,
            &s.all_three,
        ]
    }

    /// The rows of the smoothing table, in order.
    pub fn smoothing_rows(&self) -> Vec<&Outcome> {
        let s = &self.smoothing;
        vec![&s.none, &s.constant, &s.oracle]
    }
}

/// A pairwise RosePO run (β = 1, one rejected item).
fn pairwise(
    base: &PreferenceConfig,
    rejected: Vec<RejectedStrategy>,
    smoothing: Smoothing,
    noise: f64,
) -> Result<PreferenceConfig> {
    Ok(PreferenceConfig {
        objective: ObjectiveConfig::from_name("rosepo")?.with_beta(1.0),
        negatives: 1,
        rejected,
        smoothing,
        label_noise: noise,
        ..base.clone()
    })
}

/// The five sampling jobs, then the three smoothing jobs.
fn plan(context: &TableContext<'_>) -> Result<Vec<Job>> {
    use RejectedStrategy::{Popularity, Random, SelfHard, Semantic};
    let grid = &context.pipeline.config.rosepo;
    let base = &context.pipeline.config.preference;
    let none = Smoothing::Constant(0.0);
    let mut jobs = Vec::new();
    for (method, strategies) in [
        ("DPO, random negatives", vec![Random]),
        ("RosePO self-hard", vec![SelfHard]),
        ("RosePO semantic", vec![Semantic]),
        ("RosePO popularity", vec![Popularity]),
        ("RosePO all three", vec![SelfHard, Semantic, Popularity]),
    ] {
        let names: Vec<&str> = strategies.iter().map(|s| s.name()).collect();
        let settings = format!("ε = 0, {}", names.join(" + "));
        jobs.push(Job::new(
            method,
            &settings,
            pairwise(base, strategies, none, 0.0)?,
        ));
    }
    let noise = grid.label_noise;
    let oracle = Smoothing::Oracle {
        temperature: grid.oracle_temperature,
        max: grid.oracle_max,
    };
    for (method, smoothing, settings) in [
        ("DPO (ε = 0)", none, "ε = 0".to_string()),
        (
            "cDPO (constant ε)",
            Smoothing::Constant(grid.constant_smoothing),
            format!("ε = {}", grid.constant_smoothing),
        ),
        (
            "RosePO (oracle ε)",
            oracle,
            format!("ε from item-kNN, τ = {}", grid.oracle_temperature),
        ),
    ] {
        let settings = format!(
            "{settings}, self-hard, {:.0}% labels swapped",
            noise * 100.0
        );
        jobs.push(Job::new(
            method,
            &settings,
            pairwise(base, vec![SelfHard], smoothing, noise)?,
        ));
    }
    Ok(jobs)
}

/// Trains and evaluates every run of the ablations.
pub fn run_table(context: &TableContext<'_>) -> Result<RosepoRuns> {
    let jobs = plan(context)?;
    let outcomes = context.run_all(&jobs)?;
    let Ok(
        [
            random,
            self_hard,
            semantic,
            popularity,
            all_three,
            none,
            constant,
            oracle,
        ],
    ) = <[Outcome; 8]>::try_from(outcomes)
    else {
        return Err(ExperimentError::Invalid(
            "the RosePO ablations expect eight runs".into(),
        ));
    };
    Ok(RosepoRuns {
        sft: context.sft_outcome(),
        sampling: SamplingRuns {
            random,
            self_hard,
            semantic,
            popularity,
            all_three,
        },
        smoothing: SmoothingRuns {
            none,
            constant,
            oracle,
        },
    })
}
