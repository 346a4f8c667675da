//! The transformer's size and shape, as a serde config with named presets, so an experiment's
//! TOML names `model = "small"` or spells every field out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// How token positions enter the model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PositionEncoding {
    /// Rotary embeddings (Llama/Qwen convention: the two halves of each head are rotated).
    Rope {
        /// Base of the geometric frequency ladder.
        theta: f64,
    },
    /// A learned table of `max_positions` vectors added to the token embeddings (GPT-2).
    Learned,
}

impl Default for PositionEncoding {
    fn default() -> Self {
        Self::Rope { theta: 10_000.0 }
    }
}

/// A decoder-only transformer: pre-norm blocks of multi-head self-attention and a GELU MLP,
/// a final layer norm, and (by default) an output projection tied to the input embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Tokens in the vocabulary (the tokenizer's size).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention heads per block; must divide `d_model`.
    pub heads: usize,
    /// Hidden width of the MLP.
    pub d_ff: usize,
    /// Longest sequence (soft tokens + prompt + one response) the positions cover.
    pub max_positions: usize,
    #[serde(default)]
    pub positions: PositionEncoding,
    /// Layer-norm epsilon.
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    /// Share the input embedding matrix with the output projection.
    #[serde(default = "default_true")]
    pub tie_embeddings: bool,
    /// Standard deviation of the normal initialisation of weight matrices (GPT-2 uses 0.02).
    #[serde(default = "default_init_std")]
    pub init_std: f64,
}

fn default_norm_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}
fn default_init_std() -> f64 {
    0.02
}

impl TransformerConfig {
    /// Checks that the shape is buildable; every constructor calls it.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("layers", self.layers),
            ("heads", self.heads),
            ("d_ff", self.d_ff),
            ("max_positions", self.max_positions),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ModelError::InvalidConfig(format!(
                    "{name} must be positive"
                )));
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(ModelError::InvalidConfig(format!(
                "heads ({}) must divide d_model ({})",
                self.heads, self.d_model
            )));
        }
        if let PositionEncoding::Rope { theta } = self.positions {
            if !(self.d_model / self.heads).is_multiple_of(2) {
                return Err(ModelError::InvalidConfig(
                    "rotary positions need an even head dimension".into(),
                ));
            }
            if !(theta.is_finite() && theta > 1.0) {
                return Err(ModelError::InvalidConfig(format!(
                    "rope theta must be a finite number above 1, got {theta}"
                )));
            }
        }
        if !(self.norm_eps > 0.0 && self.init_std > 0.0) {
            return Err(ModelError::InvalidConfig(
                "norm_eps and init_std must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }

    /// Parameters the model holds (tied embeddings counted once).
    pub fn parameter_count(&self) -> usize {
        let d = self.d_model;
        let block = 2 * 2 * d + (4 * d * d + 4 * d) + (2 * d * self.d_ff + self.d_ff + d);
        let embeddings = self.vocab_size * d;
        let output = if self.tie_embeddings {
            0
        } else {
            self.vocab_size * d
        };
        let positions = match self.positions {
            PositionEncoding::Learned => self.max_positions * d,
            PositionEncoding::Rope { .. } => 0,
        };
        embeddings + output + positions + self.layers * block + 2 * d
    }
}

/// Named sizes. `tiny` trains in seconds on two cores (tests), `small` is the experiments'
/// CPU default and W2's shape, `base` is GPT-2-small-like for a GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Tiny,
    Small,
    Base,
}

impl Preset {
    /// The preset's config for a tokenizer of `vocab_size` tokens.
    pub fn config(self, vocab_size: usize) -> TransformerConfig {
        let (d_model, layers, heads, d_ff, max_positions) = match self {
            Self::Tiny => (64, 2, 4, 256, 512),
            Self::Small => (256, 4, 4, 1024, 1024),
            Self::Base => (768, 12, 12, 3072, 2048),
        };
        TransformerConfig {
            vocab_size,
            d_model,
            layers,
            heads,
            d_ff,
            max_positions,
            positions: PositionEncoding::default(),
            norm_eps: default_norm_eps(),
            tie_embeddings: true,
            init_std: default_init_std(),
        }
    }
}

impl FromStr for Preset {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::Tiny),
            "small" => Ok(Self::Small),
            "base" => Ok(Self::Base),
            other => Err(ModelError::InvalidConfig(format!(
                "unknown model preset `{other}`; expected tiny, small or base"
            ))),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tiny => "tiny",
            Self::Small => "small",
            Self::Base => "base",
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::Device;

    use super::*;
    use crate::transformer::Transformer;

    #[test]
    fn parameter_count_matches_the_built_model() {
        for positions in [PositionEncoding::default(), PositionEncoding::Learned] {
            for tie_embeddings in [true, false] {
                let config = TransformerConfig {
                    positions,
                    tie_embeddings,
                    ..Preset::Tiny.config(100)
                };
                let model = Transformer::new(&config, 0, &Device::flex()).unwrap();
                assert_eq!(model.num_params(), config.parameter_count());
            }
        }
        assert_eq!(Preset::Small.config(8192).parameter_count(), 5_256_704);
    }

    #[test]
    fn unbuildable_shapes_are_errors() {
        let bad = |edit: fn(&mut TransformerConfig)| {
            let mut config = Preset::Tiny.config(10);
            edit(&mut config);
            config.check().unwrap_err().to_string()
        };
        assert!(bad(|c| c.heads = 3).contains("heads (3) must divide d_model (64)"));
        assert!(bad(|c| c.vocab_size = 0).contains("vocab_size must be positive"));
        assert!(bad(|c| c.positions = PositionEncoding::Rope { theta: 0.5 }).contains("theta"));
        assert_eq!("Small".parse::<Preset>().unwrap(), Preset::Small);
        assert!("huge".parse::<Preset>().is_err());
        let json = serde_json::to_string(&Preset::Tiny.config(10)).unwrap();
        let back: TransformerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Preset::Tiny.config(10));
    }
}
