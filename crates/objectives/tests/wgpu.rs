//! The same losses on the wgpu backend agree with flex to 1e-4 in f32 (in CI wgpu runs on Mesa's
//! lavapipe, so this checks the GPU code path, not its speed).

mod common;

use burn::tensor::{DType, Device, DeviceKind};
use common::{BatchValues, F32_TOLERANCE, catalogue, compare, host, label};

fn run(
    device: &Device,
    config: &prefopt_objectives::ObjectiveConfig,
    values: &BatchValues,
) -> Vec<Vec<f64>> {
    let device = device.clone().autodiff();
    let leaves = values.policy_leaves(&device, DType::F32);
    let out = config
        .check()
        .unwrap()
        .compute(&values.input(&device, DType::F32, leaves.clone()))
        .unwrap();
    let grads = out.loss.backward();
    vec![
        host(&out.loss),
        out.per_example_loss.as_ref().map(host).unwrap_or_default(),
        host(&out.chosen_rewards),
        common::gradient(&leaves.0, &grads),
        common::gradient(&leaves.1, &grads),
    ]
}

#[test]
fn wgpu_agrees_with_flex_in_f32() {
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    let mut failures = Vec::new();
    for config in catalogue() {
        let values = BatchValues::random(21, 6, 4, true);
        let cpu_values = run(&Device::flex(), &config, &values);
        let gpu_values = run(&gpu, &config, &values);
        for (what, (c, g)) in [
            "loss",
            "per-example loss",
            "chosen rewards",
            "chosen gradient",
            "rejected gradient",
        ]
        .iter()
        .zip(cpu_values.iter().zip(&gpu_values))
        {
            if let Some(problem) = compare(g, c, F32_TOLERANCE) {
                failures.push(format!("{} {what}: {problem}", label(&config)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
