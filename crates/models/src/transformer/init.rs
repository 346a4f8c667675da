//! Building a model of a given shape: seeded host-side initialisation, so that one seed gives
//! bit-identical weights on flex, wgpu and any other backend (burn's initialisers draw from each
//! backend's own generator), or a skeleton of lazy parameters for a checkpoint to fill, which
//! allocates nothing until the checkpoint's tensors arrive (one copy of the weights in memory).

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Normal};

use super::{
    Block, FeedForward, Norm, Projection, QkvProjection, SelfAttention, SeparateQkv, Transformer,
};
use crate::config::{PositionEncoding, TransformerConfig};

/// Where the weights come from.
enum Source {
    /// `N(0, init_std²)` matrices from a seeded generator, zero biases.
    Seeded {
        rng: Box<Xoshiro256PlusPlus>,
        normal: Normal<f32>,
    },
    /// Lazy parameters, materialised only if nothing is loaded into them.
    Lazy,
}

struct Initialiser<'a> {
    source: Source,
    device: &'a Device,
}

impl Initialiser<'_> {
    fn matrix(&mut self, rows: usize, columns: usize) -> Param<Tensor<2>> {
        match &mut self.source {
            Source::Seeded { rng, normal } => {
                let values: Vec<f32> = (0..rows * columns)
                    .map(|_| normal.sample(rng.as_mut()))
                    .collect();
                Param::from_tensor(Tensor::from_data(
                    TensorData::new(values, [rows, columns]),
                    self.device,
                ))
            }
            Source::Lazy => {
                EmbeddingConfig::new(rows, columns)
                    .with_initializer(Initializer::Zeros)
                    .init(self.device)
                    .weight
            }
        }
    }

    fn linear(&mut self, d_input: usize, d_output: usize, bias: bool) -> Linear {
        match self.source {
            Source::Seeded { .. } => Linear {
                weight: self.matrix(d_input, d_output),
                bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_output], self.device))),
            },
            Source::Lazy => LinearConfig::new(d_input, d_output)
                .with_bias(bias)
                .with_initializer(Initializer::Zeros)
                .init(self.device),
        }
    }

    fn projection(&mut self, d_input: usize, d_output: usize, bias: bool) -> Projection {
        Projection::new(self.linear(d_input, d_output, bias))
    }

    fn embedding(&mut self, count: usize, width: usize) -> Embedding {
        Embedding {
            weight: self.matrix(count, width),
        }
    }

    fn norm(&self, config: &TransformerConfig) -> Norm {
        Norm::new(config.norm, config.d_model, config.norm_eps, self.device)
    }
}

/// A freshly initialised model (see [`Transformer::new`]).
pub(super) fn initialise(config: &TransformerConfig, seed: u64, device: &Device) -> Transformer {
    let source = Source::Seeded {
        rng: Box::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
        normal: Normal::new(0.0, config.init_std as f32).expect("init_std is checked positive"),
    };
    build(config, Initialiser { source, device })
}

/// A model of lazy parameters for a checkpoint loader to fill.
pub(crate) fn skeleton(config: &TransformerConfig, device: &Device) -> Transformer {
    build(
        config,
        Initialiser {
            source: Source::Lazy,
            device,
        },
    )
}

fn build(config: &TransformerConfig, mut init: Initialiser<'_>) -> Transformer {
    let d = config.d_model;
    let (heads, kv_heads, head_dim) = (config.heads, config.kv_heads(), config.head_dim());
    let biases = config.biases;
    let token_embedding = init.embedding(config.vocab_size, d);
    let position_embedding = matches!(config.positions, PositionEncoding::Learned)
        .then(|| init.embedding(config.max_positions, d));
    let blocks = (0..config.layers)
        .map(|_| {
            let attention_norm = init.norm(config);
            let qkv = if config.fused_qkv {
                QkvProjection::Fused(init.projection(d, 3 * heads * head_dim, biases.qkv))
            } else {
                QkvProjection::Separate(SeparateQkv {
                    query: init.projection(d, heads * head_dim, biases.qkv),
                    key: init.projection(d, kv_heads * head_dim, biases.qkv),
                    value: init.projection(d, kv_heads * head_dim, biases.qkv),
                })
            };
            let attention = SelfAttention {
                qkv,
                output: init.projection(heads * head_dim, d, biases.attention_output),
                heads,
                kv_heads,
                head_dim,
            };
            let mlp_norm = init.norm(config);
            let gate = config
                .gated_mlp
                .then(|| init.projection(d, config.d_ff, biases.mlp));
            let mlp = FeedForward {
                up: init.projection(d, config.d_ff, biases.mlp),
                gate,
                down: init.projection(config.d_ff, d, biases.mlp),
                activation: config.activation,
            };
            Block {
                attention_norm,
                attention,
                mlp_norm,
                mlp,
            }
        })
        .collect();
    let final_norm = init.norm(config);
    let lm_head = (!config.tie_embeddings).then(|| init.linear(d, config.vocab_size, false));
    Transformer {
        token_embedding,
        position_embedding,
        blocks,
        final_norm,
        lm_head,
        config: config.clone(),
    }
}
