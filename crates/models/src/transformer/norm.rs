//! The two normalisations the supported families use, behind one module type so a block's
//! code does not branch on the architecture.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
use burn::tensor::{Device, Tensor};

use crate::config::NormKind;

/// A layer norm (GPT-2, the from-scratch presets) or an RMS norm (Llama, Qwen2).
#[derive(Module, Debug)]
pub enum Norm {
    Layer(LayerNorm),
    Rms(RmsNorm),
}

impl Norm {
    /// A norm of width `d` with unit scale (and zero shift).
    pub fn new(kind: NormKind, d: usize, epsilon: f64, device: &Device) -> Self {
        match kind {
            NormKind::LayerNorm => {
                Self::Layer(LayerNormConfig::new(d).with_epsilon(epsilon).init(device))
            }
            NormKind::RmsNorm => {
                Self::Rms(RmsNormConfig::new(d).with_epsilon(epsilon).init(device))
            }
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Layer(norm) => norm.forward(x),
            Self::Rms(norm) => norm.forward(x),
        }
    }
}
