//! Which device the tensors live on: `--device auto|cpu|cuda` for training, evaluation and
//! benchmarks alike, with a clean fall-back to the CPU where no GPU is visible.
use tch::Device;

/// Which device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Resolves the device; CUDA without a GPU falls back to CPU with a note.
pub fn resolve_device(choice: DeviceChoice) -> (Device, Option<String>) {
    match choice {
        DeviceChoice::Cpu => (Device::Cpu, None),
        DeviceChoice::Auto => (Device::cuda_if_available(), None),
        DeviceChoice::Cuda => {
            if tch::Cuda::is_available() {
                (Device::Cuda(0), None)
            } else {
                (
                    Device::Cpu,
                    Some(
                        "CUDA was requested but no CUDA device is available: using the CPU".into(),
                    ),
                )
            }
        }
    }
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
