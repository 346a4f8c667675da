//! Result tables: rows of metrics with 95% intervals, rendered as Markdown and flattened to CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prefopt_eval::stats::{MeanCi, PairedTest};
use serde::{Deserialize, Serialize};

/// One method's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub method: String,
    /// What distinguishes the run (K, β, sampler…).
    pub settings: String,
    /// Per-metric mean with its 95% interval over the test examples.
    pub metrics: BTreeMap<String, MeanCi>,
    /// Single numbers without an interval (popularity bias, time).
    pub values: BTreeMap<String, f64>,
    /// Paired test of the table's `compared` metric against its baseline row.
    pub versus_baseline: Option<PairedTest>,
}

/// A paper table reproduced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub id: String,
    pub title: String,
    /// Metric columns (keys of `Row::metrics`, then of `Row::values`), in display order.
    pub columns: Vec<String>,
    pub baseline: String,
    /// The metric of the paired test in `Row::versus_baseline` (HR@1, accuracy…); empty for
    /// tables without a baseline (no Δ column).
    pub compared: String,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn row(&self, method: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.method == method)
    }

    /// Markdown: a metric with an interval reads `0.206 ± 0.035` (half-width of the 95% CI).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "| method | settings |");
        for column in &self.columns {
            let _ = write!(out, " {column} |");
        }
        let with_delta = !self.compared.is_empty();
        if with_delta {
            let _ = write!(
                out,
                " Δ{} vs {} (95% CI, p) |",
                self.compared, self.baseline
            );
        }
        let _ = write!(out, "\n|---|---|");
        for _ in &self.columns {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out, "{}", if with_delta { "---|" } else { "" });
        for row in &self.rows {
            let _ = write!(out, "| {} | {} |", row.method, row.settings);
            for column in &self.columns {
                let cell = match (row.metrics.get(column), row.values.get(column)) {
                    (Some(m), _) => format_ci(m),
                    (None, Some(v)) => format_value(*v),
                    (None, None) => "–".into(),
                };
                let _ = write!(out, " {cell} |");
            }
            let versus = row.versus_baseline.map_or("–".into(), |t| {
                format!(
                    "{:+.3} [{:+.3}, {:+.3}], p = {}",
                    t.difference.mean,
                    t.difference.low,
                    t.difference.high,
                    format_p(t.p_value)
                )
            });
            if with_delta {
                let _ = write!(out, " {versus} |");
            }
            let _ = writeln!(out);
        }
        out
    }

    /// Long-format CSV lines: `table,method,settings,metric,mean,ci_low,ci_high,n`.
    pub fn csv_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in &self.rows {
            for (metric, m) in &row.metrics {
                lines.push(format!(
                    "{},{},{},{},{},{},{},{}",
                    csv(&self.id),
                    csv(&row.method),
                    csv(&row.settings),
                    csv(metric),
                    m.mean,
                    m.low,
                    m.high,
                    m.n
                ));
            }
            for (metric, v) in &row.values {
                lines.push(format!(
                    "{},{},{},{},{v},,,",
                    csv(&self.id),
                    csv(&row.method),
                    csv(&row.settings),
                    csv(metric)
                ));
            }
        }
        lines
    }
}

pub const CSV_HEADER: &str = "table,method,settings,metric,mean,ci_low,ci_high,n";

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

pub fn format_ci(m: &MeanCi) -> String {
    if m.high.is_finite() {
        format!("{:.3} ± {:.3}", m.mean, (m.high - m.low) / 2.0)
    } else {
        format!("{:.3}", m.mean)
    }
}

pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

pub fn format_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(mean: f64, half: f64) -> MeanCi {
        MeanCi {
            mean,
            std_error: half / 1.96,
            low: mean - half,
            high: mean + half,
            n: 10,
        }
    }

    #[test]
    fn markdown_and_csv_carry_every_cell() {
        let table = Table {
            id: "t".into(),
            title: "T".into(),
            columns: vec!["HR@1".into(), "gini".into()],
            baseline: "SFT".into(),
            compared: "HR@1".into(),
            rows: vec![Row {
                method: "S-DPO, \"K\"".into(),
                settings: "K=3".into(),
                metrics: BTreeMap::from([("HR@1".into(), ci(0.25, 0.05))]),
                values: BTreeMap::from([("gini".into(), 0.5)]),
                versus_baseline: None,
            }],
        };
        let md = table.markdown();
        assert!(
            md.contains("| S-DPO, \"K\" | K=3 | 0.250 ± 0.050 | 0.500 | – |"),
            "{md}"
        );
        let lines = table.csv_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "t,\"S-DPO, \"\"K\"\"\",K=3,HR@1,0.25,0.2,0.3,10");
        assert_eq!(lines[1], "t,\"S-DPO, \"\"K\"\"\",K=3,gini,0.5,,,");
    }
}
