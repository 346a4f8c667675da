//! Multi-head self-attention with an explicit who-sees-whom mask and per-token positions.
//!
//! burn's `MultiHeadAttention` and `RotaryEncoding` assume positions `start..start+T` shared by
//! every row. Shared-prefix scoring needs positions that restart after the prompt for every
//! response and a block mask, so rotations are built from each token's own position.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

/// Additive bias of disallowed keys. Large enough that `exp` underflows to exactly 0 in f32 and
/// f64 (so masked keys contribute nothing), small enough to stay finite when added to scores.
const MASKED_SCORE: f64 = -1.0e9;

/// Self-attention of one block: fused-free q/k/v projections, scaled dot-product, output.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    #[module(skip)]
    pub heads: usize,
}

/// Cosine and sine of every token's rotation, `[rows, len, head_dim]` each (halves repeated).
#[derive(Clone, Debug)]
pub struct Rotation {
    pub cos: Tensor<3>,
    pub sin: Tensor<3>,
}

impl SelfAttention {
    /// `x: [rows, len, d]`, `mask_bias: [rows, 1, len, len]` (see [`mask_bias`]) → `[rows, len, d]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: &Tensor<4>,
        rotation: Option<&Rotation>,
    ) -> Tensor<3> {
        let [rows, len, d_model] = x.dims();
        let head_dim = d_model / self.heads;
        let split = |t: Tensor<3>| t.reshape([rows, len, self.heads, head_dim]).swap_dims(1, 2);
        let mut q = split(self.query.forward(x.clone()));
        let mut k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        if let Some(rotation) = rotation {
            q = rotate(q, rotation);
            k = rotate(k, rotation);
        }
        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
        let weights = softmax(scores + mask_bias.clone(), 3);
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([rows, len, d_model]);
        self.output.forward(context)
    }
}

/// The additive attention bias of a mask, `[rows, 1, len, len]`: 0 where `allowed[r][q][k]`,
/// a large negative number elsewhere. Built once per forward pass and shared by every block.
pub fn mask_bias(allowed: &Tensor<3, Bool>, dtype: burn::tensor::DType) -> Tensor<4> {
    let [rows, len, _] = allowed.dims();
    Tensor::<3>::zeros([rows, len, len], (&allowed.device(), dtype))
        .mask_fill(allowed.clone().bool_not(), MASKED_SCORE)
        .unsqueeze_dim::<4>(1)
}

/// Applies rotary embeddings to `[rows, heads, len, head_dim]`, rotating the two halves of each
/// head against each other (the Llama / Qwen2 convention, `rotate_half`).
fn rotate(x: Tensor<4>, rotation: &Rotation) -> Tensor<4> {
    let [rows, heads, len, head_dim] = x.dims();
    let half = head_dim / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated_half = Tensor::cat(vec![second.neg(), first], 3);
    let cos = rotation.cos.clone().unsqueeze_dim::<4>(1);
    let sin = rotation.sin.clone().unsqueeze_dim::<4>(1);
    debug_assert_eq!(cos.dims(), [rows, 1, len, head_dim]);
    let _ = heads;
    x * cos + rotated_half * sin
}

/// Host-side rotation tables for the given positions (`rows × len`, row-major).
pub fn rotation_values(positions: &[usize], head_dim: usize, theta: f64) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let inverse_frequencies: Vec<f64> = (0..half)
        .map(|i| theta.powf(-((2 * i) as f64) / head_dim as f64))
        .collect();
    let mut cos = Vec::with_capacity(positions.len() * head_dim);
    let mut sin = Vec::with_capacity(positions.len() * head_dim);
    for &position in positions {
        for _ in 0..2 {
            for frequency in &inverse_frequencies {
                let angle = position as f64 * frequency;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    (cos, sin)
}
