//! One preference training step on wgpu and on flex from the same weights: same loss, same
//! gradients, same updated weights (f32, 1e-4 relative). In CI wgpu runs on Mesa's lavapipe,
//! which checks the GPU code path, not its speed.

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Device, DeviceKind};
use prefopt_models::config::Preset;
use prefopt_models::optim::{AdamW, AdamWConfig};
use prefopt_models::params::{gradients_by_path, named_values};
use prefopt_models::tokenizer::{ItemTokenizer, Tokenizer};
use prefopt_models::train::{PreferenceTask, Task};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

use common::{encode, fresh_reference, synthetic_rec};

struct StepResult {
    loss: f64,
    gradients: BTreeMap<String, Vec<f32>>,
    weights: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

fn step(device: &Device) -> StepResult {
    let tokenizer = ItemTokenizer::new(500).unwrap();
    let records: Vec<_> = synthetic_rec("train").into_iter().take(6).collect();
    let examples = encode(&tokenizer, &records);
    let config = Preset::Tiny.config(tokenizer.vocab_size());
    let pad = tokenizer.special().pad;
    let reference = fresh_reference(&config, &examples, 1, device);
    let model = Transformer::new(&config, 2, &device.clone().autodiff()).unwrap();
    let objective = ObjectiveConfig::from_name("sdpo").unwrap().check().unwrap();
    let task = PreferenceTask::new(&examples, objective.as_ref(), Some(&reference), pad);
    let (loss, _) = task.loss(&model, &[0, 1, 2, 3, 4, 5]).unwrap();
    let value = loss.clone().into_scalar::<f64>();
    let gradients = gradients_by_path(&model, &loss.backward());
    let host_gradients = gradients
        .iter()
        .map(|(k, g)| {
            (
                k.clone(),
                g.to_data().convert::<f32>().try_to_vec().unwrap(),
            )
        })
        .collect();
    let mut optimizer = AdamW::new(AdamWConfig::default()).unwrap();
    let model = optimizer.step(model, &gradients, 1e-3).unwrap();
    StepResult {
        loss: value,
        gradients: host_gradients,
        weights: named_values(&model),
    }
}

fn relative_gap(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
    diff / norm.max(1e-12)
}

#[test]
fn a_training_step_on_wgpu_matches_flex() {
    let cpu = step(&Device::flex());
    let gpu = step(&Device::wgpu(DeviceKind::DefaultDevice));
    assert!(
        (cpu.loss - gpu.loss).abs() <= 1e-4 * cpu.loss.abs(),
        "loss {} vs {}",
        cpu.loss,
        gpu.loss
    );
    assert_eq!(cpu.gradients.len(), gpu.gradients.len());
    let mut failures = Vec::new();
    for (name, g) in &cpu.gradients {
        let gap = relative_gap(&gpu.gradients[name], g);
        if gap > 1e-4 {
            failures.push(format!("gradient {name}: relative gap {gap:.2e}"));
        }
    }
    // A key bias shifts every score of a query by the same amount, which softmax ignores: its
    // exact gradient is zero and the computed one is rounding noise, which AdamW normalises to
    // steps of about the learning rate whose signs follow the noise. Its gradient is compared
    // above; its update says nothing about the backends.
    for (name, (_, w)) in cpu
        .weights
        .iter()
        .filter(|(n, _)| !n.contains("key.linear.bias"))
    {
        let gap = relative_gap(&gpu.weights[name].1, w);
        if gap > 1e-4 {
            failures.push(format!("updated weight {name}: relative gap {gap:.2e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The pretrained blocks on wgpu: a LoRA S-DPO step on the Llama (grouped-query attention,
/// RMSNorm, SwiGLU) and GPT-2 (fused q/k/v, learned positions) fixtures gives flex's loss and
/// adapter gradients.
#[test]
fn a_lora_step_on_a_loaded_checkpoint_on_wgpu_matches_flex() {
    use burn::tensor::DType;
    use prefopt_models::lora::{self, LoraConfig};
    use prefopt_models::pretrained::Pretrained;
    use prefopt_models::tokenizer::EncodedExample;
    use prefopt_models::train::ReferenceLogps;

    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
    let examples: Vec<EncodedExample> = (0..3u32)
        .map(|i| {
            EncodedExample::new(
                (0..20).map(|t| 2 + (i * 31 + t * 7) % 380).collect(),
                (0..3)
                    .map(|k| {
                        (0..5)
                            .map(|t| 2 + (i * 13 + k * 57 + t * 3) % 380)
                            .collect()
                    })
                    .collect(),
            )
        })
        .collect();
    let reference = ReferenceLogps(vec![vec![-30.0; 3]; 3]);
    let objective = ObjectiveConfig::from_name("sdpo").unwrap().check().unwrap();
    let task = PreferenceTask::new(&examples, objective.as_ref(), Some(&reference), 1);
    let run = |name: &str, device: &Device| {
        let base = Pretrained::load(&fixtures.join(name), &device.clone().autodiff(), DType::F32)
            .unwrap()
            .model;
        let config = LoraConfig {
            rank: 4,
            alpha: 8.0,
            seed: 2,
            ..LoraConfig::default()
        };
        let model = lora::attach(base, &config).unwrap();
        let (loss, _) = task.loss(&model, &[0, 1, 2]).unwrap();
        let value = loss.clone().into_scalar::<f64>();
        let gradients: BTreeMap<String, Vec<f32>> = gradients_by_path(&model, &loss.backward())
            .into_iter()
            .map(|(k, g)| (k, g.to_data().convert::<f32>().try_to_vec().unwrap()))
            .collect();
        (value, gradients)
    };
    for name in ["llama-tiny", "gpt2-tiny"] {
        let (cpu_loss, cpu) = run(name, &Device::flex());
        let (gpu_loss, gpu) = run(name, &Device::wgpu(DeviceKind::DefaultDevice));
        assert!(
            (cpu_loss - gpu_loss).abs() <= 1e-4 * cpu_loss.abs(),
            "{name}: loss {cpu_loss} vs {gpu_loss}"
        );
        assert!(
            !cpu.is_empty() && cpu.keys().all(|k| k.contains("lora")),
            "{name}: {:?}",
            cpu.keys()
        );
        for (path, g) in &cpu {
            let gap = relative_gap(&gpu[path], g);
            assert!(
                gap <= 1e-3,
                "{name}: gradient {path}: relative gap {gap:.2e}"
            );
        }
    }
}
