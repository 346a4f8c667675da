//! Seeded host-side initialisation, so that one seed gives bit-identical weights on flex, wgpu
//! and any other backend (burn's initialisers draw from each backend's own generator).

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Normal};

use super::{Block, FeedForward, SelfAttention, Transformer};
use crate::config::{PositionEncoding, TransformerConfig};

struct Initialiser<'a> {
    rng: Xoshiro256PlusPlus,
    normal: Normal<f32>,
    device: &'a Device,
}

impl Initialiser<'_> {
    fn matrix(&mut self, rows: usize, columns: usize) -> Param<Tensor<2>> {
        let values: Vec<f32> = (0..rows * columns)
            .map(|_| self.normal.sample(&mut self.rng))
            .collect();
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [rows, columns]),
            self.device,
        ))
    }

    fn linear(&mut self, d_input: usize, d_output: usize, bias: bool) -> Linear {
        Linear {
            weight: self.matrix(d_input, d_output),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_output], self.device))),
        }
    }

    fn embedding(&mut self, count: usize, width: usize) -> Embedding {
        Embedding {
            weight: self.matrix(count, width),
        }
    }

    fn norm(&self, config: &TransformerConfig) -> LayerNorm {
        LayerNormConfig::new(config.d_model)
            .with_epsilon(config.norm_eps)
            .init(self.device)
    }
}

pub(super) fn initialise(config: &TransformerConfig, seed: u64, device: &Device) -> Transformer {
    let mut init = Initialiser {
        rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        normal: Normal::new(0.0, config.init_std as f32).expect("init_std is checked positive"),
        device,
    };
    let d = config.d_model;
    let token_embedding = init.embedding(config.vocab_size, d);
    let position_embedding = matches!(config.positions, PositionEncoding::Learned)
        .then(|| init.embedding(config.max_positions, d));
    let blocks = (0..config.layers)
        .map(|_| Block {
            attention_norm: init.norm(config),
            attention: SelfAttention {
                query: init.linear(d, d, true),
                key: init.linear(d, d, true),
                value: init.linear(d, d, true),
                output: init.linear(d, d, true),
                heads: config.heads,
            },
            mlp_norm: init.norm(config),
            mlp: FeedForward {
                up: init.linear(d, config.d_ff, true),
                down: init.linear(config.d_ff, d, true),
            },
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
