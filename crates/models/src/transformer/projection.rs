//! A linear projection that may carry a LoRA adapter.
//!
//! The adapter is a module of its own beside the frozen weight (rather than burn's weight
//! reparameterisation, which folds `scale·A·B` into the weight) for two reasons: LoRA dropout
//! acts on the adapter's input, which a weight-space reparameterisation cannot express, and the
//! preference stage's reference model is the same weights with the adapters switched off
//! ([`crate::transformer::Transformer::without_adapters`]), which is a matter of dropping these
//! fields from a clone that shares every tensor.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::Tensor;

/// `y = x·W + b`, plus `scale · dropout(x)·A·B` when an adapter is attached.
#[derive(Module, Debug)]
pub struct Projection {
    pub linear: Linear,
    pub lora: Option<LoraAdapter>,
}

/// The low-rank update of one projection: `A: d_in → r` and `B: r → d_out` (no biases), scaled
/// by `alpha / r`. `B` starts at zero, so attaching an adapter does not change the model.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    pub a: Linear,
    pub b: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub scale: f64,
}

impl Projection {
    pub fn new(linear: Linear) -> Self {
        Self { linear, lora: None }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.lora {
            None => self.linear.forward(x),
            Some(lora) => {
                let update = lora
                    .b
                    .forward(lora.a.forward(lora.dropout.forward(x.clone())))
                    .mul_scalar(lora.scale);
                self.linear.forward(x) + update
            }
        }
    }

    /// Input and output widths.
    pub fn dims(&self) -> [usize; 2] {
        self.linear.weight.dims()
    }
}

impl LoraAdapter {
    /// `scale · A·B`, `[d_in, d_out]`: what merging adds to the weight.
    pub fn delta(&self) -> Tensor<2> {
        self.a
            .weight
            .val()
            .matmul(self.b.weight.val())
            .mul_scalar(self.scale)
    }
}
