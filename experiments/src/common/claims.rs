//! Claims: a statement a report checks, decided by a paired test on per-example values.

use prefopt_eval::stats::paired_test;

use super::mean;
use crate::error::Result;
use crate::report::table::format_p;
use crate::report::{Claim, Verdict};

/// "`a` beats `b` on `metric`": a paired test of the per-example values `a` and `b` (named
/// `a_name`, `b_name` in the evidence). The verdict holds when the 95% interval of the
/// difference lies above zero (below, with `lower_is_better`).
pub fn claim_from_values(
    statement: &str,
    a: &[f64],
    b: &[f64],
    a_name: &str,
    b_name: &str,
    metric: &str,
    lower_is_better: bool,
) -> Result<Claim> {
    let test = paired_test(a, b)?;
    let d = test.difference;
    let (oriented_mean, oriented_low) = if lower_is_better {
        (-d.mean, -d.high)
    } else {
        (d.mean, d.low)
    };
    Ok(Claim {
        statement: statement.into(),
        verdict: Verdict::of_difference(oriented_mean, oriented_low),
        difference: Some(oriented_mean),
        evidence: format!(
            "{metric}: {a_name} {:.3} vs {b_name} {:.3}; Δ {:+.3} [{:+.3}, {:+.3}], p = {}",
            mean(a),
            mean(b),
            d.mean,
            d.low,
            d.high,
            format_p(test.p_value)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_direction_of_the_difference() {
        let high = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let low = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let claim = claim_from_values("a > b", &high, &low, "a", "b", "HR@1", false).unwrap();
        assert_eq!(claim.verdict, Verdict::Holds, "{}", claim.evidence);
        assert!(claim.evidence.starts_with("HR@1: a 0.875 vs b 0.125"));
        let claim = claim_from_values("a < b", &high, &low, "a", "b", "HR@1", true).unwrap();
        assert_ne!(claim.verdict, Verdict::Holds);
    }
}
