//! Finite-difference gradient checks: for every objective of the catalogue, the autodiff
//! gradient with respect to each policy log-prob equals the central difference of the loss.
//!
//! DynamicPO's per-negative β is detached by definition (a constant for the gradient, as in the
//! official code), so its check differentiates through the reference log-probs instead, which
//! move the loss but not the β's: ∂loss/∂policy = −∂loss/∂reference for the terms it trains.

mod common;

use burn::tensor::{DType, Device};
use common::{BatchValues, catalogue, host, label, tensor};
use prefopt_objectives::dpo::DpoConfig;
use prefopt_objectives::{Objective, ObjectiveConfig, TokenLogps};

fn loss_at(objective: &dyn Objective, values: &BatchValues) -> f64 {
    let device = Device::flex();
    let leaves = (
        tensor(
            values.policy_chosen.clone(),
            [values.batch],
            &device,
            DType::F64,
        ),
        tensor(
            values.policy_rejected.clone(),
            [values.batch, values.negatives],
            &device,
            DType::F64,
        ),
    );
    host(
        &objective
            .compute(&values.input(&device, DType::F64, leaves))
            .unwrap()
            .loss,
    )[0]
}

fn close(autodiff: f64, numeric: f64) -> bool {
    (autodiff - numeric).abs() <= 1e-7 + 1e-5 * numeric.abs()
}

#[test]
fn autodiff_gradients_match_central_differences() {
    let mut failures = Vec::new();
    for (index, config) in catalogue().into_iter().enumerate() {
        let objective = config.check().unwrap();
        let values = BatchValues::random(100 + index as u64, 4, 3, true);
        let device = Device::flex().autodiff();
        let leaves = values.policy_leaves(&device, DType::F64);
        let out = objective
            .compute(&values.input(&device, DType::F64, leaves.clone()))
            .unwrap();
        let grads = out.loss.backward();
        let chosen_grad = common::gradient(&leaves.0, &grads);
        let rejected_grad = common::gradient(&leaves.1, &grads);
        let through_reference = matches!(config, ObjectiveConfig::DynamicpoDynamicBeta(_));
        let valid = values
            .mask
            .clone()
            .unwrap_or_else(|| vec![true; values.batch * values.negatives]);
        let mut check = |name: &str,
                         index: usize,
                         autodiff: f64,
                         perturb: &dyn Fn(&mut BatchValues, f64)| {
            let h = 1e-5;
            let (mut plus, mut minus) = (values.clone(), values.clone());
            perturb(&mut plus, h);
            perturb(&mut minus, -h);
            let mut numeric = (loss_at(objective.as_ref(), &plus)
                - loss_at(objective.as_ref(), &minus))
                / (2.0 * h);
            if through_reference {
                numeric = -numeric;
            }
            if !close(autodiff, numeric) {
                failures.push(format!("{}: d/d {name}[{index}]: autodiff {autodiff:.10e}, finite difference {numeric:.10e}", label(&config)));
            }
        };
        for (i, &autodiff) in chosen_grad.iter().enumerate() {
            check("policy_chosen", i, autodiff, &|v, h| {
                if through_reference {
                    v.reference_chosen[i] += h
                } else {
                    v.policy_chosen[i] += h
                }
            });
        }
        let mut padded_with_gradient = Vec::new();
        for j in 0..values.batch * values.negatives {
            if !valid[j] {
                if rejected_grad[j] != 0.0 {
                    padded_with_gradient.push(format!(
                        "{}: padded negative {j} has gradient {}",
                        label(&config),
                        rejected_grad[j]
                    ));
                }
                continue;
            }
            check("policy_rejected", j, rejected_grad[j], &|v, h| {
                if through_reference {
                    v.reference_rejected[j] += h
                } else {
                    v.policy_rejected[j] += h
                }
            });
        }
        failures.extend(padded_with_gradient);
    }
    assert!(
        failures.is_empty(),
        "{} gradient mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// LD-DPO reads token log-probs: the check perturbs tokens, the sequence log-probs being their sums.
#[test]
fn ld_dpo_token_gradients_match_central_differences() {
    let config = ObjectiveConfig::Dpo(DpoConfig {
        ld_alpha: Some(0.4),
        ..DpoConfig::default()
    });
    let objective = config.check().unwrap();
    let values = BatchValues::random(7, 3, 2, false);
    let (b, k, w) = (values.batch, values.negatives, values.token_width);
    let evaluate = |chosen_tokens: Vec<f64>, rejected_tokens: Vec<f64>, device: &Device| {
        let (chosen, rejected) = (
            tensor(chosen_tokens, [b, w], device, DType::F64),
            tensor(rejected_tokens, [b, k, w], device, DType::F64),
        );
        let (chosen, rejected) = if device.is_autodiff() {
            (chosen.require_grad(), rejected.require_grad())
        } else {
            (chosen, rejected)
        };
        let base = values.input(device, DType::F64, values.policy_leaves(device, DType::F64));
        let tokens = base.tokens.clone().unwrap();
        let sequence_chosen = chosen
            .clone()
            .mask_fill(tokens.chosen_mask.clone().bool_not(), 0.0)
            .sum_dim(1)
            .reshape([b]);
        let sequence_rejected = rejected
            .clone()
            .mask_fill(tokens.rejected_mask.clone().bool_not(), 0.0)
            .sum_dim(2)
            .reshape([b, k]);
        let input = prefopt_objectives::PreferenceLogps {
            policy_chosen: sequence_chosen,
            policy_rejected: sequence_rejected,
            tokens: Some(TokenLogps {
                chosen: chosen.clone(),
                rejected: rejected.clone(),
                ..tokens
            }),
            ..base
        };
        (objective.compute(&input).unwrap().loss, chosen, rejected)
    };
    let device = Device::flex().autodiff();
    let (loss, chosen, rejected) = evaluate(
        values.chosen_tokens.clone(),
        values.rejected_tokens.clone(),
        &device,
    );
    let grads = loss.backward();
    let chosen_grad = host(&chosen.grad(&grads).unwrap());
    let rejected_grad = host(&rejected.grad(&grads).unwrap());
    let plain = Device::flex();
    let h = 1e-5;
    for (t, autodiff) in chosen_grad.iter().enumerate() {
        let shift = |d: f64| {
            let mut tokens = values.chosen_tokens.clone();
            tokens[t] += d;
            host(&evaluate(tokens, values.rejected_tokens.clone(), &plain).0)[0]
        };
        let numeric = (shift(h) - shift(-h)) / (2.0 * h);
        assert!(
            close(*autodiff, numeric),
            "chosen token {t}: {autodiff} vs {numeric}"
        );
    }
    for (t, autodiff) in rejected_grad.iter().enumerate() {
        let shift = |d: f64| {
            let mut tokens = values.rejected_tokens.clone();
            tokens[t] += d;
            host(&evaluate(values.chosen_tokens.clone(), tokens, &plain).0)[0]
        };
        let numeric = (shift(h) - shift(-h)) / (2.0 * h);
        assert!(
            close(*autodiff, numeric),
            "rejected token {t}: {autodiff} vs {numeric}"
        );
    }
}
