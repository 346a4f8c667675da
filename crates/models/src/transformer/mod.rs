//! The decoder-only transformer: pre-norm blocks over token (and optional soft-token)
//! embeddings, with per-token positions and an explicit attention mask supplied by the caller,
//! so the same model serves causal language modelling, shared-prefix scoring and generation.

mod attention;
mod cache;
mod init;
mod norm;
mod packed;
mod projection;

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::activation::{gelu, relu, silu};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

pub use attention::{
    AttentionMask, LayerCache, QkvProjection, Rotation, SelfAttention, SeparateQkv,
};
pub use cache::KvCache;
pub use norm::Norm;
pub use packed::{PackedBatch, PrefixBlocks};
pub use projection::{LoraAdapter, Projection};

pub(crate) use init::skeleton;

use crate::config::{Activation, PositionEncoding, TransformerConfig};
use crate::error::{ModelError, Result};

/// The MLP of a block: `down(act(up(x)))`, or gated `down(act(gate(x)) · up(x))` (SwiGLU).
#[derive(Module, Debug)]
pub struct FeedForward {
    pub up: Projection,
    pub gate: Option<Projection>,
    pub down: Projection,
    #[module(skip)]
    pub activation: Activation,
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let act = |t: Tensor<3>| match self.activation {
            Activation::Gelu => gelu(t),
            Activation::GeluTanh => gelu_tanh(t),
            Activation::Silu => silu(t),
            Activation::Relu => relu(t),
        };
        let hidden = match &self.gate {
            Some(gate) => act(gate.forward(x.clone())) * self.up.forward(x),
            None => act(self.up.forward(x)),
        };
        self.down.forward(hidden)
    }
}

/// GPT-2's `gelu_new`: `x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`. The cube is a product,
/// not a `powf`, so negative inputs never meet a logarithm.
fn gelu_tanh(x: Tensor<3>) -> Tensor<3> {
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube.mul_scalar(0.044715)).mul_scalar(sqrt_2_over_pi);
    (x * (inner.tanh() + 1.0)).mul_scalar(0.5)
}

/// One pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct Block {
    pub attention_norm: Norm,
    pub attention: SelfAttention,
    pub mlp_norm: Norm,
    pub mlp: FeedForward,
}

impl Block {
    fn forward(
        &self,
        x: Tensor<3>,
        mask: &AttentionMask,
        rotation: Option<&Rotation>,
        past: Option<&LayerCache>,
    ) -> (Tensor<3>, LayerCache) {
        let (attended, cache) =
            self.attention
                .forward(self.attention_norm.forward(x.clone()), mask, rotation, past);
        let attended = x + attended;
        let out = attended.clone() + self.mlp.forward(self.mlp_norm.forward(attended));
        (out, cache)
    }
}

/// A decoder-only transformer sized by [`TransformerConfig`].
#[derive(Module, Debug)]
pub struct Transformer {
    pub token_embedding: Embedding,
    pub position_embedding: Option<Embedding>,
    pub blocks: Vec<Block>,
    pub final_norm: Norm,
    /// The output projection when embeddings are not tied.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    pub config: TransformerConfig,
}

impl Transformer {
    /// A freshly initialised model: weight matrices from `N(0, init_std²)` drawn by a seeded
    /// generator on the host (the same seed gives the same weights on every backend), biases
    /// zero, norms one.
    pub fn new(config: &TransformerConfig, seed: u64, device: &Device) -> Result<Self> {
        config.check()?;
        Ok(init::initialise(config, seed, device))
    }

    /// The same model with its weights in another float type (f64 for exact parity tests,
    /// f16/bf16 to halve memory on a GPU).
    pub fn cast(self, dtype: DType) -> Result<Self> {
        crate::params::map_params(self, |_, _, value| Ok(Some(value.cast(dtype))))
    }

    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.token_embedding.weight.val().device()
    }

    /// The float type of the weights (inputs built on the host are created in it).
    pub fn dtype(&self) -> DType {
        self.token_embedding.weight.val().dtype()
    }

    /// Final hidden states `[rows, len, d]` of a packed batch. `soft_tokens`, when the batch
    /// reserves leading slots for them, are `[rows, soft, d]` embeddings placed in those slots
    /// (P-RLHF's user tokens); they receive gradients like any other input.
    pub fn hidden(&self, batch: &PackedBatch, soft_tokens: Option<Tensor<3>>) -> Result<Tensor<3>> {
        Ok(self.hidden_after(batch, soft_tokens, None)?.0)
    }

    /// [`Self::hidden`] for slots that follow the cached ones (incremental decoding): every slot
    /// of `batch` also sees every cached slot of its row, at the positions `batch` gives. Returns
    /// the new slots' hidden states and the cache extended by them.
    pub fn hidden_after(
        &self,
        batch: &PackedBatch,
        soft_tokens: Option<Tensor<3>>,
        past: Option<&KvCache>,
    ) -> Result<(Tensor<3>, KvCache)> {
        batch.check()?;
        let max = self.config.max_positions;
        if let Some(position) = batch.positions.iter().copied().max()
            && position >= max
        {
            return Err(ModelError::InvalidConfig(format!(
                "a sequence of {} positions exceeds the model's max_positions ({max})",
                position + 1
            )));
        }
        let past_slots = match past {
            Some(cache) => cache.check(self.blocks.len(), batch.rows)?,
            None => 0,
        };
        let device = self.device();
        let dtype = self.dtype();
        let [rows, len] = [batch.rows, batch.len];
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(batch.tokens.clone(), [rows, len]),
            &device,
        );
        let mut x = self.token_embedding.forward(tokens);
        if batch.soft_tokens > 0 {
            let soft = soft_tokens.ok_or_else(|| {
                ModelError::InvalidConfig(format!(
                    "the batch reserves {} soft-token slots but no soft tokens were given",
                    batch.soft_tokens
                ))
            })?;
            let expected = [rows, batch.soft_tokens, self.config.d_model];
            if soft.dims() != expected {
                return Err(ModelError::InvalidConfig(format!(
                    "soft tokens have shape {:?}, expected {expected:?}",
                    soft.dims()
                )));
            }
            let rest = x.narrow(1, batch.soft_tokens, len - batch.soft_tokens);
            x = Tensor::cat(vec![soft, rest], 1);
        } else if soft_tokens.is_some() {
            return Err(ModelError::InvalidConfig(
                "soft tokens were given but the batch reserves no slots for them".into(),
            ));
        }
        let rotation = match (&self.position_embedding, self.config.positions) {
            (Some(table), PositionEncoding::Learned) => {
                let positions: Vec<i64> = batch.positions.iter().map(|&p| p as i64).collect();
                let positions =
                    Tensor::<2, Int>::from_data(TensorData::new(positions, [rows, len]), &device);
                x = x + table.forward(positions);
                None
            }
            (
                _,
                PositionEncoding::Rope {
                    theta,
                    scaling,
                    precision,
                },
            ) => {
                let head_dim = self.config.head_dim();
                let (cos, sin) = attention::rotation_values(
                    &batch.positions,
                    attention::RopeSettings {
                        head_dim,
                        theta,
                        scaling: scaling.as_ref(),
                        precision,
                    },
                );
                let table = |values: Vec<f32>| {
                    Tensor::<3>::from_data(
                        TensorData::new(values, [rows, len, head_dim]),
                        (&device, dtype),
                    )
                };
                Some(Rotation {
                    cos: table(cos),
                    sin: table(sin),
                })
            }
            (None, PositionEncoding::Learned) => {
                return Err(ModelError::InvalidConfig(
                    "learned positions are configured but the model has no position table".into(),
                ));
            }
        };
        let keys = past_slots + len;
        let mask = if past_slots == 0 {
            AttentionMask::new(
                &batch.allowed,
                [rows, len, keys],
                batch.blocks,
                &device,
                dtype,
            )
        } else {
            let mut allowed = Vec::with_capacity(rows * len * keys);
            for row in 0..rows {
                for query in 0..len {
                    allowed.extend(std::iter::repeat_n(true, past_slots));
                    let at = (row * len + query) * len;
                    allowed.extend_from_slice(&batch.allowed[at..at + len]);
                }
            }
            AttentionMask::new(&allowed, [rows, len, keys], None, &device, dtype)
        };
        let mut layers = Vec::with_capacity(self.blocks.len());
        for (index, block) in self.blocks.iter().enumerate() {
            let layer_past = past.map(|cache| &cache.layers[index]);
            let (out, layer) = block.forward(x, &mask, rotation.as_ref(), layer_past);
            x = out;
            layers.push(layer);
        }
        Ok((self.final_norm.forward(x), KvCache { layers }))
    }

    /// Vocabulary logits of hidden states `[n, d] → [n, V]`.
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => hidden.matmul(self.token_embedding.weight.val().transpose()),
        }
    }

    /// The mean final hidden state over each prompt's tokens, one `d`-vector per prompt: a
    /// prompt embedding taken from the policy itself (RPO's similarity weights when the dataset
    /// carries no `prompt_embedding`). Computed without building a graph; constants.
    pub fn mean_prompt_states(&self, prompts: &[&[u32]], pad: u32) -> Result<Vec<Vec<f64>>> {
        if let Some(index) = prompts.iter().position(|p| p.is_empty()) {
            return Err(ModelError::example(
                index,
                "an empty prompt has no hidden states",
            ));
        }
        let len = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut packed = PackedBatch::new(prompts.len(), len, 0, pad);
        for (row, prompt) in prompts.iter().enumerate() {
            for (slot, &token) in prompt.iter().enumerate() {
                packed.put(row, slot, token, slot);
            }
            let slots: Vec<usize> = (0..prompt.len()).collect();
            packed.causal(row, &[], &slots);
        }
        let hidden = self.hidden(&packed, None)?.detach();
        let d = self.config.d_model;
        let values: Vec<f64> = hidden
            .into_data()
            .convert::<f64>()
            .try_to_vec()
            .map_err(|e| ModelError::device_read("hidden states", e))?;
        Ok(prompts
            .iter()
            .enumerate()
            .map(|(row, prompt)| {
                let mut mean = vec![0.0; d];
                for slot in 0..prompt.len() {
                    let at = (row * len + slot) * d;
                    for (m, v) in mean.iter_mut().zip(&values[at..at + d]) {
                        *m += v / prompt.len() as f64;
                    }
                }
                mean
            })
            .collect())
    }

    /// The input embedding matrix `[V, d]` (for soft-token users that embed into the same space).
    pub fn embedding_matrix(&self) -> Param<Tensor<2>> {
        self.token_embedding.weight.clone()
    }

    /// The same model with every LoRA adapter switched off: the frozen base, sharing every
    /// weight tensor with `self` (no copy), as the preference stage's reference model.
    pub fn without_adapters(&self) -> Self {
        let mut base = self.clone();
        for named in base.projections_mut() {
            named.projection.lora = None;
        }
        base
    }

    /// Whether any projection carries a LoRA adapter.
    pub fn has_adapters(&self) -> bool {
        self.blocks.iter().any(|block| {
            let attention = &block.attention;
            let qkv: Vec<&Projection> = match &attention.qkv {
                QkvProjection::Separate(p) => vec![&p.query, &p.key, &p.value],
                QkvProjection::Fused(p) => vec![p],
            };
            qkv.into_iter()
                .chain([&attention.output, &block.mlp.up, &block.mlp.down])
                .chain(block.mlp.gate.as_ref())
                .any(|projection| projection.lora.is_some())
        })
    }

    /// Every projection of every block with its Hugging Face module path
    /// (`model.layers.3.self_attn.q_proj`, or `transformer.h.3.attn.c_attn` for a fused GPT-2
    /// block): the names LoRA's `target_modules` and PEFT's adapter files use.
    pub fn projections_mut(&mut self) -> Vec<NamedProjection<'_>> {
        let mut out = Vec::new();
        let mut push = |hf_path: String, module_path: String, projection| {
            out.push(NamedProjection {
                hf_path,
                module_path,
                projection,
            })
        };
        for (index, block) in self.blocks.iter_mut().enumerate() {
            let attention = &mut block.attention;
            let mlp = &mut block.mlp;
            let at = format!("blocks.{index}");
            let (hf, names) = match &attention.qkv {
                QkvProjection::Separate(_) => (
                    format!("model.layers.{index}"),
                    [
                        "self_attn.o_proj",
                        "mlp.gate_proj",
                        "mlp.up_proj",
                        "mlp.down_proj",
                    ],
                ),
                QkvProjection::Fused(_) => (
                    format!("transformer.h.{index}"),
                    ["attn.c_proj", "mlp.c_gate", "mlp.c_fc", "mlp.c_proj"],
                ),
            };
            match &mut attention.qkv {
                QkvProjection::Separate(p) => {
                    for (name, field, projection) in [
                        ("q_proj", "query", &mut p.query),
                        ("k_proj", "key", &mut p.key),
                        ("v_proj", "value", &mut p.value),
                    ] {
                        push(
                            format!("{hf}.self_attn.{name}"),
                            format!("{at}.attention.qkv.{field}"),
                            projection,
                        );
                    }
                }
                QkvProjection::Fused(p) => {
                    push(
                        format!("{hf}.attn.c_attn"),
                        format!("{at}.attention.qkv"),
                        p,
                    );
                }
            }
            push(
                format!("{hf}.{}", names[0]),
                format!("{at}.attention.output"),
                &mut attention.output,
            );
            if let Some(gate) = &mut mlp.gate {
                push(format!("{hf}.{}", names[1]), format!("{at}.mlp.gate"), gate);
            }
            push(
                format!("{hf}.{}", names[2]),
                format!("{at}.mlp.up"),
                &mut mlp.up,
            );
            push(
                format!("{hf}.{}", names[3]),
                format!("{at}.mlp.down"),
                &mut mlp.down,
            );
        }
        out
    }
}

/// A projection with its names: `hf_path` as Hugging Face and PEFT spell it, `module_path` as
/// burn-store sees it (enum variants skipped).
pub struct NamedProjection<'a> {
    pub hf_path: String,
    pub module_path: String,
    pub projection: &'a mut Projection,
}
