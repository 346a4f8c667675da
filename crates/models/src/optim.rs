//! AdamW with decoupled weight decay (PyTorch's update), a warmup + cosine learning-rate
//! schedule, and global-norm gradient clipping.
//!
//! burn-optim's optimizers key their state by random `ParamId`s and persist it in burnpack;
//! checkpoints here are safetensors files that must resume bit-exactly in a new process, so the
//! moments are kept by parameter path (see [`crate::params`]) and written next to the weights.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::params::map_params;

/// AdamW hyper-parameters (PyTorch's defaults except `weight_decay`, which TRL sets to 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Decoupled weight decay; never applied to biases and layer-norm parameters.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    pub fn check(&self) -> Result<()> {
        let in_unit = |v: f64| (0.0..1.0).contains(&v);
        if !(in_unit(self.beta1) && in_unit(self.beta2)) {
            return Err(ModelError::InvalidConfig(
                "AdamW betas must lie in [0, 1)".into(),
            ));
        }
        if !(self.epsilon > 0.0 && self.weight_decay >= 0.0) {
            return Err(ModelError::InvalidConfig(
                "AdamW epsilon must be positive and weight_decay non-negative".into(),
            ));
        }
        Ok(())
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Clone, Debug)]
pub struct Moments {
    pub first: Tensor<1>,
    pub second: Tensor<1>,
}

/// The optimizer and its state: the moments by parameter path and the number of updates.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    pub moments: BTreeMap<String, Moments>,
    pub updates: u64,
}

/// Whether weight decay applies to a parameter (not to biases or norm scales/shifts).
fn decays(path: &str) -> bool {
    !(path.ends_with("bias") || path.ends_with("gamma") || path.ends_with("beta"))
}

impl AdamW {
    pub fn new(config: AdamWConfig) -> Result<Self> {
        config.check()?;
        Ok(Self {
            config,
            moments: BTreeMap::new(),
            updates: 0,
        })
    }

    /// One update of every parameter that has a gradient, at learning rate `lr`.
    pub fn step<M: Module>(
        &mut self,
        model: M,
        gradients: &BTreeMap<String, Tensor<1>>,
        lr: f64,
    ) -> Result<M> {
        self.updates += 1;
        let c = self.config.clone();
        let t = self.updates as i32;
        let correction1 = 1.0 - c.beta1.powi(t);
        let correction2 = 1.0 - c.beta2.powi(t);
        let moments = &mut self.moments;
        map_params(model, |path, _shape, value| {
            let Some(grad) = gradients.get(path) else {
                return Ok(None);
            };
            let grad = grad.clone().cast(value.dtype());
            let state = moments.remove(path).unwrap_or_else(|| Moments {
                first: value.zeros_like(),
                second: value.zeros_like(),
            });
            let first = state.first.mul_scalar(c.beta1) + grad.clone().mul_scalar(1.0 - c.beta1);
            let second = state.second.mul_scalar(c.beta2) + grad.square().mul_scalar(1.0 - c.beta2);
            let denominator = second
                .clone()
                .mul_scalar(1.0 / correction2)
                .sqrt()
                .add_scalar(c.epsilon);
            let step = first.clone().mul_scalar(lr / correction1) / denominator;
            let decayed = if c.weight_decay > 0.0 && decays(path) {
                value.mul_scalar(1.0 - lr * c.weight_decay)
            } else {
                value
            };
            moments.insert(path.to_string(), Moments { first, second });
            Ok(Some(decayed - step))
        })
    }
}

/// Linear warmup from 0 to `peak` over `warmup` steps, then a cosine decay to `peak·floor` at
/// `total` steps (Hugging Face's `get_cosine_schedule_with_warmup` when `floor` = 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
    pub floor: f64,
}

impl Schedule {
    /// The learning rate of update `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup) as f64 / span as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak * (self.floor + (1.0 - self.floor) * cosine)
    }
}

/// Scales all gradients so that their joint L2 norm is at most `max_norm`; returns the norm
/// before clipping (one host read-back).
pub fn clip_global_norm(gradients: &mut BTreeMap<String, Tensor<1>>, max_norm: Option<f64>) -> f64 {
    let Some(first) = gradients.values().next() else {
        return 0.0;
    };
    let squares = gradients
        .values()
        .map(|g| g.clone().square().sum())
        .reduce(|a, b| a + b)
        .unwrap_or_else(|| first.zeros_like().sum());
    let norm = squares.into_scalar_f64().sqrt();
    if let Some(max) = max_norm
        && norm > max
    {
        let scale = max / (norm + 1e-6);
        for grad in gradients.values_mut() {
            *grad = grad.clone().mul_scalar(scale);
        }
    }
    norm
}

trait IntoScalarF64 {
    fn into_scalar_f64(self) -> f64;
}

impl IntoScalarF64 for Tensor<1> {
    fn into_scalar_f64(self) -> f64 {
        self.to_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_the_floor() {
        let schedule = Schedule {
            peak: 1.0,
            warmup: 4,
            total: 14,
            floor: 0.1,
        };
        assert_eq!(schedule.lr(0), 0.25);
        assert_eq!(schedule.lr(3), 1.0);
        assert!((schedule.lr(4) - 1.0).abs() < 1e-12);
        assert!(
            (schedule.lr(9) - 0.55).abs() < 1e-12,
            "half way: floor + (1 - floor) / 2"
        );
        assert!((schedule.lr(14) - 0.1).abs() < 1e-12);
        assert!((schedule.lr(100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn adamw_matches_the_pytorch_update() {
        use burn::module::Param;
        use burn::nn::Embedding;
        use burn::tensor::{DType, Device, TensorData};

        let device = Device::flex();
        let tensor = |values: Vec<f64>| {
            Tensor::<1>::from_data(TensorData::new(values, [2]), (&device, DType::F64))
        };
        let weights = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f64, -2.0], [1, 2]),
            (&device, DType::F64),
        );
        let module = Embedding {
            weight: Param::from_tensor(weights),
        };
        let path = crate::params::named_values(&module)
            .keys()
            .next()
            .unwrap()
            .clone();
        let config = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let mut optimizer = AdamW::new(config).unwrap();
        let (lr, g) = (0.01, [0.5, -0.25]);
        let mut expected = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        let mut module = module;
        for t in 1..=3 {
            let gradients = BTreeMap::from([(path.clone(), tensor(g.to_vec()))]);
            module = optimizer.step(module, &gradients, lr).unwrap();
            for i in 0..2 {
                expected[i] *= 1.0 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let m_hat = m[i] / (1.0 - 0.9f64.powi(t));
                let v_hat = v[i] / (1.0 - 0.999f64.powi(t));
                expected[i] -= lr * m_hat / (v_hat.sqrt() + 1e-8);
            }
        }
        let got: Vec<f64> = module.weight.val().to_data().try_to_vec().unwrap();
        for i in 0..2 {
            assert!(
                (got[i] - expected[i]).abs() < 1e-12,
                "{got:?} vs {expected:?}"
            );
        }
        assert_eq!(optimizer.updates, 3);
    }

    #[test]
    fn clipping_bounds_the_joint_norm() {
        use burn::tensor::{Device, TensorData};
        let device = Device::flex();
        let mut gradients = BTreeMap::from([
            (
                "a".to_string(),
                Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &device),
            ),
            (
                "b".to_string(),
                Tensor::<1>::from_data(TensorData::new(vec![4.0f32], [1]), &device),
            ),
        ]);
        assert!((clip_global_norm(&mut gradients, None) - 5.0).abs() < 1e-6);
        assert!((clip_global_norm(&mut gradients, Some(1.0)) - 5.0).abs() < 1e-6);
        assert!((clip_global_norm(&mut gradients, None) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn bad_betas_are_errors() {
        let config = AdamWConfig {
            beta1: 1.0,
            ..AdamWConfig::default()
        };
        assert!(AdamW::new(config).is_err());
    }

    #[test]
    fn decay_skips_biases_and_norms() {
        assert!(decays("blocks.0.attention.query.weight"));
        assert!(!decays("blocks.0.attention.query.bias"));
        assert!(!decays("blocks.0.mlp_norm.gamma"));
        assert!(!decays("final_norm.beta"));
    }
}
