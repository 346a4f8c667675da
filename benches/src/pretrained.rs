//! The pretrained families' blocks at the `small` size (d 256, 4 layers, vocabulary 8192): what
//! the `pretrained` bench times for forward throughput, a LoRA preference step and generation
//! with and without the KV cache. Weights are random; speed does not depend on their values.

use prefopt_models::config::{
    Activation, Biases, NormKind, PositionEncoding, Preset, TransformerConfig,
};

/// Llama (GQA 4 → 2 key/value heads, RMSNorm, SwiGLU, untied head), Qwen2 (the same with
/// q/k/v biases and a tied head) and GPT-2 (fused q/k/v, learned positions, layer norm, tanh
/// GELU) at the `small` preset's width and depth.
pub fn small_architectures() -> Vec<(&'static str, TransformerConfig)> {
    let small = Preset::Small.config(8192);
    let llama = TransformerConfig {
        kv_heads: Some(2),
        d_ff: 688,
        norm: NormKind::RmsNorm,
        activation: Activation::Silu,
        gated_mlp: true,
        biases: Biases {
            qkv: false,
            attention_output: false,
            mlp: false,
        },
        tie_embeddings: false,
        ..small.clone()
    };
    let qwen2 = TransformerConfig {
        biases: Biases {
            qkv: true,
            ..llama.biases
        },
        tie_embeddings: true,
        positions: PositionEncoding::Rope {
            theta: 1e6,
            scaling: None,
            precision: Default::default(),
        },
        ..llama.clone()
    };
    let gpt2 = TransformerConfig {
        fused_qkv: true,
        positions: PositionEncoding::Learned,
        activation: Activation::GeluTanh,
        ..small
    };
    vec![("llama", llama), ("qwen2", qwen2), ("gpt2", gpt2)]
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::Device;
    use prefopt_models::transformer::Transformer;

    use super::*;

    #[test]
    fn the_small_architectures_build_at_their_counted_size() {
        for (name, config) in small_architectures() {
            let model = Transformer::new(&config, 0, &Device::flex()).unwrap();
            assert_eq!(model.num_params(), config.parameter_count(), "{name}");
        }
    }
}
