//! Every objective stays finite (loss, per-example losses, gradients) for log-probs of ±1e4 and
//! K = 20 negatives, where naive formulas overflow (`exp` of a margin, `log(sigmoid)`).

mod common;

use burn::tensor::{DType, Device};
use common::{BatchValues, catalogue, host, label};
use prefopt_objectives::ObjectiveConfig;

fn extreme(values: &mut BatchValues, pattern: usize, non_positive: bool) {
    let pick = |i: usize, shift: usize| -> f64 {
        let v: f64 = if (i + shift + pattern).is_multiple_of(3) {
            1e4
        } else {
            -1e4
        };
        if non_positive { -v.abs() } else { v }
    };
    for (i, v) in values.policy_chosen.iter_mut().enumerate() {
        *v = pick(i, 0);
    }
    for (i, v) in values.policy_rejected.iter_mut().enumerate() {
        *v = pick(i, 1);
    }
    for (i, v) in values.reference_chosen.iter_mut().enumerate() {
        *v = pick(i, 2);
    }
    for (i, v) in values.reference_rejected.iter_mut().enumerate() {
        *v = -pick(i, 1);
    }
}

#[test]
fn every_objective_is_finite_at_plus_minus_1e4_with_20_negatives() {
    let mut failures = Vec::new();
    for config in catalogue() {
        let objective = config.check().unwrap();
        // ORPO's odds need probabilities below 1, i.e. log-probs below 0.
        let non_positive = matches!(config, ObjectiveConfig::Orpo(_));
        for negatives in [1, 20] {
            for pattern in 0..3 {
                let mut values = BatchValues::random(9, 8, negatives, negatives > 1);
                extreme(&mut values, pattern, non_positive);
                let device = Device::flex().autodiff();
                let leaves = values.policy_leaves(&device, DType::F64);
                let out =
                    match objective.compute(&values.input(&device, DType::F64, leaves.clone())) {
                        Ok(out) => out,
                        Err(e) => {
                            failures.push(format!("{} K={negatives}: {e}", label(&config)));
                            continue;
                        }
                    };
                let grads = out.loss.backward();
                let mut all = host(&out.loss);
                all.extend(out.per_example_loss.as_ref().map(host).unwrap_or_default());
                all.extend(common::gradient(&leaves.0, &grads));
                all.extend(common::gradient(&leaves.1, &grads));
                if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
                    failures.push(format!(
                        "{} K={negatives} pattern {pattern}: non-finite value {bad}",
                        label(&config)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
