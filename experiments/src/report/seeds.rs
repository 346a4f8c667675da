//! One report over several seeds: every table's cells become the mean over seeds of each seed's
//! test mean with a 95% t interval over seeds, the Δ column a paired test over seeds, each
//! table gains a per-seed table (each seed's mean with its interval over test examples), and
//! every claim is judged on the seeds.
//!
//! Why over seeds: a single run's interval covers the test prompts but not the training run
//! (initialisation, sampled negatives, example order), and across machines one seed's numbers
//! move (docs/reproducing.md), so a paper's claim is only checked when it holds across seeds.

use std::collections::BTreeMap;
use std::path::Path;

use prefopt_eval::stats::{MeanCi, mean_ci, paired_test};

use super::{Claim, Plot, Report, Row, Section, Table, Verdict};
use crate::common::plots::{Bar, bar_chart};
use crate::error::{ExperimentError, Result};

/// The report of `runs` (seed, that seed's report), all of the same tables. Plots of the
/// aggregated tables are drawn into `out`.
pub fn over_seeds(runs: &[(u64, Report)], out: &Path, elapsed_seconds: f64) -> Result<Report> {
    let (first_seed, first) = runs
        .first()
        .ok_or_else(|| ExperimentError::Invalid("a report over seeds needs a run".into()))?;
    if let Some((seed, other)) = runs
        .iter()
        .find(|(_, r)| r.sections.len() != first.sections.len())
    {
        return Err(ExperimentError::Invalid(format!(
            "seed {seed} reports {} sections where seed {first_seed} reports {}",
            other.sections.len(),
            first.sections.len()
        )));
    }
    let seeds: Vec<u64> = runs.iter().map(|(s, _)| *s).collect();
    let sections = (0..first.sections.len())
        .map(|i| {
            let per_seed: Vec<(u64, &Section)> =
                runs.iter().map(|(s, r)| (*s, &r.sections[i])).collect();
            section_over_seeds(&per_seed, out)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta = first.meta.clone();
    meta.seeds = seeds;
    meta.elapsed_seconds = elapsed_seconds;
    Ok(Report {
        meta,
        sections,
        eval: None,
    })
}

fn section_over_seeds(per_seed: &[(u64, &Section)], out: &Path) -> Result<Section> {
    let first = per_seed[0].1;
    let tables = |pick: &dyn Fn(&Section) -> Option<&Table>| -> Vec<(u64, &Table)> {
        per_seed
            .iter()
            .filter_map(|(seed, s)| pick(s).map(|t| (*seed, t)))
            .collect()
    };
    let main = tables(&|s| Some(&s.table));
    let table = table_over_seeds(&main)?;
    let mut extra_tables = vec![per_seed_table(&main)];
    for (j, extra) in first.extra_tables.iter().enumerate() {
        let seeds = tables(&|s| s.extra_tables.get(j).filter(|t| t.id == extra.id));
        extra_tables.push(table_over_seeds(&seeds)?);
    }
    let claims = (0..first.claims.len())
        .map(|j| {
            let claims: Vec<(u64, &Claim)> = per_seed
                .iter()
                .filter_map(|(seed, s)| {
                    s.claims
                        .get(j)
                        .filter(|c| c.statement == first.claims[j].statement)
                        .map(|c| (*seed, c))
                })
                .collect();
            claim_over_seeds(&claims)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut plots = Vec::new();
    if let Some(plot) = seeds_plot(&table, out)? {
        plots.push(plot);
    }
    let mut paragraphs = first.paragraphs.clone();
    paragraphs.push(format!(
        "Over {} seeds; each seed's plots and training curves are in its own folder \
         (`seed-<s>/`).",
        per_seed.len()
    ));
    Ok(Section {
        heading: first.heading.clone(),
        paragraphs,
        table,
        extra_tables,
        claims,
        plots,
    })
}

/// A row's value of `column` in one seed's table: the mean of an interval or a plain value.
fn cell(row: &Row, column: &str) -> Option<f64> {
    row.metrics
        .get(column)
        .map(|m| m.mean)
        .or_else(|| row.values.get(column).copied())
}

/// Every seed's row of `method`/`settings` (seeds whose table lacks it are left out).
fn rows_of<'a>(tables: &[(u64, &'a Table)], model: &Row) -> Vec<(u64, &'a Row)> {
    tables
        .iter()
        .filter_map(|(seed, t)| {
            t.rows
                .iter()
                .find(|r| r.method == model.method && r.settings == model.settings)
                .map(|r| (*seed, r))
        })
        .collect()
}

fn table_over_seeds(tables: &[(u64, &Table)]) -> Result<Table> {
    let first = tables[0].1;
    let baseline = first.rows.iter().find(|r| r.method == first.baseline);
    let rows = first
        .rows
        .iter()
        .map(|model| {
            let rows = rows_of(tables, model);
            let mut metrics = BTreeMap::new();
            for column in &first.columns {
                let values: Vec<f64> = rows.iter().filter_map(|(_, r)| cell(r, column)).collect();
                if !values.is_empty() {
                    metrics.insert(column.clone(), mean_ci(&values)?);
                }
            }
            let versus_baseline = match baseline {
                Some(base) if model.versus_baseline.is_some() && !first.compared.is_empty() => {
                    let pairs: Vec<(f64, f64)> = rows_of(tables, base)
                        .iter()
                        .filter_map(|(seed, b)| {
                            let a = rows.iter().find(|(s, _)| s == seed)?.1;
                            Some((cell(a, &first.compared)?, cell(b, &first.compared)?))
                        })
                        .collect();
                    let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                    // One seed gives no interval over seeds.
                    (a.len() >= 2).then(|| paired_test(&a, &b)).transpose()?
                }
                _ => None,
            };
            Ok(Row {
                method: model.method.clone(),
                settings: model.settings.clone(),
                metrics,
                values: BTreeMap::new(),
                versus_baseline,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Table {
        id: first.id.clone(),
        title: format!("{} (mean over {} seeds)", first.title, tables.len()),
        columns: first.columns.clone(),
        baseline: first.baseline.clone(),
        compared: first.compared.clone(),
        rows,
    })
}

/// The metric a table is read by: the one its Δ column compares, else its first column.
fn headline(table: &Table) -> &str {
    if table.compared.is_empty() {
        table.columns.first().map_or("", String::as_str)
    } else {
        &table.compared
    }
}

/// Each seed's mean of the headline metric, with its interval over that seed's test examples.
fn per_seed_table(tables: &[(u64, &Table)]) -> Table {
    let first = tables[0].1;
    let metric = headline(first).to_string();
    let columns: Vec<String> = tables.iter().map(|(s, _)| format!("seed {s}")).collect();
    let rows = first
        .rows
        .iter()
        .map(|model| {
            let mut metrics = BTreeMap::new();
            let mut values = BTreeMap::new();
            for (seed, row) in rows_of(tables, model) {
                let column = format!("seed {seed}");
                match (row.metrics.get(&metric), row.values.get(&metric)) {
                    (Some(m), _) => {
                        metrics.insert(column, *m);
                    }
                    (None, Some(v)) => {
                        values.insert(column, *v);
                    }
                    (None, None) => {}
                }
            }
            Row {
                method: model.method.clone(),
                settings: model.settings.clone(),
                metrics,
                values,
                versus_baseline: None,
            }
        })
        .collect();
    Table {
        id: format!("{}_per_seed", first.id),
        title: format!(
            "{}: {metric} of each seed (95% CI over its test examples)",
            first.title
        ),
        columns,
        baseline: first.baseline.clone(),
        compared: String::new(),
        rows,
    }
}

/// A claim judged on the seeds: by the interval over seeds of its difference when it is one,
/// else by agreement of the seeds' verdicts; the evidence lists every seed's verdict.
fn claim_over_seeds(claims: &[(u64, &Claim)]) -> Result<Claim> {
    let first = claims[0].1;
    let verdicts: Vec<Verdict> = claims.iter().map(|(_, c)| c.verdict).collect();
    let unanimous = verdicts.iter().all(|v| *v == verdicts[0]);
    let per_seed = claims
        .iter()
        .map(|(seed, c)| match c.difference {
            Some(d) => format!("seed {seed}: {} ({d:+.3})", c.verdict.label()),
            None => format!("seed {seed}: {}", c.verdict.label()),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let agreement = if unanimous {
        format!("the same in all {} seeds", claims.len())
    } else {
        let count = |verdict: Verdict| verdicts.iter().filter(|v| **v == verdict).count();
        format!(
            "mixed across seeds: holds in {}, same direction but not significant in {}, does not \
             hold in {} of {}",
            count(Verdict::Holds),
            count(Verdict::NotSignificant),
            count(Verdict::DoesNotHold),
            claims.len()
        )
    };
    let differences: Option<Vec<f64>> = claims.iter().map(|(_, c)| c.difference).collect();
    let (verdict, difference, summary) = match differences {
        Some(d) if d.len() >= 2 && d.iter().all(|x| x.is_finite()) => {
            let m: MeanCi = mean_ci(&d)?;
            (
                Verdict::of_difference(m.mean, m.low),
                Some(m.mean),
                format!(
                    "difference over {} seeds {:+.3} [{:+.3}, {:+.3}]",
                    d.len(),
                    m.mean,
                    m.low,
                    m.high
                ),
            )
        }
        _ => {
            let verdict = if unanimous {
                verdicts[0]
            } else {
                Verdict::NotSignificant
            };
            (verdict, None, "judged by the seeds' verdicts".to_string())
        }
    };
    Ok(Claim {
        statement: first.statement.clone(),
        verdict,
        evidence: format!("{summary}; {agreement} ({per_seed})"),
        difference,
    })
}

/// Bars of the headline metric over seeds, with their intervals over seeds.
fn seeds_plot(table: &Table, out: &Path) -> Result<Option<Plot>> {
    let metric = headline(table);
    let bars: Vec<Bar> = table
        .rows
        .iter()
        .filter_map(|r| {
            let m = r.metrics.get(metric)?;
            let label = match r.settings.split(',').next() {
                Some(first) if !first.is_empty() => format!("{} {first}", r.method),
                _ => r.method.clone(),
            };
            Some(Bar::of(label, m))
        })
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let file = format!("{}_seeds.svg", table.id);
    bar_chart(
        out,
        &file,
        &format!("{metric} over seeds (95% CI over seeds)"),
        metric,
        &bars,
        &format!(
            "{}: {metric} of every row, mean and 95% interval over seeds",
            table.title
        ),
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Meta;

    fn ci(mean: f64) -> MeanCi {
        MeanCi {
            mean,
            std_error: 0.01,
            low: mean - 0.02,
            high: mean + 0.02,
            n: 50,
        }
    }

    fn row(method: &str, hr: f64, time: f64, versus: bool) -> Row {
        Row {
            method: method.into(),
            settings: "K=3".into(),
            metrics: BTreeMap::from([("HR@1".to_string(), ci(hr))]),
            values: BTreeMap::from([("train s".to_string(), time)]),
            versus_baseline: versus.then(|| paired_test(&[1.0, 0.0], &[0.0, 0.0]).unwrap()),
        }
    }

    fn report(seed: u64, sft: f64, dpo: f64, difference: f64) -> Report {
        Report {
            meta: Meta {
                title: "t".into(),
                command: "reproduce".into(),
                seed,
                seeds: Vec::new(),
                git_revision: "abc".into(),
                data: "d".into(),
                data_rows: "r".into(),
                model: "m".into(),
                device: "cpu".into(),
                elapsed_seconds: 1.0,
            },
            sections: vec![Section {
                heading: "S".into(),
                paragraphs: vec![],
                table: Table {
                    id: "sdpo".into(),
                    title: "S-DPO table".into(),
                    columns: vec!["HR@1".into(), "train s".into()],
                    baseline: "SFT".into(),
                    compared: "HR@1".into(),
                    rows: vec![row("SFT", sft, 1.0, false), row("DPO", dpo, 2.0, true)],
                },
                extra_tables: vec![],
                claims: vec![Claim {
                    statement: "DPO > SFT".into(),
                    verdict: if difference > 0.0 {
                        Verdict::Holds
                    } else {
                        Verdict::DoesNotHold
                    },
                    evidence: String::new(),
                    difference: Some(difference),
                }],
                plots: vec![],
            }],
            eval: None,
        }
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("prefopt-seeds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn cells_are_means_over_seeds_with_a_t_interval() {
        let runs = vec![
            (0, report(0, 0.40, 0.50, 0.10)),
            (1, report(1, 0.42, 0.48, 0.06)),
            (2, report(2, 0.44, 0.52, 0.08)),
        ];
        let merged = over_seeds(&runs, &scratch(), 3.0).unwrap();
        assert_eq!(merged.meta.seeds, vec![0, 1, 2]);
        let table = &merged.sections[0].table;
        let dpo = table.row("DPO").unwrap();
        let hr = dpo.metrics["HR@1"];
        assert!((hr.mean - 0.50).abs() < 1e-12 && hr.n == 3);
        // t(2) 97.5% quantile 4.303 × standard error 0.02/√3.
        assert!((hr.high - hr.mean - 4.302_652_7 * 0.02 / 3f64.sqrt()).abs() < 1e-6);
        assert!((dpo.metrics["train s"].mean - 2.0).abs() < 1e-12);
        let versus = dpo.versus_baseline.unwrap();
        assert!((versus.difference.mean - 0.08).abs() < 1e-12);
        assert!(table.row("SFT").unwrap().versus_baseline.is_none());
        let per_seed = &merged.sections[0].extra_tables[0];
        assert_eq!(per_seed.columns, ["seed 0", "seed 1", "seed 2"]);
        assert!((per_seed.row("DPO").unwrap().metrics["seed 1"].mean - 0.48).abs() < 1e-12);
        let claim = &merged.sections[0].claims[0];
        assert_eq!(claim.verdict, Verdict::Holds, "{}", claim.evidence);
        assert!(claim.evidence.contains("the same in all 3 seeds"));
        assert!(merged.markdown().contains("| seeds | 0, 1, 2"));
    }

    #[test]
    fn a_claim_that_flips_between_seeds_says_so() {
        let runs = vec![
            (0, report(0, 0.40, 0.50, 0.10)),
            (1, report(1, 0.42, 0.30, -0.12)),
        ];
        let merged = over_seeds(&runs, &scratch(), 2.0).unwrap();
        let claim = &merged.sections[0].claims[0];
        assert_ne!(claim.verdict, Verdict::Holds);
        assert!(
            claim
                .evidence
                .contains("mixed across seeds: holds in 1, same direction but not significant in 0, does not hold in 1 of 2"),
            "{}",
            claim.evidence
        );
        assert!(claim.evidence.contains("seed 1: does not hold (-0.120)"));
    }

    #[test]
    fn reports_of_different_tables_are_refused() {
        let mut other = report(1, 0.4, 0.5, 0.1);
        other.sections.clear();
        let error = over_seeds(
            &[(0, report(0, 0.4, 0.5, 0.1)), (1, other)],
            &scratch(),
            1.0,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("seed 1 reports 0 sections"), "{error}");
    }
}
