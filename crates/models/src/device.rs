//! Which burn device a run uses. `auto` must not pick a software rasterizer (Mesa's llvmpipe or
//! lavapipe) over the native CPU backend: burn's `Device::default()` prefers any wgpu adapter,
//! and a software one is far slower than `flex` on the same cores.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind, DeviceType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Errors choosing a device.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// An unknown `--device` value.
    #[error("unknown device `{0}`; expected one of auto, cpu, wgpu, cuda")]
    Unknown(String),
    /// `cuda` was requested from a build without the `cuda` cargo feature.
    #[error(
        "this build has no CUDA backend: rebuild with `--features cuda` (needs the CUDA toolkit), or use --device wgpu"
    )]
    CudaNotBuilt,
    /// `wgpu` was requested but no adapter exists.
    #[error(
        "no wgpu adapter is available (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)"
    )]
    NoWgpuAdapter,
}

/// The `--device` option of every binary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// A hardware GPU through wgpu if there is one, else the CPU.
    #[default]
    Auto,
    /// burn's pure-Rust CPU backend `flex`.
    Cpu,
    /// The first wgpu adapter, software rasterizers included (useful to test GPU code paths).
    Wgpu,
    /// The first CUDA device (cargo feature `cuda`).
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" | "gpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(DeviceError::Unknown(other.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        })
    }
}

/// A wgpu adapter as the selection sees it.
#[derive(Clone, Debug)]
pub struct Adapter {
    /// The device.
    pub device: Device,
    /// The adapter's name (`llvmpipe (LLVM 15.0.6, 256 bits)`, `NVIDIA H100`…).
    pub name: String,
    /// Whether a physical card backs it (false for CPUs and software rasterizers).
    pub hardware: bool,
}

/// Every wgpu adapter of this machine, with whether it is hardware.
pub fn wgpu_adapters() -> Vec<Adapter> {
    Device::enumerate(DeviceType::Wgpu)
        .into_vec()
        .into_iter()
        .map(|device| {
            let identity = device.identity().unwrap_or_default();
            Adapter {
                hardware: identity.physical.is_some(),
                name: identity.name,
                device,
            }
        })
        .collect()
}

/// The rule of `auto`: the first hardware adapter, else the CPU backend.
pub fn pick_auto(adapters: &[Adapter]) -> Device {
    adapters
        .iter()
        .find(|a| a.hardware)
        .map_or_else(Device::flex, |a| a.device.clone())
}

impl DeviceChoice {
    /// Resolves the choice to a burn device (without autodiff; call `.autodiff()` to train).
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            Self::Auto => Ok(pick_auto(&wgpu_adapters())),
            Self::Wgpu => {
                if Device::enumerate(DeviceType::Wgpu).into_vec().is_empty() {
                    Err(DeviceError::NoWgpuAdapter)
                } else {
                    Ok(Device::wgpu(DeviceKind::default()))
                }
            }
            Self::Cuda => cuda_device(),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, DeviceError> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, DeviceError> {
    Err(DeviceError::CudaNotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_choice() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("wgpu".parse(), Ok(DeviceChoice::Wgpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda));
        #[cfg(not(feature = "cuda"))]
        assert_eq!(DeviceChoice::Cuda.device(), Err(DeviceError::CudaNotBuilt));
        assert_eq!(
            "tpu".parse::<DeviceChoice>(),
            Err(DeviceError::Unknown("tpu".into()))
        );
    }

    #[test]
    fn auto_never_prefers_a_software_adapter() {
        let software = Adapter {
            device: Device::wgpu(DeviceKind::default()),
            name: "llvmpipe".into(),
            hardware: false,
        };
        assert_eq!(pick_auto(std::slice::from_ref(&software)), Device::flex());
        assert_eq!(pick_auto(&[]), Device::flex());
    }

    #[test]
    fn auto_on_this_machine_picks_hardware_or_the_cpu() {
        let adapters = wgpu_adapters();
        let chosen = DeviceChoice::Auto.device().unwrap();
        match adapters.iter().find(|a| a.hardware) {
            Some(hardware) => assert_eq!(chosen, hardware.device),
            None => assert_eq!(
                chosen,
                Device::flex(),
                "software adapters only: {:?}",
                adapters.iter().map(|a| &a.name).collect::<Vec<_>>()
            ),
        }
    }
}
