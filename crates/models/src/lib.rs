//! # prefopt-models
//!
//! Burn transformers (CPU `flex` backend by default, `wgpu` on GPUs), tokenizers, sequence
//! log-prob scoring with a shared prompt, SFT and preference trainers, generation and
//! checkpoints. Pretrained Hugging Face checkpoints (Llama, Qwen2, GPT-2) load into the same
//! transformer ([`pretrained`]) and train through LoRA adapters in PEFT's layout ([`lora`]).
//! It depends on `prefopt-objectives` and `prefopt-data`, never on experiments.
//!
//! ```
//! use prefopt_models::config::Preset;
//! use prefopt_models::device::DeviceChoice;
//! use prefopt_models::scoring::{score, ScoreItem, ScoringMode};
//! use prefopt_models::transformer::Transformer;
//!
//! let device = "cpu".parse::<DeviceChoice>()?.device()?;
//! let model = Transformer::new(&Preset::Tiny.config(32), 7, &device)?;
//! let responses = vec![vec![5, 6, 2], vec![7, 2]];
//! let item = ScoreItem { prompt: &[1, 9, 10], responses: &responses };
//! let scores = score(&model, &[item], ScoringMode::SharedPrefix, None, 0)?;
//! assert_eq!(scores.logps.dims(), [1, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod allocator;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod lora;
pub mod optim;
pub mod params;
pub mod pool;
pub mod pretrained;
pub mod ranking;
pub mod scoring;
pub mod tokenizer;
pub mod train;
pub mod transformer;

pub use error::{ModelError, Result};
