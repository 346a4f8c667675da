//! Aggregation: a mean with its 95% confidence interval (Student's t), and a paired test of a
//! method against a baseline on the same examples (paired t-test on the per-example
//! differences; with 0/1 metrics such as HitRatio this is the usual large-sample test).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{EvalError, Result};

/// Mean, standard error and a 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    pub mean: f64,
    pub std_error: f64,
    pub low: f64,
    pub high: f64,
    pub n: usize,
}

fn mean_and_error(values: &[f64], what: &'static str) -> Result<(f64, f64)> {
    if values.is_empty() {
        return Err(EvalError::Empty(what));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Ok((mean, f64::NAN));
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Ok((mean, (variance / n).sqrt()))
}

fn t_quantile(degrees: f64, p: f64) -> Result<f64> {
    StudentsT::new(0.0, 1.0, degrees)
        .map(|t| t.inverse_cdf(p))
        .map_err(|e| EvalError::InvalidParameter(e.to_string()))
}

/// The mean of `values` with a two-sided 95% t interval (NaN bounds for a single value).
pub fn mean_ci(values: &[f64]) -> Result<MeanCi> {
    let (mean, std_error) = mean_and_error(values, "mean with CI")?;
    let half = if values.len() > 1 {
        t_quantile((values.len() - 1) as f64, 0.975)? * std_error
    } else {
        f64::NAN
    };
    Ok(MeanCi {
        mean,
        std_error,
        low: mean - half,
        high: mean + half,
        n: values.len(),
    })
}

/// A paired comparison of a method with a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedTest {
    /// Mean of `method − baseline` with its 95% interval.
    pub difference: MeanCi,
    pub t: f64,
    /// Two-sided p-value (1 when every difference is 0).
    pub p_value: f64,
}

/// Paired t-test of `method` against `baseline` (same examples, same order).
pub fn paired_test(method: &[f64], baseline: &[f64]) -> Result<PairedTest> {
    if method.len() != baseline.len() {
        return Err(EvalError::LengthMismatch {
            what: "paired method and baseline values",
            left: method.len(),
            right: baseline.len(),
        });
    }
    if method.len() < 2 {
        return Err(EvalError::InvalidParameter(
            "a paired test needs at least two examples".into(),
        ));
    }
    let differences: Vec<f64> = method.iter().zip(baseline).map(|(a, b)| a - b).collect();
    let difference = mean_ci(&differences)?;
    if difference.std_error == 0.0 {
        let p_value = if difference.mean == 0.0 { 1.0 } else { 0.0 };
        let t = if difference.mean == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(difference.mean)
        };
        return Ok(PairedTest {
            difference,
            t,
            p_value,
        });
    }
    let t = difference.mean / difference.std_error;
    let distribution = StudentsT::new(0.0, 1.0, (method.len() - 1) as f64)
        .map_err(|e| EvalError::InvalidParameter(e.to_string()))?;
    let p_value = 2.0 * (1.0 - distribution.cdf(t.abs()));
    Ok(PairedTest {
        difference,
        t,
        p_value,
    })
}
