//! Multi-head self-attention with an explicit who-sees-whom mask, per-token positions,
//! grouped-query heads and an optional cache of past keys and values.
//!
//! burn's `MultiHeadAttention` and `RotaryEncoding` assume positions `start..start+T` shared by
//! every row. Shared-prefix scoring needs positions that restart after the prompt for every
//! response and a block mask, so rotations are built from each token's own position.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

use super::packed::PrefixBlocks;
use super::projection::Projection;
use crate::config::{RopeFrequencyPrecision, RopeScaling};

/// Additive bias of disallowed keys: `exp` of it is exactly 0 in every float type, so masked
/// keys contribute nothing and get no gradient. Negative infinity rather than a large finite
/// number because libm's `expf` answers `-inf` at once but takes its slow underflow path (with
/// an `errno` write) for every finite argument below -104, and most of a shared-prefix row's
/// keys are masked. Every query sees at least itself, so a row's maximum stays finite and
/// softmax never meets `-inf - -inf`.
const MASKED_SCORE: f64 = f64::NEG_INFINITY;

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

/// Who sees whom, as additive score biases (0 where allowed, [`MASKED_SCORE`] elsewhere),
/// built once per forward pass and shared by every block.
// One per forward pass, never collected: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum AttentionMask {
    /// `[rows, 1, len, past + len]`: any mask, one dense score matrix.
    Dense(Tensor<4>),
    /// Rows laid out as [`PrefixBlocks`] (no cache): `prefix: [rows, 1, P, P]` among the
    /// prefix slots, `responses: [rows, 1, B·L, P + L]`, each response slot's bias against the
    /// prefix followed by its bias against the `L` slots of its own block.
    PrefixBlocks {
        layout: PrefixBlocks,
        prefix: Tensor<4>,
        responses: Tensor<4>,
    },
}

impl AttentionMask {
    /// The biases of `allowed` (`rows × len × keys`, row-major, `keys = past + len`) in the
    /// layout `blocks` when given (then `keys == len`), dense otherwise.
    pub fn new(
        allowed: &[bool],
        [rows, len, keys]: [usize; 3],
        blocks: Option<PrefixBlocks>,
        device: &burn::tensor::Device,
        dtype: burn::tensor::DType,
    ) -> Self {
        let bias = |values: Vec<bool>, shape: [usize; 3]| {
            mask_bias(
                &Tensor::<3, Bool>::from_data(burn::tensor::TensorData::new(values, shape), device),
                dtype,
            )
        };
        let Some(layout) = blocks.filter(|_| keys == len) else {
            return Self::Dense(bias(allowed.to_vec(), [rows, len, keys]));
        };
        let (p, l) = (layout.prefix, layout.block_len);
        let responses = layout.blocks * l;
        let mut prefix = Vec::with_capacity(rows * p * p);
        let mut response = Vec::with_capacity(rows * responses * (p + l));
        for row in 0..rows {
            let query_row = |query: usize| &allowed[(row * len + query) * len..][..len];
            for query in 0..p {
                prefix.extend_from_slice(&query_row(query)[..p]);
            }
            for query in p..len {
                let own_block = p + (query - p) / l * l;
                let seen = query_row(query);
                response.extend_from_slice(&seen[..p]);
                response.extend_from_slice(&seen[own_block..own_block + l]);
            }
        }
        Self::PrefixBlocks {
            layout,
            prefix: bias(prefix, [rows, p, p]),
            responses: bias(response, [rows, responses, p + l]),
        }
    }
}

impl SelfAttention {
    /// `x: [rows, len, d]` are new slots; `past` holds the keys and values of earlier slots of
    /// the same rows (only with a dense mask). Returns the attended `[rows, len, d]` and the
    /// cache extended by the new slots.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask: &AttentionMask,
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
        let context = match mask {
            AttentionMask::Dense(bias) => attend(q, keys, values, scale, bias),
            AttentionMask::PrefixBlocks {
                layout,
                prefix,
                responses,
            } => attend_blocks([q, keys, values], scale, *layout, prefix, responses),
        };
        let context = context
            .swap_dims(1, 2)
            .reshape([rows, len, heads * head_dim]);
        (self.output.forward(context), cache)
    }
}

/// `softmax(scale·q·kᵀ + bias)·v` over `[rows, heads, ·, head_dim]`.
fn attend(
    q: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    scale: f64,
    bias: &Tensor<4>,
) -> Tensor<4> {
    let scores = q.matmul(keys.swap_dims(2, 3)).mul_scalar(scale);
    softmax(scores + bias.clone(), 3).matmul(values)
}

/// [`attend`] for rows laid out as [`PrefixBlocks`]: the same numbers, without the scores the
/// layout masks. The prefix attends among itself; every response slot's scores against the
/// prefix and against its own block share one softmax.
fn attend_blocks(
    [q, keys, values]: [Tensor<4>; 3],
    scale: f64,
    layout: PrefixBlocks,
    prefix_bias: &Tensor<4>,
    response_bias: &Tensor<4>,
) -> Tensor<4> {
    let [rows, heads, _, head_dim] = q.dims();
    let (p, blocks, l) = (layout.prefix, layout.blocks, layout.block_len);
    let split = |t: Tensor<4>| (t.clone().narrow(2, 0, p), t.narrow(2, p, blocks * l));
    let ((q_prefix, q_blocks), (k_prefix, k_blocks), (v_prefix, v_blocks)) =
        (split(q), split(keys), split(values));
    let prefix = attend(
        q_prefix,
        k_prefix.clone(),
        v_prefix.clone(),
        scale,
        prefix_bias,
    );
    // One `[L × L]` block per (row, head, response).
    let per_block = |t: Tensor<4>| t.reshape([rows, heads * blocks, l, head_dim]);
    let q_per_block = per_block(q_blocks.clone());
    let own = q_per_block
        .matmul(per_block(k_blocks).swap_dims(2, 3))
        .reshape([rows, heads, blocks * l, l]);
    let against_prefix = q_blocks.matmul(k_prefix.swap_dims(2, 3));
    let scores = Tensor::cat(vec![against_prefix, own], 3).mul_scalar(scale);
    let weights = softmax(scores + response_bias.clone(), 3);
    let from_prefix = weights.clone().narrow(3, 0, p).matmul(v_prefix);
    let from_own = weights
        .narrow(3, p, l)
        .reshape([rows, heads * blocks, l, l])
        .matmul(per_block(v_blocks))
        .reshape([rows, heads, blocks * l, head_dim]);
    Tensor::cat(vec![prefix, from_prefix + from_own], 2)
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
/// 0 where `allowed[r][q][k]`, [`MASKED_SCORE`] elsewhere.
fn mask_bias(allowed: &Tensor<3, Bool>, dtype: burn::tensor::DType) -> Tensor<4> {
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
