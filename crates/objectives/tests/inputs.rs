//! Every objective's declared [`Inputs`] are what it does: dropping a `Required` input is a
//! `MissingInput` error, dropping an `Ignored` one changes neither the loss nor a gradient, and
//! dropping an `Optional` one changes the loss without an error.

mod common;

use burn::tensor::{DType, Device};
use common::{BatchValues, catalogue, gradient, host, label, tensor};
use prefopt_objectives::{Inputs, ObjectiveConfig, ObjectiveError, PreferenceLogps, Use};

/// Loss and gradients, or the error.
fn evaluate(
    config: &ObjectiveConfig,
    values: &BatchValues,
    edit: &dyn Fn(PreferenceLogps) -> PreferenceLogps,
) -> Result<Vec<f64>, ObjectiveError> {
    let device = Device::flex().autodiff();
    let leaves = values.policy_leaves(&device, DType::F64);
    let (b, k) = (values.batch, values.negatives);
    let labels: Vec<f64> = (0..b * (k + 1))
        .map(|i| ((i * 7) % (k + 2)) as f64)
        .collect();
    let weights: Vec<f64> = (0..b).map(|i| 0.5 + i as f64).collect();
    let input = values
        .input(&device, DType::F64, leaves.clone())
        .with_weights(tensor(weights, [b], &device, DType::F64))
        .with_list_labels(tensor(labels, [b, k + 1], &device, DType::F64));
    let out = config.check().unwrap().compute(&edit(input))?;
    let grads = out.loss.backward();
    let mut all = host(&out.loss);
    all.extend(gradient(&leaves.0, &grads));
    all.extend(gradient(&leaves.1, &grads));
    Ok(all)
}

type Drop = fn(PreferenceLogps) -> PreferenceLogps;
type Declared = fn(&Inputs) -> Use;

/// Each optional input: its name, how an objective declares it, and how to drop it.
fn droppers() -> Vec<(&'static str, Declared, Drop)> {
    vec![
        (
            "reference",
            |i| i.reference,
            |mut x| {
                x.reference_chosen = None;
                x.reference_rejected = None;
                x
            },
        ),
        (
            "lengths",
            |i| i.lengths,
            |mut x| {
                x.chosen_lengths = None;
                x.rejected_lengths = None;
                x
            },
        ),
        (
            "weights",
            |i| i.weights,
            |mut x| {
                x.weights = None;
                x
            },
        ),
        (
            "smoothing",
            |i| i.smoothing,
            |mut x| {
                x.smoothing = None;
                x
            },
        ),
        (
            "prompt_embeddings",
            |i| i.prompt_embeddings,
            |mut x| {
                x.prompt_embeddings = None;
                x
            },
        ),
        (
            "user_ids",
            |i| i.user_ids,
            |mut x| {
                x.user_ids = None;
                x
            },
        ),
        (
            "list_labels",
            |i| i.list_labels,
            |mut x| {
                x.list_labels = None;
                x
            },
        ),
        (
            "tokens",
            |i| i.tokens,
            |mut x| {
                x.tokens = None;
                x
            },
        ),
        (
            "chosen_prompt",
            |i| i.chosen_prompt,
            |mut x| {
                x.chosen_prompt = None;
                x
            },
        ),
        (
            "kl",
            |i| i.kl,
            |mut x| {
                x.kl = None;
                x
            },
        ),
    ]
}

#[test]
fn declared_inputs_match_what_each_objective_reads() {
    let values = BatchValues::random(21, 4, 3, true);
    let mut failures = Vec::new();
    for config in catalogue() {
        let declared = config.check().unwrap().inputs();
        let full = evaluate(&config, &values, &|x| x).expect("the full batch is valid");
        for (name, declaration, drop) in droppers() {
            let observed = match evaluate(&config, &values, &drop) {
                Err(ObjectiveError::MissingInput { .. }) => Use::Required,
                Err(e) => {
                    failures.push(format!("{} without {name}: {e}", label(&config)));
                    continue;
                }
                Ok(values) if values == full => Use::Ignored,
                Ok(_) => Use::Optional,
            };
            if observed != declaration(&declared) {
                failures.push(format!(
                    "{}: {name} declared {:?}, behaves as {observed:?}",
                    label(&config),
                    declaration(&declared)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
