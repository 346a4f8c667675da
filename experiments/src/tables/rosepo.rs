//! The RosePO ablations (`docs/methods/rec.md` §5): rejected-sampling strategies for helpfulness
//! (random vs self-hard), the two bias mitigations (semantic-neighbour and popularity-aware
//! negatives), and personalized smoothing from the preference oracle vs none vs a constant,
//! under injected label noise.

use prefopt_objectives::ObjectiveConfig;

use crate::config::{PreferenceConfig, RejectedStrategy, Smoothing};
use crate::error::Result;
use crate::report::plots::{Bar, bar_chart};
use crate::report::{Section, Table};
use crate::tables::{
    Job, Outcome, TableContext, claim_from_values, claim_greater, curves, describe, row,
    top_popularity,
};

const COLUMNS: [&str; 11] = [
    "HR@1",
    "HR@5",
    "NDCG@5",
    "NDCG@10",
    "ValidRatio",
    "halluc. rate",
    "top-1 pop",
    "head share",
    "gini",
    "coverage",
    "train s",
];

fn rosepo(beta: f64) -> Result<ObjectiveConfig> {
    Ok(ObjectiveConfig::from_name("rosepo")?.with_beta(beta))
}

pub fn run(context: &TableContext<'_>) -> Result<Section> {
    let pipeline = context.pipeline;
    let grid = &pipeline.config.rosepo;
    let base = &pipeline.config.preference;
    let popularity = pipeline.dataset.popularity();
    let pairwise = |rejected: Vec<RejectedStrategy>,
                    smoothing: Smoothing,
                    noise: f64|
     -> Result<PreferenceConfig> {
        Ok(PreferenceConfig {
            objective: rosepo(1.0)?,
            negatives: 1,
            rejected,
            smoothing,
            label_noise: noise,
            ..base.clone()
        })
    };
    let none = Smoothing::Constant(0.0);
    use RejectedStrategy::{Popularity, Random, SelfHard, Semantic};

    let mut jobs = Vec::new();
    for (method, strategies) in [
        ("DPO, random negatives", vec![Random]),
        ("RosePO self-hard", vec![SelfHard]),
        ("RosePO semantic", vec![Semantic]),
        ("RosePO popularity", vec![Popularity]),
        ("RosePO all three", vec![SelfHard, Semantic, Popularity]),
    ] {
        let settings = format!(
            "ε = 0, {}",
            strategies
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(" + ")
        );
        jobs.push(Job::new(
            method,
            &settings,
            pairwise(strategies, none, 0.0)?,
            true,
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
            pairwise(vec![SelfHard], smoothing, noise)?,
            false,
        ));
    }
    let mut outcomes = vec![context.sft_outcome()];
    let mut noisy = Vec::new();
    let main: Vec<bool> = jobs.iter().map(|j| j.main).collect();
    for (outcome, main) in context.run_all(jobs)?.into_iter().zip(main) {
        if main {
            outcomes.push(outcome);
        } else {
            noisy.push(outcome);
        }
    }

    let sft_eval = context.sft_evaluation;
    let columns: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    let table = Table {
        id: "rosepo".into(),
        title: "RosePO rejected sampling".into(),
        columns: columns.clone(),
        baseline: "SFT".into(),
        compared: "HR@1".into(),
        rows: outcomes
            .iter()
            .map(|o| row(o, &COLUMNS, popularity, Some(sft_eval)))
            .collect::<Result<_>>()?,
    };
    let smoothing_table = Table {
        id: "rosepo_smoothing".into(),
        title: format!("RosePO smoothing under {:.0}% label noise", noise * 100.0),
        columns,
        baseline: "SFT".into(),
        compared: "HR@1".into(),
        rows: noisy
            .iter()
            .map(|o| row(o, &COLUMNS, popularity, Some(sft_eval)))
            .collect::<Result<_>>()?,
    };

    let [sft, random, self_hard, semantic, popular, _all] = &outcomes[..] else {
        unreachable!("six rows were pushed above")
    };
    let mut claims = vec![
        claim_greater(
            "self-hard negatives > random negatives on HitRatio@1 (§5(f) trend 1)",
            self_hard,
            random,
            "HR@1",
            false,
        )?,
        claim_greater(
            "DPO with random in-candidate negatives > SFT (§5(f) trend 1)",
            random,
            sft,
            "HR@1",
            false,
        )?,
    ];
    if random.evaluation.answers.is_some() {
        claims.push(claim_greater(
            "semantic negatives raise ValidRatio over random ones (§5(f) trend 2)",
            semantic,
            random,
            "ValidRatio",
            false,
        )?);
    }
    let (pop_popular, head_popular) = top_popularity(&popular.evaluation, popularity);
    let (pop_random, head_random) = top_popularity(&random.evaluation, popularity);
    claims.push(claim_from_values(
        "popularity negatives lower the popularity of top-1 recommendations (§5(f) trend 3)",
        &pop_popular,
        &pop_random,
        &describe(popular),
        &describe(random),
        "top-1 popularity",
        true,
    )?);
    claims.push(claim_from_values(
        "popularity negatives lower the head share of top-1 recommendations (§5(f) trend 3)",
        &head_popular,
        &head_random,
        &describe(popular),
        &describe(random),
        "head share",
        true,
    )?);
    let [dpo_noisy, cdpo, rosepo_noisy] = &noisy[..] else {
        unreachable!("three rows")
    };
    claims.push(claim_greater(
        "with noisy labels, oracle ε > constant ε (§5(f) trend 4)",
        rosepo_noisy,
        cdpo,
        "HR@1",
        false,
    )?);
    claims.push(claim_greater(
        "with noisy labels, constant ε > ε = 0 (§5(f) trend 4)",
        cdpo,
        dpo_noisy,
        "HR@1",
        false,
    )?);

    let hr_bars: Vec<Bar> = table
        .rows
        .iter()
        .chain(&smoothing_table.rows)
        .map(|r| Bar::of(r.method.clone(), &r.metrics["HR@1"]))
        .collect();
    let popularity_bars: Vec<Bar> = table
        .rows
        .iter()
        .map(|r| Bar::of(r.method.clone(), &r.metrics["top-1 pop"]))
        .collect();
    let mut plots = vec![
        bar_chart(
            context.out,
            "rosepo_hr1.svg",
            "HitRatio@1 (95% CI)",
            "HR@1",
            &hr_bars,
            "HitRatio@1 of the RosePO ablations",
        )?,
        bar_chart(
            context.out,
            "rosepo_popularity.svg",
            "Popularity of the top-1 recommendation (95% CI)",
            "training count",
            &popularity_bars,
            "mean training popularity of the top-ranked candidate",
        )?,
    ];
    let mut all: Vec<Outcome> = outcomes;
    all.extend(noisy);
    plots.extend(curves(context.out, &all, "rosepo")?);

    Ok(Section {
        heading: "RosePO ablations (docs/methods/rec.md §5)".into(),
        paragraphs: vec![
            "RosePO's code is not public; every rule here is this library's reading of the abstract \
             (`docs/methods/rec.md` §5, tagged [decision]). One rejected item per prompt and strategy; the \
             loss is RosePO's smoothed DPO with β = 1 (ε = 0 is DPO, a constant ε is cDPO). Self-hard \
             negatives are the SFT model's highest-scored wrong candidates; semantic negatives the \
             catalog items whose titles are nearest to the target's (hashed word and trigram \
             embeddings); popularity negatives other candidates drawn ∝ popularity. The oracle is \
             the item-kNN recommender fitted on the training split, not the policy."
                .into(),
            format!(
                "Smoothing rows: {:.0}% of the training pairs have chosen and rejected swapped; ε of a \
                 pair is min({}, σ((s_rejected − s_chosen)/(τ·sd))) from the oracle's scores s.",
                grid.label_noise * 100.0,
                grid.oracle_max
            ),
        ],
        table,
        extra_tables: vec![smoothing_table],
        claims,
        plots,
    })
}
