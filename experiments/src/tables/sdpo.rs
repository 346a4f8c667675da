//! The S-DPO table (`docs/methods/rec.md` §2–4): SFT vs DPO vs S-DPO at several K vs DMPO (paper
//! form and the official pairwise variant) vs DynamicPO vs LiPO-λ, in S-DPO's protocol
//! (in-candidate negatives, β = 1, the SFT model as reference), plus S-DPO's β sweep.

use prefopt_objectives::ObjectiveConfig;

use crate::config::{PreferenceConfig, RejectedStrategy};
use crate::error::Result;
use crate::rec::Evaluation;
use crate::report::plots::{Bar, Series, bar_chart, line_plot};
use crate::report::{Claim, Plot, Section, Table, Verdict};
use crate::tables::{
    Job, Outcome, TableContext, claim_greater, curves, describe, late_metric, mean, row,
};

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

fn objective(name: &str, beta: f64) -> Result<ObjectiveConfig> {
    Ok(ObjectiveConfig::from_name(name)?.with_beta(beta))
}

fn preference(
    base: &PreferenceConfig,
    loss: ObjectiveConfig,
    negatives: usize,
) -> PreferenceConfig {
    PreferenceConfig {
        objective: loss,
        negatives,
        rejected: vec![RejectedStrategy::Random],
        ..base.clone()
    }
}

/// Scores every test candidate by `score(history, item)` (the score-only baselines).
fn baseline(
    context: &TableContext<'_>,
    method: &str,
    settings: &str,
    score: impl Fn(&[i64], i64) -> f64,
) -> Result<Outcome> {
    let records = &context.pipeline.dataset.test;
    let scores: Vec<Vec<f64>> = records
        .iter()
        .map(|r| {
            let history = r.history_items.as_deref().unwrap_or(&[]);
            r.candidate_items
                .iter()
                .flatten()
                .map(|&c| score(history, c))
                .collect()
        })
        .collect();
    Ok(Outcome {
        method: method.into(),
        settings: settings.into(),
        run: None,
        evaluation: Evaluation::from_scores(&scores, records)?,
    })
}

/// Runs the table. Returns the report section.
pub fn run(context: &TableContext<'_>) -> Result<Section> {
    let pipeline = context.pipeline;
    let grid = &pipeline.config.sdpo;
    let base = &pipeline.config.preference;
    let popularity = pipeline.dataset.popularity();
    let beta = 1.0;

    let mut outcomes: Vec<Outcome> = Vec::new();
    outcomes.push(baseline(
        context,
        "Popularity",
        "train counts",
        |_, item| popularity[item as usize] as f64,
    )?);
    outcomes.push(baseline(
        context,
        "Item-kNN",
        "conventional recommender",
        |h, item| pipeline.oracle.score(h, item),
    )?);
    outcomes.push(context.sft_outcome());
    let mut jobs = vec![Job::new(
        "DPO",
        "K=1, β=1",
        preference(base, objective("dpo", beta)?, 1),
        true,
    )];
    for &k in grid.negatives.iter().filter(|&&k| k > 1) {
        // K = 1 is the DPO row: S-DPO with one negative is DPO's loss (docs/methods/rec.md §2(a)).
        jobs.push(Job::new(
            "S-DPO",
            &format!("K={k}, β=1"),
            preference(base, objective("sdpo", beta)?, k),
            true,
        ));
    }
    let k = grid.comparison_negatives;
    for (method, loss) in [
        ("DMPO", "dmpo"),
        ("DMPO (official pairwise)", "dmpo/official_pairwise"),
        ("DynamicPO", "dynamicpo/dynamic_beta"),
        ("LiPO-λ", "lipo/lambda"),
    ] {
        let settings = if loss == "lipo/lambda" {
            format!("K={k}, β=1, labels: item-kNN order")
        } else {
            format!("K={k}, β=1")
        };
        jobs.push(Job::new(
            method,
            &settings,
            preference(base, objective(loss, beta)?, k),
            true,
        ));
    }
    // β sweep of S-DPO at `beta_negatives` (a setting already in the table is not rerun).
    let sweep_settings: Vec<(f64, String)> = grid
        .betas
        .iter()
        .map(|&b| (b, format!("K={}, β={b}", grid.beta_negatives)))
        .collect();
    for (b, settings) in &sweep_settings {
        if !jobs
            .iter()
            .any(|j| j.method == "S-DPO" && &j.settings == settings)
        {
            jobs.push(Job::new(
                "S-DPO",
                settings,
                preference(base, objective("sdpo", *b)?, grid.beta_negatives),
                false,
            ));
        }
    }
    let main: Vec<bool> = jobs.iter().map(|j| j.main).collect();
    let finished = context.run_all(jobs)?;
    let find_in = |list: &[Outcome], method: &str, settings: &str| {
        list.iter()
            .position(|o| o.method == method && o.settings == settings)
    };
    let sweep: Vec<(f64, Outcome)> = sweep_settings
        .iter()
        .filter_map(|(b, settings)| {
            find_in(&finished, "S-DPO", settings).map(|i| (*b, finished[i].clone()))
        })
        .collect();
    outcomes.extend(
        finished
            .into_iter()
            .zip(main)
            .filter_map(|(o, main)| main.then_some(o)),
    );
    let by_k: Vec<(usize, usize)> = grid
        .negatives
        .iter()
        .filter_map(|&k| {
            let i = if k == 1 {
                find_in(&outcomes, "DPO", "K=1, β=1")
            } else {
                find_in(&outcomes, "S-DPO", &format!("K={k}, β=1"))
            };
            i.map(|i| (k, i))
        })
        .collect();

    let sft_eval = context.sft_evaluation;
    let rows = outcomes
        .iter()
        .map(|o| row(o, &COLUMNS, popularity, Some(sft_eval)))
        .collect::<Result<Vec<_>>>()?;
    let table = Table {
        id: "sdpo".into(),
        title: "S-DPO table".into(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        baseline: "SFT".into(),
        compared: "HR@1".into(),
        rows,
    };
    let sweep_table = Table {
        id: "sdpo_beta".into(),
        title: format!("S-DPO β sweep (K = {})", grid.beta_negatives),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        baseline: "SFT".into(),
        compared: "HR@1".into(),
        rows: sweep
            .iter()
            .map(|(_, o)| row(o, &COLUMNS, popularity, Some(sft_eval)))
            .collect::<Result<Vec<_>>>()?,
    };

    let find = |method: &str, settings_prefix: &str| {
        outcomes
            .iter()
            .find(|o| o.method == method && o.settings.starts_with(settings_prefix))
    };
    let sft = &outcomes[2];
    let dpo = &outcomes[3];
    let mut claims = Vec::new();
    let main_k = grid.negatives.iter().copied().find(|&k| k > 1);
    if let Some(s) = main_k.and_then(|k| find("S-DPO", &format!("K={k},"))) {
        claims.push(claim_greater(
            "S-DPO > DPO on HitRatio@1 (§2(f) trend 1)",
            s,
            dpo,
            "HR@1",
            false,
        )?);
    }
    claims.push(claim_greater(
        "DPO > SFT on HitRatio@1 (§2(f) trend 1)",
        dpo,
        sft,
        "HR@1",
        false,
    )?);
    if let Some(s) = main_k.and_then(|k| find("S-DPO", &format!("K={k},"))) {
        claims.push(validity_claim(s, sft)?);
    }
    if let (Some(&(k_max, i_max)), Some(&(k_min, i_min))) = (
        by_k.iter().max_by_key(|p| p.0),
        by_k.iter().min_by_key(|p| p.0),
    ) && k_max > k_min
    {
        claims.push(claim_greater(
            &format!("HitRatio@1 rises with the number of negatives (K={k_max} vs K={k_min}; §2(f) trend 3)"),
            &outcomes[i_max],
            &outcomes[i_min],
            "HR@1",
            false,
        )?);
    }
    if let Some(s) = main_k.and_then(|k| find("S-DPO", &format!("K={k},"))) {
        claims.push(likelihood_claim(s, dpo)?);
    }
    if let (Some(dmpo), Some(dynamic)) = (find("DMPO", ""), find("DynamicPO", "")) {
        claims.push(claim_greater(
            &format!("DMPO > SFT (§3(f) trend 1; here K={k} in S-DPO's protocol)"),
            dmpo,
            sft,
            "HR@1",
            false,
        )?);
        claims.push(claim_greater(
            &format!("DynamicPO ≥ DMPO with many negatives (K={k}; §4(f))"),
            dynamic,
            dmpo,
            "HR@1",
            false,
        )?);
    }
    if let (Some(small), Some(moderate)) = (
        sweep.iter().min_by(|a, b| a.0.total_cmp(&b.0)),
        sweep.iter().find(|(b, _)| *b == 1.0),
    ) && small.0 < 1.0
    {
        claims.push(claim_greater(
            &format!(
                "a moderate β (1) beats a small β ({}) (§2(f) trend 5)",
                small.0
            ),
            &moderate.1,
            &small.1,
            "HR@1",
            false,
        )?);
    }

    let bars: Vec<Bar> = table
        .rows
        .iter()
        .map(|r| {
            let k = r.settings.split(',').next().unwrap_or("");
            Bar::of(format!("{} {k}", r.method), &r.metrics["HR@1"])
        })
        .collect();
    let mut plots = vec![bar_chart(
        context.out,
        "sdpo_hr1.svg",
        "HitRatio@1 (candidate ranking, 95% CI)",
        "HR@1",
        &bars,
        "HitRatio@1 of every method with its 95% interval",
    )?];
    let k_points: Vec<(f64, f64)> = by_k
        .iter()
        .map(|&(k, i)| {
            (
                k as f64,
                mean(&outcomes[i].evaluation.values("HR@1").unwrap_or_default()),
            )
        })
        .collect();
    let beta_points: Vec<(f64, f64)> = sweep
        .iter()
        .map(|(b, o)| (*b, mean(&o.evaluation.values("HR@1").unwrap_or_default())))
        .collect();
    let sft_hr = mean(&sft.evaluation.values("HR@1").unwrap_or_default());
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
    plots.push(Plot {
        file: file.into(),
        caption: "HitRatio@1 against K".into(),
    });
    let file = "sdpo_beta.svg";
    line_plot(
        &context.out.join(file),
        &format!("S-DPO: HitRatio@1 against β (K = {})", grid.beta_negatives),
        "β",
        "HR@1",
        &[Series {
            name: "S-DPO".into(),
            points: beta_points,
        }],
    )?;
    plots.push(Plot {
        file: file.into(),
        caption: "HitRatio@1 against β".into(),
    });
    plots.extend(curves(context.out, &outcomes, "sdpo")?);

    Ok(Section {
        heading: "S-DPO, DMPO, DynamicPO, LiPO-λ (docs/methods/rec.md §2–4)".into(),
        paragraphs: vec![
            format!(
                "Protocol: SFT on the training prompts, then each preference method starts from the SFT \
                 model, which is also its frozen reference; rejected items are drawn uniformly from the \
                 prompt's other candidates (S-DPO's in-candidate negatives); β = 1 for every method \
                 (the S-DPO/DynamicPO scripts' value); the checkpoint with the best validation \
                 HitRatio@1 is kept. HR@1 ranks the {} candidates by sequence log-prob; \
                 'gen HitRatio@1' is S-DPO's convention on the greedy answer (invalid answers count as \
                 misses), 'HR@1 given valid' LLaRA's (over valid answers only); ValidRatio is the share of \
                 answers that name exactly one candidate.",
                pipeline
                    .dataset
                    .test
                    .first()
                    .and_then(|r| r.candidate_items.as_ref())
                    .map_or(0, Vec::len)
            ),
            "Popularity and item-kNN are conventional baselines scored without a language model \
             (like SASRec in the paper's table); they have no generation columns."
                .into(),
        ],
        table,
        extra_tables: vec![sweep_table],
        claims,
        plots,
    })
}

/// "ValidRatio stays near SFT's": the difference's 95% interval within ±0.05.
fn validity_claim(method: &Outcome, sft: &Outcome) -> Result<Claim> {
    let (Some(a), Some(b)) = (
        method.evaluation.values("ValidRatio"),
        sft.evaluation.values("ValidRatio"),
    ) else {
        return Ok(Claim {
            statement: "ValidRatio stays near SFT's (§2(f) trend 2)".into(),
            verdict: Verdict::NotSignificant,
            evidence: "generation was off (eval.generation = false)".into(),
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
    })
}
