//! # prefopt-models
//!
//! Burn transformers (CPU `flex` backend by default, `wgpu` on GPUs), tokenizers, sequence
//! log-prob scoring with a shared prompt, SFT and preference trainers, generation and
//! checkpoints. It depends on `prefopt-objectives` and `prefopt-data`, never on experiments.
//!
//! Today it holds the device choice every binary shares: `--device auto|cpu|wgpu`, where `auto`
//! takes a real GPU when one exists and otherwise the CPU, never a software Vulkan adapter.
//!
//! ```
//! use prefopt_models::device::DeviceChoice;
//!
//! let device = "cpu".parse::<DeviceChoice>()?.device()?;
//! assert_eq!(device, burn::tensor::Device::flex());
//! # Ok::<(), prefopt_models::device::DeviceError>(())
//! ```

pub mod device;
