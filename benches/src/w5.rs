//! W5 (docs/benchmarks.md): one LoRA S-DPO step on a real-LLM shape. SmolLM2-135M's blocks
//! (Llama: d 576, 30 layers, 9 heads over 3 key/value heads, head_dim 64, SwiGLU ff 1536,
//! vocabulary 49152, tied head, RMSNorm, rope_theta 1e5) with random weights (the time does not
//! depend on their values), LoRA r 8 on q/v, B = 4 prompts of 256 tokens, K + 1 = 4 responses
//! of 12 tokens, cached reference log-probs, AdamW on the adapters.
//! `benches/peers/w5_torch.py` is the same step in `transformers` + `peft`.

use burn::tensor::Device;
use prefopt_models::config::{Activation, Biases, NormKind, PositionEncoding, TransformerConfig};
use prefopt_models::error::Result;
use prefopt_models::lora::{self, LoraConfig};
use prefopt_models::transformer::Transformer;

use crate::w2::{W2Shape, W2Step};

pub const W5: W2Shape = W2Shape {
    batch: 4,
    prompt_tokens: 256,
    responses: 4,
    response_tokens: 12,
};

/// SmolLM2-135M's configuration (its `config.json`, as `transformers` reads it).
pub fn smollm2_135m_config() -> TransformerConfig {
    TransformerConfig {
        vocab_size: 49152,
        d_model: 576,
        layers: 30,
        heads: 9,
        kv_heads: Some(3),
        head_dim: None,
        d_ff: 1536,
        max_positions: 8192,
        positions: PositionEncoding::Rope {
            theta: 1e5,
            scaling: None,
            precision: Default::default(),
        },
        norm: NormKind::RmsNorm,
        norm_eps: 1e-5,
        activation: Activation::Silu,
        gated_mlp: true,
        biases: Biases {
            qkv: false,
            attention_output: false,
            mlp: false,
        },
        fused_qkv: false,
        tie_embeddings: true,
        init_std: 0.02,
    }
}

/// The W5 step: `config` (SmolLM2's shape, or a smaller one in tests) with LoRA r 8 on PEFT's
/// default targets (q/v).
pub fn w5_step(config: &TransformerConfig, shape: W2Shape, device: &Device) -> Result<W2Step> {
    let base = Transformer::new(config, 0, device)?;
    let adapters = LoraConfig {
        rank: 8,
        alpha: 16.0,
        ..LoraConfig::default()
    };
    Ok(W2Step::with_model(shape, lora::attach(base, &adapters)?))
}

#[cfg(test)]
mod tests {
    use prefopt_models::params::named_values;
    use prefopt_models::scoring::ScoringMode;

    use super::*;

    #[test]
    fn smollm2_shape_has_its_published_parameter_count() {
        // 134,515,008 parameters (the model card's 135M; tied head counted once).
        assert_eq!(smollm2_135m_config().parameter_count(), 134_515_008);
    }

    #[test]
    fn a_reduced_w5_step_trains_only_the_adapters() {
        let config = TransformerConfig {
            // 9 heads of 8 over 3 key/value heads, as the real shape's grouping.
            d_model: 72,
            layers: 2,
            d_ff: 96,
            vocab_size: 512,
            ..smollm2_135m_config()
        };
        let shape = W2Shape {
            batch: 2,
            prompt_tokens: 10,
            responses: 3,
            response_tokens: 4,
        };
        let device = Device::flex().autodiff();
        let mut step = w5_step(&config, shape, &device).unwrap();
        let before = named_values(&step.model);
        let loss = step.step(ScoringMode::SharedPrefix);
        assert!(loss.is_finite());
        let after = named_values(&step.model);
        let changed: Vec<&String> = before
            .iter()
            .filter(|(path, value)| after.get(*path) != Some(value))
            .map(|(path, _)| path)
            .collect();
        assert!(!changed.is_empty(), "AdamW changed nothing");
        assert!(changed.iter().all(|p| p.contains("lora")), "{changed:?}");
    }
}
