//! Multi-head self-attention with an explicit who-sees-whom mask, per-token positions,
//! grouped-query heads and an optional cache of past keys and values.
//!
//! burn's `MultiHeadAttention` and `RotaryEncoding` assume positions `start..start+T` shared by
//! every row. Shared-prefix scoring needs positions that restart after the prompt for every
//! response and a block mask, so rotations are built from each token's own position.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

use super::projection::Projection;
use crate::config::{RopeFrequencyPrecision, RopeScaling};

/// Additive bias of disallowed keys. Large enough that `exp` underflows to exactly 0 in f32 and
/// f64 (so masked keys contribute nothing), small enough to stay finite when added to scores.
const MASKED_SCORE: f64 = -1.0e9;

/// Query, key and value as three projections (Llama, Qwen2, the presets).
#[derive(Module, Debug)]
pub struct SeparateQkv {
    pub query: Projection,
    pub key: Projection,
    pub value: Projection,
}

/// How a block computes query, key and value.
// One per block, never collected in bulk: the size gap between variants costs nothing worth
// an indirection through a box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum QkvProjection {
    Separate(SeparateQkv),
    /// One `[d, 3·heads·head_dim]` projection, split in that order (GPT-2's `c_attn`).
    Fused(Projection),
}

/// Self-attention of one block: q/k/v projections, scaled dot-product, output projection.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub qkv: QkvProjection,
    pub output: Projection,
    #[module(skip)]
    pub heads: usize,
    #[module(skip)]
    pub kv_heads: usize,
    #[module(skip)]
    pub head_dim: usize,
}

/// Cosine and sine of every token's rotation, `[rows, len, head_dim]` each (halves repeated).
#[derive(Clone, Debug)]
pub struct Rotation {
    pub cos: Tensor<3>,
    pub sin: Tensor<3>,
}

/// One block's keys (already rotated) and values of the slots seen so far,
/// `[rows, kv_heads, slots, head_dim]` each.
#[derive(Clone, Debug)]
pub struct LayerCache {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl SelfAttention {
    /// `x: [rows, len, d]` are new slots; `past` holds the keys and values of earlier slots of
    /// the same rows. `mask_bias: [rows, 1, len, past + len]` (0 where allowed, a large negative
    /// number elsewhere). Returns the attended `[rows, len, d]` and the cache extended by the
    /// new slots.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: &Tensor<4>,
        rotation: Option<&Rotation>,
        past: Option<&LayerCache>,
    ) -> (Tensor<3>, LayerCache) {
        let [rows, len, _] = x.dims();
        let (heads, kv_heads, head_dim) = (self.heads, self.kv_heads, self.head_dim);
        let split =
            |t: Tensor<3>, count: usize| t.reshape([rows, len, count, head_dim]).swap_dims(1, 2);
        let (q, k, v) = match &self.qkv {
            QkvProjection::Separate(p) => (
                p.query.forward(x.clone()),
                p.key.forward(x.clone()),
                p.value.forward(x),
            ),
            QkvProjection::Fused(p) => {
                let fused = p.forward(x);
                let width = heads * head_dim;
                (
                    fused.clone().narrow(2, 0, width),
                    fused.clone().narrow(2, width, width),
                    fused.narrow(2, 2 * width, width),
                )
            }
        };
        let (mut q, mut k, v) = (split(q, heads), split(k, kv_heads), split(v, kv_heads));
        if let Some(rotation) = rotation {
            q = rotate(q, rotation);
            k = rotate(k, rotation);
        }
        let cache = match past {
            Some(past) => LayerCache {
                keys: Tensor::cat(vec![past.keys.clone(), k], 2),
                values: Tensor::cat(vec![past.values.clone(), v], 2),
            },
            None => LayerCache { keys: k, values: v },
        };
        let keys = repeat_heads(cache.keys.clone(), heads / kv_heads);
        let values = repeat_heads(cache.values.clone(), heads / kv_heads);
        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = q.matmul(keys.swap_dims(2, 3)).mul_scalar(scale);
        let weights = softmax(scores + mask_bias.clone(), 3);
        let context = weights
            .matmul(values)
            .swap_dims(1, 2)
            .reshape([rows, len, heads * head_dim]);
        (self.output.forward(context), cache)
    }
}

/// Grouped-query attention: key/value head `i` serves query heads `i·rep .. (i+1)·rep`
/// (`transformers`' `repeat_kv`).
fn repeat_heads(x: Tensor<4>, rep: usize) -> Tensor<4> {
    if rep == 1 {
        return x;
    }
    let [rows, kv_heads, len, head_dim] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .repeat_dim(2, rep)
        .reshape([rows, kv_heads * rep, len, head_dim])
}

/// The additive attention bias of a mask `[rows, queries, keys]`, as `[rows, 1, queries, keys]`:
/// 0 where `allowed[r][q][k]`, a large negative number elsewhere. Built once per forward pass
/// and shared by every block.
pub fn mask_bias(allowed: &Tensor<3, Bool>, dtype: burn::tensor::DType) -> Tensor<4> {
    let [rows, queries, keys] = allowed.dims();
    Tensor::<3>::zeros([rows, queries, keys], (&allowed.device(), dtype))
        .mask_fill(allowed.clone().bool_not(), MASKED_SCORE)
        .unsqueeze_dim::<4>(1)
}

/// Applies rotary embeddings to `[rows, heads, len, head_dim]`, rotating the two halves of each
/// head against each other (the Llama / Qwen2 convention, `rotate_half`).
fn rotate(x: Tensor<4>, rotation: &Rotation) -> Tensor<4> {
    let head_dim = x.dims()[3];
    let half = head_dim / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated_half = Tensor::cat(vec![second.neg(), first], 3);
    let cos = rotation.cos.clone().unsqueeze_dim::<4>(1);
    let sin = rotation.sin.clone().unsqueeze_dim::<4>(1);
    x * cos + rotated_half * sin
}

/// How rotations are computed: the frequency ladder and the precision its values are held in.
#[derive(Clone, Copy, Debug)]
pub struct RopeSettings<'a> {
    pub head_dim: usize,
    pub theta: f64,
    pub scaling: Option<&'a RopeScaling>,
    pub precision: RopeFrequencyPrecision,
}

/// Host-side rotation tables for the given positions (`rows × len`, row-major), computed in
/// the configured precision (see [`RopeFrequencyPrecision`]).
pub fn rotation_values(positions: &[usize], rope: RopeSettings<'_>) -> (Vec<f32>, Vec<f32>) {
    let head_dim = rope.head_dim;
    let half = head_dim / 2;
    let inverse_frequencies: Vec<f64> = (0..half)
        .map(|i| {
            let frequency = rope.theta.powf(-((2 * i) as f64) / head_dim as f64);
            let scaled = rope.scaling.map_or(frequency, |s| s.apply(frequency));
            rope.precision.round(scaled)
        })
        .collect();
    let mut cos = Vec::with_capacity(positions.len() * head_dim);
    let mut sin = Vec::with_capacity(positions.len() * head_dim);
    for &position in positions {
        for _ in 0..2 {
            for &frequency in &inverse_frequencies {
                let angle = rope.precision.angle(position, frequency);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    (cos, sin)
}
