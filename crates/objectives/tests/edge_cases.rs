//! Edge cases the golden files do not hold, for every objective: one prompt, one negative, all
//! scores tied, rows left with a single negative by the mask, a row with no negative, extreme β,
//! and unpaired batches with one side empty. Every valid batch gives a finite loss with
//! gradients (never a panic); invalid ones give a typed error; where the value is known in closed
//! form it is checked against that formula.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{DType, Device, Tensor};
use common::{BatchValues, catalogue, gradient, host, label, mask, tensor};
use prefopt_objectives::kto::{KtoConfig, KtoLossType, UnpairedLogps};
use prefopt_objectives::personal::rpo::{Rpo, RpoConfig, RpoVariant};
use prefopt_objectives::rec::dynamicpo::DynamicBetaConfig;
use prefopt_objectives::{Objective, ObjectiveConfig, ObjectiveError, PreferenceLogps};

/// What one objective did with one batch.
enum Outcome {
    /// Loss, per-example losses and the gradients of both policy leaves.
    Computed(Vec<f64>),
    Refused(ObjectiveError),
    Panicked(String),
}

fn run(config: &ObjectiveConfig, values: &BatchValues) -> Outcome {
    let objective = config.check().expect("catalogue configs are valid");
    let device = Device::flex().autodiff();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let leaves = values.policy_leaves(&device, DType::F64);
        let out = objective.compute(&values.input(&device, DType::F64, leaves.clone()))?;
        let grads = out.loss.backward();
        let mut all = host(&out.loss);
        all.extend(out.per_example_loss.as_ref().map(host).unwrap_or_default());
        all.extend(gradient(&leaves.0, &grads));
        all.extend(gradient(&leaves.1, &grads));
        Ok(all)
    }));
    match result {
        Ok(Ok(values)) => Outcome::Computed(values),
        Ok(Err(e)) => Outcome::Refused(e),
        Err(panic) => Outcome::Panicked(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    }
}

/// Objectives that refuse a batch of one prompt by design: RPO's diagonal variant has no
/// off-diagonal pairs to average (the official code returns NaN there).
fn refuses_single_prompt(config: &ObjectiveConfig) -> bool {
    matches!(config, ObjectiveConfig::Rpo(c) if c.variant == RpoVariant::Diagonal)
}

/// Every objective on `values`: finite values, or a refusal only where `may_refuse` allows it.
fn sweep(name: &str, values: &BatchValues, may_refuse: impl Fn(&ObjectiveConfig) -> bool) {
    let mut failures = Vec::new();
    for config in catalogue() {
        match run(&config, values) {
            Outcome::Computed(all) => {
                if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
                    failures.push(format!("{}: non-finite value {bad}", label(&config)));
                }
            }
            Outcome::Refused(e) if may_refuse(&config) => {
                let _ = e;
            }
            Outcome::Refused(e) => failures.push(format!("{}: refused: {e}", label(&config))),
            Outcome::Panicked(message) => {
                failures.push(format!("{}: panicked: {message}", label(&config)));
            }
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn one_prompt_with_one_negative() {
    sweep(
        "B = 1, K = 1",
        &BatchValues::random(3, 1, 1, false),
        refuses_single_prompt,
    );
}

#[test]
fn one_prompt_with_many_negatives() {
    sweep(
        "B = 1, K = 7",
        &BatchValues::random(4, 1, 7, true),
        refuses_single_prompt,
    );
}

#[test]
fn two_prompts_with_one_negative() {
    sweep("B = 2, K = 1", &BatchValues::random(5, 2, 1, false), |_| {
        false
    });
}

#[test]
fn masks_that_leave_one_negative_per_row() {
    let mut values = BatchValues::random(6, 4, 5, false);
    values.mask = Some((0..20).map(|i| i % 5 == 2).collect());
    sweep("one valid negative per row", &values, |_| false);
}

/// All scores tied: policy equals reference everywhere and every negative has the chosen's
/// log-prob.
fn tied(batch: usize, negatives: usize) -> BatchValues {
    let mut values = BatchValues::random(7, batch, negatives, false);
    values.policy_chosen = vec![-4.0; batch];
    values.policy_rejected = vec![-4.0; batch * negatives];
    values.reference_chosen = values.policy_chosen.clone();
    values.reference_rejected = values.policy_rejected.clone();
    values
}

#[test]
fn all_scores_tied() {
    sweep("ties", &tied(3, 4), |_| false);
}

#[test]
fn tied_scores_give_the_closed_form_losses() {
    let values = tied(3, 4);
    let loss_of = |text: &str| {
        let config: ObjectiveConfig = serde_json::from_str(text).unwrap();
        match run(&config, &values) {
            Outcome::Computed(all) => all[0],
            Outcome::Refused(e) => panic!("{text}: {e}"),
            Outcome::Panicked(m) => panic!("{text}: {m}"),
        }
    };
    let ln2 = std::f64::consts::LN_2;
    let close = |got: f64, expected: f64, what: &str| {
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{what}: {got} vs {expected}"
        );
    };
    // Zero margins: −log σ(0) per pair; IPO (0 − 1/(2β))²; S-DPO −log σ(−log Σ_k e⁰) = log(1+K).
    close(loss_of(r#"{"loss": "dpo", "beta": 0.1}"#), ln2, "dpo");
    close(
        loss_of(r#"{"loss": "dpo", "loss_type": ["ipo"], "beta": 0.1}"#),
        25.0,
        "ipo",
    );
    close(
        loss_of(r#"{"loss": "sdpo", "beta": 1.0}"#),
        5f64.ln(),
        "sdpo",
    );
    close(loss_of(r#"{"loss": "dmpo", "beta": 1.0}"#), ln2, "dmpo");
    close(loss_of(r#"{"loss": "rpo", "beta": 0.1}"#), ln2, "rpo");
    // Every negative ties with the chosen, so all are borderline and the rest-mean is their own
    // value: d1 = d2 = 0 and tanh(−2/0) = −1, so each β is β/2, and the margin is still 0.
    close(
        loss_of(r#"{"loss": "dynamicpo_dynamic_beta", "beta": 1.0}"#),
        ln2,
        "dynamicpo",
    );
}

#[test]
fn a_row_without_any_negative_is_a_typed_error() {
    let mut values = BatchValues::random(8, 3, 4, false);
    values.mask = Some((0..12).map(|i| !(4..8).contains(&i)).collect());
    let mut failures = Vec::new();
    for config in catalogue() {
        match run(&config, &values) {
            Outcome::Refused(ObjectiveError::InvalidValue {
                input, position, ..
            }) if input == "rejected_mask" && position == "row 1" => {}
            Outcome::Refused(e) => failures.push(format!("{}: other error {e}", label(&config))),
            Outcome::Computed(_) => failures.push(format!("{}: accepted", label(&config))),
            Outcome::Panicked(m) => failures.push(format!("{}: panicked: {m}", label(&config))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The config with its `beta` (where it has one) set to `beta`.
fn with_beta(config: &ObjectiveConfig, beta: f64) -> ObjectiveConfig {
    let mut value = serde_json::to_value(config).unwrap();
    if let Some(object) = value.as_object_mut()
        && object.contains_key("beta")
    {
        object.insert("beta".into(), beta.into());
    }
    serde_json::from_value(value).unwrap()
}

#[test]
fn extreme_beta_stays_finite() {
    let values = BatchValues::random(9, 4, 3, true);
    let mut failures = Vec::new();
    for beta in [1e-6, 1e3] {
        for config in catalogue() {
            let config = with_beta(&config, beta);
            if config.check().is_err() {
                continue;
            }
            match run(&config, &values) {
                Outcome::Computed(all) => {
                    if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
                        failures.push(format!("β={beta} {}: {bad}", label(&config)));
                    }
                }
                Outcome::Refused(e) => failures.push(format!("β={beta} {}: {e}", label(&config))),
                Outcome::Panicked(m) => {
                    failures.push(format!("β={beta} {}: panicked: {m}", label(&config)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn unpaired(desirable: &[bool], device: &Device) -> (UnpairedLogps, Tensor<1>) {
    let n = desirable.len();
    let policy: Vec<f64> = (0..n).map(|i| -3.0 - i as f64).collect();
    let policy = tensor(policy, [n], device, DType::F64).require_grad();
    let input = UnpairedLogps {
        policy: policy.clone(),
        reference: tensor(vec![-3.5; n], [n], device, DType::F64),
        desirable: mask(desirable.to_vec(), [n], device),
        prompt_embeddings: Some(tensor(
            (0..n * 3).map(|i| (i as f64).sin()).collect(),
            [n, 3],
            device,
            DType::F64,
        )),
        kl_policy: Some(tensor(vec![-3.2; n], [n], device, DType::F64)),
        kl_reference: Some(tensor(vec![-3.4; n], [n], device, DType::F64)),
    };
    (input, policy)
}

fn unpaired_rpo(beta: f64) -> Rpo {
    RpoConfig {
        variant: RpoVariant::Unpaired,
        beta,
        ..RpoConfig::default()
    }
    .check()
    .unwrap()
}

#[test]
fn unpaired_rpo_with_one_side_is_zero_with_zero_gradients() {
    let device = Device::flex().autodiff();
    let rpo = unpaired_rpo(RpoConfig::default().beta);
    for side in [[true; 3], [false; 3]] {
        for embeddings in [true, false] {
            let (mut input, policy) = unpaired(&side, &device);
            if !embeddings {
                input.prompt_embeddings = None;
            }
            let out = rpo.compute_unpaired(&input).unwrap();
            assert_eq!(host(&out.loss), vec![0.0]);
            let grads = out.loss.backward();
            assert_eq!(gradient(&policy, &grads), vec![0.0; 3]);
        }
    }
}

#[test]
fn unpaired_rpo_single_pair_matches_the_formula() {
    let device = Device::flex().autodiff();
    let (mut input, _) = unpaired(&[false, true], &device);
    input.prompt_embeddings = None;
    let beta = 0.5;
    let rpo = unpaired_rpo(beta);
    let out = rpo.compute_unpaired(&input).unwrap();
    // Chosen: −4 − (−3.5) = −0.5; rejected: −3 − (−3.5) = 0.5; one weight of 1.
    let expected = -(1.0 / (1.0 + (beta * 1.0f64).exp())).ln();
    assert!((host(&out.loss)[0] - expected).abs() < 1e-12);
}

#[test]
fn an_empty_unpaired_batch_or_mismatched_embeddings_are_typed_errors() {
    let device = Device::flex().autodiff();
    let rpo = unpaired_rpo(RpoConfig::default().beta);
    let (empty, _) = unpaired(&[], &device);
    assert!(matches!(
        rpo.compute_unpaired(&empty),
        Err(ObjectiveError::Shape { .. })
    ));
    let (mut wrong, _) = unpaired(&[true, false], &device);
    wrong.prompt_embeddings = Some(tensor(vec![1.0; 3], [1, 3], &device, DType::F64));
    assert!(matches!(
        rpo.compute_unpaired(&wrong),
        Err(ObjectiveError::Shape {
            input: "prompt_embeddings",
            ..
        })
    ));
}

#[test]
fn kto_with_one_side_matches_the_formula() {
    let device = Device::flex().autodiff();
    for loss_type in [KtoLossType::Kto, KtoLossType::ApoZeroUnpaired] {
        let kto = KtoConfig {
            loss_type,
            ..KtoConfig::default()
        }
        .check()
        .unwrap();
        for desirable in [true, false] {
            let (input, policy) = unpaired(&[desirable; 2], &device);
            let out = kto.compute_unpaired(&input).unwrap();
            let beta = KtoConfig::default().beta;
            let kl = if loss_type == KtoLossType::Kto {
                (-3.2f64 - -3.4).max(0.0)
            } else {
                0.0
            };
            let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
            let expected: f64 = [-3.0f64, -4.0]
                .iter()
                .map(|p| {
                    let logratio = p + 3.5;
                    match (loss_type, desirable) {
                        (KtoLossType::Kto, true) => 1.0 - sigmoid(beta * (logratio - kl)),
                        (KtoLossType::Kto, false) => 1.0 - sigmoid(beta * (kl - logratio)),
                        (_, true) => 1.0 - sigmoid(beta * logratio),
                        (_, false) => sigmoid(beta * logratio),
                    }
                })
                .sum::<f64>()
                / 2.0;
            let got = host(&out.loss)[0];
            assert!(
                (got - expected).abs() < 1e-12,
                "{loss_type:?} desirable={desirable}: {got} vs {expected}"
            );
            let grads = out.loss.backward();
            assert!(gradient(&policy, &grads).iter().all(|g| g.is_finite()));
        }
    }
}

#[test]
fn dynamicpo_single_negative_below_the_chosen_is_selected() {
    // No negative is borderline and scikit-learn cannot fit 3 clusters on one value: the only
    // negative is taken, its rest-mean is itself (d2 = 0), so β_j = β·(1 + tanh((d1 − 2)/d1)/2).
    let device = Device::flex().autodiff();
    let beta = 1.0;
    let objective = DynamicBetaConfig {
        beta,
        reference_free: false,
    }
    .check()
    .unwrap();
    let chosen = tensor(vec![-2.0], [1], &device, DType::F64).require_grad();
    let rejected = tensor(vec![-7.0], [1, 1], &device, DType::F64).require_grad();
    let input = PreferenceLogps::new(chosen, rejected).with_reference(
        tensor(vec![-2.5], [1], &device, DType::F64),
        tensor(vec![-6.0], [1, 1], &device, DType::F64),
    );
    let out = objective.compute(&input).unwrap();
    let d1: f64 = 5.0;
    let beta_j = beta * (1.0 + 0.5 * ((d1 - 2.0) / d1).tanh());
    let margin: f64 = (-2.0 - -2.5) - (-7.0 - -6.0);
    let expected = (1.0 + (-beta_j * margin).exp()).ln();
    assert!((host(&out.loss)[0] - expected).abs() < 1e-12);
}

fn list_loss(
    policy: Vec<f64>,
    labels: Vec<f64>,
    valid: Option<Vec<bool>>,
    shape: [usize; 2],
) -> (f64, Vec<f64>) {
    use prefopt_objectives::personal::lipo::{LipoConfig, ListLogps};
    let device = Device::flex().autodiff();
    let n = shape[0] * shape[1];
    let policy = tensor(policy, shape, &device, DType::F64).require_grad();
    let input = ListLogps {
        policy: policy.clone(),
        reference: tensor(vec![-5.0; n], shape, &device, DType::F64),
        labels: tensor(labels, shape, &device, DType::F64),
        mask: valid.map(|v| mask(v, shape, &device)),
    };
    let lipo = LipoConfig::default().check().unwrap();
    let (loss, _, _, _) = lipo.compute_list(&input).unwrap();
    let grads = loss.backward();
    (host(&loss)[0], gradient(&policy, &grads))
}

#[test]
fn lipo_without_a_valid_pair_is_zero_with_zero_gradients() {
    // Equal labels form no pair (rax: 0 without a valid pair).
    let (loss, grad) = list_loss(vec![-4.0, -5.0, -6.0], vec![1.0; 3], None, [1, 3]);
    assert_eq!((loss, grad), (0.0, vec![0.0; 3]));
    // A list whose mask leaves one response.
    let (loss, grad) = list_loss(
        vec![-4.0, -5.0, -6.0],
        vec![2.0, 1.0, 0.0],
        Some(vec![true, false, false]),
        [1, 3],
    );
    assert_eq!((loss, grad), (0.0, vec![0.0; 3]));
}

#[test]
fn lipo_one_pair_matches_the_formula() {
    // Two responses, labels 1 > 0, scores s = β(p − ref): the one pair's λ-weight is
    // |2¹ − 2⁰|·|1/log2(2) − 1/log2(3)| and W = 2 (valid count), over one pair.
    let beta = prefopt_objectives::personal::lipo::LipoConfig::default().beta;
    let (policy_a, policy_b) = (-4.0, -6.0);
    let (loss, _) = list_loss(vec![policy_a, policy_b], vec![1.0, 0.0], None, [1, 2]);
    let (s_a, s_b) = (beta * (policy_a + 5.0), beta * (policy_b + 5.0));
    let lambda = (1.0 - 1.0 / 3f64.log2()).abs();
    let expected = 2.0 * lambda * (1.0 + (-(s_a - s_b)).exp()).ln();
    assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
}

#[test]
fn rpo_with_zero_prompt_embeddings_weighs_uniformly_like_f_normalize() {
    // F.normalize clamps the norm at 1e-12: zero embeddings have cosine 0 to everything, so each
    // row's softmax is uniform, exactly as for identical embeddings (cosine 1 everywhere).
    let rpo = ObjectiveConfig::Rpo(RpoConfig::default());
    let mut zero = BatchValues::random(31, 4, 1, false);
    zero.embeddings = vec![0.0; zero.embeddings.len()];
    let mut same = zero.clone();
    same.embeddings = vec![0.5; same.embeddings.len()];
    let (Outcome::Computed(a), Outcome::Computed(b)) = (run(&rpo, &zero), run(&rpo, &same)) else {
        panic!("paired RPO refused a batch with zero embeddings");
    };
    assert!(a.iter().all(|v| v.is_finite()));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{x} vs {y}");
    }
}
