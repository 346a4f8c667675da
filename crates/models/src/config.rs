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
        /// A rescaling of the frequencies for contexts longer than pretraining's.
        #[serde(default)]
        scaling: Option<RopeScaling>,
        /// The precision the inverse frequencies are held in.
        #[serde(default)]
        precision: RopeFrequencyPrecision,
    },
    /// A learned table of `max_positions` vectors added to the token embeddings (GPT-2).
    Learned,
}

impl Default for PositionEncoding {
    fn default() -> Self {
        Self::Rope {
            theta: 10_000.0,
            scaling: None,
            precision: RopeFrequencyPrecision::F64,
        }
    }
}

/// The precision rotations are computed in. From-scratch models compute every angle in f64 and
/// round cos/sin once (`F64`). Checkpoints follow `transformers`, which holds the inverse
/// frequencies in a buffer and forms each angle as an f32 product: `F32`, or `Bf16` / `F16` when
/// the checkpoint's `config.json` says so, because that buffer is cast with the model, so a
/// checkpoint loaded in bf16 or f16 rotates by frequencies rounded to that type even when the
/// forward pass then runs in f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RopeFrequencyPrecision {
    #[default]
    F64,
    F32,
    Bf16,
    F16,
}

impl RopeFrequencyPrecision {
    /// An inverse frequency as this precision holds it (to nearest, ties to even).
    pub fn round(self, value: f64) -> f64 {
        match self {
            Self::F64 => value,
            Self::F32 => f64::from(value as f32),
            // Rounded from the f32 value, as the f32 buffer is cast.
            Self::Bf16 => f64::from(burn::tensor::bf16::from_f32(value as f32).to_f32()),
            Self::F16 => f64::from(burn::tensor::f16::from_f32(value as f32).to_f32()),
        }
    }

    /// The angle of `position` at an inverse frequency already rounded by [`Self::round`].
    pub fn angle(self, position: usize, inverse_frequency: f64) -> f64 {
        match self {
            Self::F64 => position as f64 * inverse_frequency,
            _ => f64::from(position as f32 * inverse_frequency as f32),
        }
    }
}

/// Rotary frequency rescalings, as `transformers` defines them (`rope_type` in a checkpoint's
/// `rope_parameters` / `rope_scaling`). Attention is not rescaled by either.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RopeScaling {
    /// Every frequency divided by `factor` (position interpolation).
    Linear { factor: f64 },
    /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth blend between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_positions: usize,
    },
}

impl RopeScaling {
    /// Rescales one inverse frequency (radians per position).
    pub fn apply(&self, inverse_frequency: f64) -> f64 {
        match *self {
            Self::Linear { factor } => inverse_frequency / factor,
            Self::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_positions,
            } => {
                let original = original_max_positions as f64;
                let wavelength = 2.0 * std::f64::consts::PI / inverse_frequency;
                let low_freq_wavelength = original / low_freq_factor;
                let high_freq_wavelength = original / high_freq_factor;
                if wavelength < high_freq_wavelength {
                    inverse_frequency
                } else if wavelength > low_freq_wavelength {
                    inverse_frequency / factor
                } else {
                    let smooth = (original / wavelength - low_freq_factor)
                        / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * inverse_frequency / factor + smooth * inverse_frequency
                }
            }
        }
    }

    fn check(&self) -> Result<()> {
        let ok = match *self {
            Self::Linear { factor } => factor.is_finite() && factor > 0.0,
            Self::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_positions,
            } => {
                factor.is_finite()
                    && factor > 0.0
                    && low_freq_factor > 0.0
                    && high_freq_factor > low_freq_factor
                    && original_max_positions > 0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(ModelError::InvalidConfig(format!(
                "rope scaling {self:?}: factors must be positive (and high_freq_factor > low_freq_factor)"
            )))
        }
    }
}

/// The normalisation before attention, before the MLP and after the last block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// Mean-centred, with a scale and a shift (GPT-2).
    #[default]
    LayerNorm,
    /// Root-mean-square, scale only, computed in f32 (Llama, Qwen2).
    RmsNorm,
}

/// The MLP's nonlinearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// The exact (erf) GELU.
    #[default]
    Gelu,
    /// The tanh approximation of GELU (GPT-2's `gelu_new`).
    GeluTanh,
    /// `x·σ(x)` (Llama's and Qwen2's `silu`).
    Silu,
    Relu,
}

/// Which linear layers carry an additive bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Biases {
    /// Query, key and value projections (true for GPT-2 and Qwen2).
    pub qkv: bool,
    /// Attention output projection.
    pub attention_output: bool,
    /// MLP projections.
    pub mlp: bool,
}

impl Default for Biases {
    fn default() -> Self {
        Self {
            qkv: true,
            attention_output: true,
            mlp: true,
        }
    }
}

/// A decoder-only transformer: pre-norm blocks of multi-head self-attention and an MLP, a final
/// norm, and (by default) an output projection tied to the input embeddings. The defaults are
/// the from-scratch presets' GPT-style block; the other fields describe the pretrained families
/// [`crate::pretrained`] loads (grouped-query attention, RMSNorm, SwiGLU, fused q/k/v).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Tokens in the vocabulary (the tokenizer's size).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention (query) heads per block; must divide `d_model` unless `head_dim` is given.
    pub heads: usize,
    /// Key/value heads (grouped-query attention); must divide `heads`. `None`: one per head.
    #[serde(default)]
    pub kv_heads: Option<usize>,
    /// Width of one head when it is not `d_model / heads` (some Llama and Qwen checkpoints).
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Hidden width of the MLP.
    pub d_ff: usize,
    /// Longest sequence (soft tokens + prompt + one response) the positions cover.
    pub max_positions: usize,
    #[serde(default)]
    pub positions: PositionEncoding,
    #[serde(default)]
    pub norm: NormKind,
    /// Norm epsilon.
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    #[serde(default)]
    pub activation: Activation,
    /// A gated MLP (`down(act(gate(x)) · up(x))`, SwiGLU with `silu`) instead of `down(act(up(x)))`.
    #[serde(default)]
    pub gated_mlp: bool,
    #[serde(default)]
    pub biases: Biases,
    /// One `[d, 3·d]` projection computes query, key and value (GPT-2's `c_attn`), so a LoRA
    /// adapter on it is the fused adapter PEFT trains.
    #[serde(default)]
    pub fused_qkv: bool,
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
        if self.head_dim.is_none() && !self.d_model.is_multiple_of(self.heads) {
            return Err(ModelError::InvalidConfig(format!(
                "heads ({}) must divide d_model ({})",
                self.heads, self.d_model
            )));
        }
        if self.head_dim == Some(0) || self.kv_heads == Some(0) {
            return Err(ModelError::InvalidConfig(
                "head_dim and kv_heads must be positive".into(),
            ));
        }
        if !self.heads.is_multiple_of(self.kv_heads()) {
            return Err(ModelError::InvalidConfig(format!(
                "kv_heads ({}) must divide heads ({})",
                self.kv_heads(),
                self.heads
            )));
        }
        if self.fused_qkv && self.kv_heads() != self.heads {
            return Err(ModelError::InvalidConfig(
                "a fused q/k/v projection needs as many key/value heads as query heads".into(),
            ));
        }
        if let PositionEncoding::Rope { theta, scaling, .. } = self.positions {
            if let Some(scaling) = scaling {
                scaling.check()?;
            }
            if !self.head_dim().is_multiple_of(2) {
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
        self.head_dim.unwrap_or(self.d_model / self.heads)
    }

    /// Key/value heads (equal to `heads` without grouped-query attention).
    pub fn kv_heads(&self) -> usize {
        self.kv_heads.unwrap_or(self.heads)
    }

    /// Parameters the model holds (tied embeddings counted once).
    pub fn parameter_count(&self) -> usize {
        let d = self.d_model;
        let (q, kv) = (
            self.heads * self.head_dim(),
            self.kv_heads() * self.head_dim(),
        );
        let b = &self.biases;
        let attention = d * (q + 2 * kv)
            + usize::from(b.qkv) * (q + 2 * kv)
            + q * d
            + usize::from(b.attention_output) * d;
        let projections_in = if self.gated_mlp { 2 } else { 1 };
        let mlp = (projections_in + 1) * d * self.d_ff
            + usize::from(b.mlp) * (projections_in * self.d_ff + d);
        let norm = match self.norm {
            NormKind::LayerNorm => 2 * d,
            NormKind::RmsNorm => d,
        };
        let block = 2 * norm + attention + mlp;
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
        embeddings + output + positions + self.layers * block + norm
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
            kv_heads: None,
            head_dim: None,
            positions: PositionEncoding::default(),
            norm: NormKind::LayerNorm,
            norm_eps: default_norm_eps(),
            activation: Activation::Gelu,
            gated_mlp: false,
            biases: Biases::default(),
            fused_qkv: false,
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
        let llama_like = TransformerConfig {
            kv_heads: Some(2),
            head_dim: Some(24),
            norm: NormKind::RmsNorm,
            activation: Activation::Silu,
            gated_mlp: true,
            biases: Biases {
                qkv: true,
                attention_output: false,
                mlp: false,
            },
            tie_embeddings: false,
            ..Preset::Tiny.config(100)
        };
        let gpt2_like = TransformerConfig {
            fused_qkv: true,
            positions: PositionEncoding::Learned,
            ..Preset::Tiny.config(100)
        };
        for config in [llama_like, gpt2_like] {
            let model = Transformer::new(&config, 0, &Device::flex()).unwrap();
            assert_eq!(model.num_params(), config.parameter_count(), "{config:?}");
        }
        assert_eq!(Preset::Small.config(8192).parameter_count(), 5_256_704);
    }

    /// Llama 3.1 8B's scaling (θ 500000, head_dim 128, factor 8, low 1, high 4, original 8192):
    /// high frequencies kept, low ones divided by 8, the band between blended (values from
    /// `transformers`' `_compute_llama3_parameters` rule evaluated in f64).
    #[test]
    fn llama3_scaling_keeps_high_divides_low_and_blends_between() {
        let scaling = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_positions: 8192,
        };
        let frequency = |i: usize| 500_000f64.powf(-((2 * i) as f64) / 128.0);
        for (i, expected) in [
            (0, 1.0),
            (20, 0.016560440080994446),
            (28, 0.0032114459947525913),
            (30, 0.0013718935677611381),
            (32, 0.0005248461609929547),
            (34, 0.00017850781276799638),
            (36, 7.78465527393245e-05),
            (40, 3.428102195952591e-05),
            (63, 3.068925988914511e-07),
        ] {
            let got = scaling.apply(frequency(i));
            assert!(
                (got - expected).abs() <= 1e-12 * expected,
                "{i}: {got} vs {expected}"
            );
        }
        let linear = RopeScaling::Linear { factor: 4.0 };
        assert_eq!(linear.apply(0.5), 0.125);
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
        assert!(
            bad(|c| {
                c.positions = PositionEncoding::Rope {
                    theta: 0.5,
                    scaling: None,
                    precision: RopeFrequencyPrecision::F64,
                }
            })
            .contains("theta")
        );
        assert!(bad(|c| c.kv_heads = Some(3)).contains("kv_heads (3) must divide heads (4)"));
        assert_eq!("Small".parse::<Preset>().unwrap(), Preset::Small);
        assert!("huge".parse::<Preset>().is_err());
        let json = serde_json::to_string(&Preset::Tiny.config(10)).unwrap();
        let back: TransformerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Preset::Tiny.config(10));
    }
}
