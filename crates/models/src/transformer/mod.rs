//! The decoder-only transformer: pre-norm blocks over token (and optional soft-token)
//! embeddings, with per-token positions and an explicit attention mask supplied by the caller,
//! so the same model serves causal language modelling, shared-prefix scoring and generation.

mod attention;
mod init;
mod packed;

use burn::module::{Module, Param};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

pub use attention::{Rotation, SelfAttention};
pub use packed::PackedBatch;

use crate::config::{PositionEncoding, TransformerConfig};
use crate::error::{ModelError, Result};

/// The MLP of a block: `d → d_ff → d` with the exact (erf) GELU.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub up: Linear,
    pub down: Linear,
}

/// One pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct Block {
    pub attention_norm: LayerNorm,
    pub attention: SelfAttention,
    pub mlp_norm: LayerNorm,
    pub mlp: FeedForward,
}

impl Block {
    fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: &Tensor<4>,
        rotation: Option<&Rotation>,
    ) -> Tensor<3> {
        let attended = x.clone()
            + self
                .attention
                .forward(self.attention_norm.forward(x), mask_bias, rotation);
        let hidden = gelu(self.mlp.up.forward(self.mlp_norm.forward(attended.clone())));
        attended + self.mlp.down.forward(hidden)
    }
}

/// A decoder-only transformer sized by [`TransformerConfig`].
#[derive(Module, Debug)]
pub struct Transformer {
    pub token_embedding: Embedding,
    pub position_embedding: Option<Embedding>,
    pub blocks: Vec<Block>,
    pub final_norm: LayerNorm,
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
        let positions_i64: Vec<i64> = batch.positions.iter().map(|&p| p as i64).collect();
        let rotation = match (&self.position_embedding, self.config.positions) {
            (Some(table), PositionEncoding::Learned) => {
                let positions = Tensor::<2, Int>::from_data(
                    TensorData::new(positions_i64, [rows, len]),
                    &device,
                );
                x = x + table.forward(positions);
                None
            }
            (_, PositionEncoding::Rope { theta }) => {
                let head_dim = self.config.head_dim();
                let (cos, sin) = attention::rotation_values(&batch.positions, head_dim, theta);
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
        let allowed = Tensor::<3, burn::tensor::Bool>::from_data(
            TensorData::new(batch.allowed.clone(), [rows, len, len]),
            &device,
        );
        let mask_bias = attention::mask_bias(&allowed, dtype);
        for block in &self.blocks {
            x = block.forward(x, &mask_bias, rotation.as_ref());
        }
        Ok(self.final_norm.forward(x))
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
            .map_err(|e| ModelError::InvalidConfig(format!("reading hidden states: {e:?}")))?;
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
}
