//! The RosePO section: the sampling and smoothing tables, the abstract's trends as claims,
//! HitRatio@1 and popularity bars, training curves.

use crate::common::claims::claim_from_values;
use crate::common::plots::{Bar, bar_chart};
use crate::error::Result;
use crate::rec::evaluate::Metric;
use crate::rec::table::{
    Outcome, TableContext, claim_greater, curves, describe, sft_baseline_table, top_popularity,
};
use crate::report::{Claim, Plot, Section, Table};

use super::runs::RosepoRuns;

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

const HR1: Metric = Metric::HitRatio(1);

/// The section of the RosePO ablations.
pub fn section(context: &TableContext<'_>, runs: &RosepoRuns) -> Result<Section> {
    let grid = &context.pipeline.config.rosepo;
    let table = sft_baseline_table(
        context,
        "rosepo",
        "RosePO rejected sampling".into(),
        &COLUMNS,
        runs.main_rows(),
    )?;
    let smoothing_table = sft_baseline_table(
        context,
        "rosepo_smoothing",
        format!(
            "RosePO smoothing under {:.0}% label noise",
            grid.label_noise * 100.0
        ),
        &COLUMNS,
        runs.smoothing_rows(),
    )?;
    let mut plots = bars(context, &table, &smoothing_table)?;
    let all: Vec<Outcome> = runs
        .main_rows()
        .into_iter()
        .chain(runs.smoothing_rows())
        .cloned()
        .collect();
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
        claims: claims(context, runs)?,
        plots,
    })
}

/// The abstract's trends (docs/methods/rec.md §5(f)), each as a paired test.
fn claims(context: &TableContext<'_>, runs: &RosepoRuns) -> Result<Vec<Claim>> {
    let popularity = context.pipeline.dataset.popularity();
    let s = &runs.sampling;
    let mut claims = vec![
        claim_greater(
            "self-hard negatives > random negatives on HitRatio@1 (§5(f) trend 1)",
            &s.self_hard,
            &s.random,
            HR1,
            false,
        )?,
        claim_greater(
            "DPO with random in-candidate negatives > SFT (§5(f) trend 1)",
            &s.random,
            &runs.sft,
            HR1,
            false,
        )?,
    ];
    if s.random.evaluation.answers.is_some() {
        claims.push(claim_greater(
            "semantic negatives raise ValidRatio over random ones (§5(f) trend 2)",
            &s.semantic,
            &s.random,
            Metric::ValidRatio,
            false,
        )?);
    }
    let (pop_popular, head_popular) = top_popularity(&s.popularity.evaluation, popularity);
    let (pop_random, head_random) = top_popularity(&s.random.evaluation, popularity);
    claims.push(claim_from_values(
        "popularity negatives lower the popularity of top-1 recommendations (§5(f) trend 3)",
        &pop_popular,
        &pop_random,
        &describe(&s.popularity),
        &describe(&s.random),
        "top-1 popularity",
        true,
    )?);
    claims.push(claim_from_values(
        "popularity negatives lower the head share of top-1 recommendations (§5(f) trend 3)",
        &head_popular,
        &head_random,
        &describe(&s.popularity),
        &describe(&s.random),
        "head share",
        true,
    )?);
    let m = &runs.smoothing;
    claims.push(claim_greater(
        "with noisy labels, oracle ε > constant ε (§5(f) trend 4)",
        &m.oracle,
        &m.constant,
        HR1,
        false,
    )?);
    claims.push(claim_greater(
        "with noisy labels, constant ε > ε = 0 (§5(f) trend 4)",
        &m.constant,
        &m.none,
        HR1,
        false,
    )?);
    Ok(claims)
}

/// HitRatio@1 of every row, and the top-1 popularity of the sampling rows.
fn bars(context: &TableContext<'_>, table: &Table, smoothing_table: &Table) -> Result<Vec<Plot>> {
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
    Ok(vec![
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
    ])
}
