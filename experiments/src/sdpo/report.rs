//! The S-DPO section: the main table and the β sweep, the paper's trends as claims, plots.

use crate::common::logs::late_metric;
use crate::common::mean;
use crate::common::plots::{Bar, Series, bar_chart, line_plot};
use crate::error::Result;
use crate::rec::evaluate::Metric;
use crate::rec::table::{
    Outcome, TableContext, chosen_reward_curves, claim_greater, curves, describe,
    sft_baseline_table,
};
use crate::report::{Claim, Plot, Section, Table, Verdict};

use super::runs::SdpoRuns;

const COLUMNS: [&str; 8] = [
    "HR@1",
    "gen HitRatio@1",
    "HR@1 given valid",
    "ValidRatio",
    "NDCG@5",
    "MRR",
    "top-1 pop",
    "train s",
];

const HR1: Metric = Metric::HitRatio(1);

/// The section of the S-DPO table.
pub fn section(context: &TableContext<'_>, runs: &SdpoRuns) -> Result<Section> {
    let grid = &context.pipeline.config.sdpo;
    let table = sft_baseline_table(
        context,
        "sdpo",
        "S-DPO table".into(),
        &COLUMNS,
        runs.main_rows(),
    )?;
    let sweep_table = table_of_sweep(context, runs)?;
    let mut plots = vec![hit_ratio_bars(context, &table)?];
    plots.extend(trend_plots(context, runs)?);
    let main = runs.main_rows();
    let main: Vec<Outcome> = main.into_iter().cloned().collect();
    plots.extend(curves(context.out, &main, "sdpo")?);
    let mut likelihood_runs = vec![&runs.dpo];
    likelihood_runs.extend(runs.sdpo.iter().map(|(_, o)| o));
    plots.extend(chosen_reward_curves(context.out, &likelihood_runs, "sdpo")?);
    Ok(Section {
        heading: "S-DPO, DMPO, DynamicPO, LiPO-λ (docs/methods/rec.md §2–4)".into(),
        paragraphs: protocol(context),
        table,
        extra_tables: vec![sweep_table],
        claims: claims(runs, grid.comparison_negatives)?,
        plots,
    })
}

fn table_of_sweep(context: &TableContext<'_>, runs: &SdpoRuns) -> Result<Table> {
    let title = format!(
        "S-DPO β sweep (K = {})",
        context.pipeline.config.sdpo.beta_negatives
    );
    let rows = runs.beta_sweep.iter().map(|(_, o)| o).collect();
    sft_baseline_table(context, "sdpo_beta", title, &COLUMNS, rows)
}

fn protocol(context: &TableContext<'_>) -> Vec<String> {
    let candidates = context
        .pipeline
        .dataset
        .test
        .first()
        .and_then(|r| r.candidate_items.as_ref())
        .map_or(0, Vec::len);
    vec![
        format!(
            "Protocol: SFT on the training prompts, then each preference method starts from the SFT \
             model, which is also its frozen reference; rejected items are drawn uniformly from the \
             prompt's other candidates (S-DPO's in-candidate negatives); β = 1 for every method \
             (the S-DPO/DynamicPO scripts' value); the checkpoint with the best validation \
             HitRatio@1 is kept. HR@1 ranks the {candidates} candidates by sequence log-prob; \
             'gen HitRatio@1' is S-DPO's convention on the greedy answer (invalid answers count as \
             misses), 'HR@1 given valid' LLaRA's (over valid answers only); ValidRatio is the share of \
             answers that name exactly one candidate."
        ),
        "Popularity and item-kNN are conventional baselines scored without a language model \
         (like SASRec in the paper's table); they have no generation columns."
            .into(),
    ]
}

/// The paper's trends (docs/methods/rec.md §2(f), §3(f), §4(f)), each as a paired test.
fn claims(runs: &SdpoRuns, comparison_negatives: usize) -> Result<Vec<Claim>> {
    let (sft, dpo) = (&runs.sft, &runs.dpo);
    let sdpo = runs.main_sdpo();
    let mut claims = Vec::new();
    if let Some(s) = sdpo {
        claims.push(claim_greater(
            "S-DPO > DPO on HitRatio@1 (§2(f) trend 1)",
            s,
            dpo,
            HR1,
            false,
        )?);
    }
    claims.push(claim_greater(
        "DPO > SFT on HitRatio@1 (§2(f) trend 1)",
        dpo,
        sft,
        HR1,
        false,
    )?);
    if let Some(s) = sdpo {
        claims.push(validity_claim(s, sft)?);
    }
    if let (Some((k_max, most)), Some((k_min, fewest))) = (
        runs.by_negatives.iter().max_by_key(|p| p.0),
        runs.by_negatives.iter().min_by_key(|p| p.0),
    ) && k_max > k_min
    {
        claims.push(claim_greater(
            &format!("HitRatio@1 rises with the number of negatives (K={k_max} vs K={k_min}; §2(f) trend 3)"),
            most,
            fewest,
            HR1,
            false,
        )?);
    }
    if let Some(s) = sdpo {
        claims.push(likelihood_claim(s, dpo)?);
    }
    let k = comparison_negatives;
    claims.push(claim_greater(
        &format!("DMPO > SFT (§3(f) trend 1; here K={k} in S-DPO's protocol)"),
        &runs.dmpo,
        sft,
        HR1,
        false,
    )?);
    claims.push(claim_greater(
        &format!("DynamicPO ≥ DMPO with many negatives (K={k}; §4(f))"),
        &runs.dynamicpo,
        &runs.dmpo,
        HR1,
        false,
    )?);
    if let (Some(small), Some(moderate)) = (
        runs.beta_sweep.iter().min_by(|a, b| a.0.total_cmp(&b.0)),
        runs.beta_sweep.iter().find(|(b, _)| *b == 1.0),
    ) && small.0 < 1.0
    {
        claims.push(claim_greater(
            &format!(
                "a moderate β (1) beats a small β ({}) (§2(f) trend 5)",
                small.0
            ),
            &moderate.1,
            &small.1,
            HR1,
            false,
        )?);
    }
    Ok(claims)
}

/// "ValidRatio stays near SFT's": the difference's 95% interval within ±0.05.
fn validity_claim(method: &Outcome, sft: &Outcome) -> Result<Claim> {
    let (Some(a), Some(b)) = (
        method.evaluation.values(Metric::ValidRatio),
        sft.evaluation.values(Metric::ValidRatio),
    ) else {
        return Ok(Claim {
            statement: "ValidRatio stays near SFT's (§2(f) trend 2)".into(),
            verdict: Verdict::NotSignificant,
            evidence: "generation was off (eval.generation = false)".into(),
            difference: None,
        });
    };
    let test = prefopt_eval::stats::paired_test(&a, &b)?;
    let d = test.difference;
    let verdict = if d.low.abs() <= 0.05 && d.high.abs() <= 0.05 {
        Verdict::Holds
    } else if d.mean.abs() <= 0.05 {
        Verdict::NotSignificant
    } else {
        Verdict::DoesNotHold
    };
    Ok(Claim {
        statement: "ValidRatio stays within 0.05 of SFT's (§2(f) trend 2)".into(),
        verdict,
        evidence: format!(
            "ValidRatio: {} {:.3} vs SFT {:.3}; Δ {:+.3} [{:+.3}, {:+.3}]",
            describe(method),
            mean(&a),
            mean(&b),
            d.mean,
            d.low,
            d.high
        ),
        // A closeness claim, not a difference with a sign: judged seed by seed.
        difference: None,
    })
}

/// "S-DPO's chosen log-prob does not fall as DPO's does": the chosen log-ratio (rewards/chosen
/// ÷ β) over the last fifth of training.
fn likelihood_claim(sdpo: &Outcome, dpo: &Outcome) -> Result<Claim> {
    let late = |o: &Outcome| -> Result<f64> {
        match o.run.as_ref().and_then(|r| r.log.as_ref()) {
            Some(log) => late_metric(log, "rewards/chosen", 0.2),
            None => Ok(f64::NAN),
        }
    };
    let (s, d) = (late(sdpo)?, late(dpo)?);
    Ok(Claim {
        statement: "S-DPO's chosen likelihood declines less than DPO's (§2(f) trend 4)".into(),
        verdict: if s > d {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
        evidence: format!(
            "chosen log-ratio (β = 1) over the last 20% of updates: {} {s:+.3}, DPO {d:+.3} (training batches; no interval)",
            describe(sdpo)
        ),
        difference: Some(s - d),
    })
}

fn hit_ratio_bars(context: &TableContext<'_>, table: &Table) -> Result<Plot> {
    let bars: Vec<Bar> = table
        .rows
        .iter()
        .map(|r| {
            let k = r.settings.split(',').next().unwrap_or("");
            Bar::of(format!("{} {k}", r.method), &r.metrics["HR@1"])
        })
        .collect();
    bar_chart(
        context.out,
        "sdpo_hr1.svg",
        "HitRatio@1 (candidate ranking, 95% CI)",
        "HR@1",
        &bars,
        "HitRatio@1 of every method with its 95% interval",
    )
}

/// HR@1 against K (with SFT's level) and against β.
fn trend_plots(context: &TableContext<'_>, runs: &SdpoRuns) -> Result<Vec<Plot>> {
    let k_points: Vec<(f64, f64)> = runs
        .by_negatives
        .iter()
        .map(|(k, o)| (*k as f64, o.evaluation.hit_ratio_at_1()))
        .collect();
    let beta_points: Vec<(f64, f64)> = runs
        .beta_sweep
        .iter()
        .map(|(b, o)| (*b, o.evaluation.hit_ratio_at_1()))
        .collect();
    let sft_hr = runs.sft.evaluation.hit_ratio_at_1();
    let file = "sdpo_negatives.svg";
    line_plot(
        &context.out.join(file),
        "S-DPO: HitRatio@1 against the number of negatives",
        "K",
        "HR@1",
        &[
            Series {
                name: "S-DPO (K=1 is DPO)".into(),
                points: k_points.clone(),
            },
            Series {
                name: "SFT".into(),
                points: k_points.iter().map(|p| (p.0, sft_hr)).collect(),
            },
        ],
    )?;
    let negatives = Plot {
        file: file.into(),
        caption: "HitRatio@1 against K".into(),
    };
    let file = "sdpo_beta.svg";
    line_plot(
        &context.out.join(file),
        &format!(
            "S-DPO: HitRatio@1 against β (K = {})",
            context.pipeline.config.sdpo.beta_negatives
        ),
        "β",
        "HR@1",
        &[Series {
            name: "S-DPO".into(),
            points: beta_points,
        }],
    )?;
    let beta = Plot {
        file: file.into(),
        caption: "HitRatio@1 against β".into(),
    };
    Ok(vec![negatives, beta])
}
