//! Which device the tensors live on: `--device auto|cpu|cuda|cuda:N` for training, evaluation,
//! benchmarks and sweeps alike, with a clean fall-back to the CPU where no GPU is visible, and
//! what the chosen device is (its name and memory, for the run's first event).
use std::fmt;
use std::str::FromStr;

use procfs::Current;
use tch::Device;

/// Which device to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when LibTorch sees a GPU, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// `cuda` (device 0) or `cuda:N`.
    Cuda(Option<usize>),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|n| DeviceChoice::Cuda(Some(n)))
                .ok_or_else(|| format!("{s:?}: use auto, cpu, cuda or cuda:N (N = 0, 1, ...)")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(None) => f.write_str("cuda"),
            DeviceChoice::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

/// The number of CUDA devices LibTorch sees (0 without a GPU). Loads LibTorch's CUDA part
/// first when the NVIDIA driver is there (see [`load_cuda`]).
pub fn cuda_devices() -> usize {
    load_cuda();
    if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    }
}

/// Resolves the device; CUDA without a GPU falls back to the CPU with a note, and so does a
/// device number past the visible ones (naming how many there are).
pub fn resolve_device(choice: DeviceChoice) -> (Device, Option<String>) {
    let wanted = match choice {
        DeviceChoice::Cpu => return (Device::Cpu, None),
        DeviceChoice::Auto => None,
        DeviceChoice::Cuda(n) => Some(n.unwrap_or(0)),
    };
    let count = cuda_devices();
    match wanted {
        None if count > 0 => (Device::Cuda(0), None),
        None => (Device::Cpu, None),
        Some(n) if n < count => (Device::Cuda(n), None),
        Some(_) if count == 0 => (
            Device::Cpu,
            Some(format!(
                "{choice} was requested but no CUDA device is available: using the CPU"
            )),
        ),
        Some(n) => (
            Device::Cpu,
            Some(format!(
                "cuda:{n} was requested but only {count} CUDA device{} visible (cuda:0 to \
                 cuda:{}): using the CPU",
                if count == 1 { " is" } else { "s are" },
                count - 1
            )),
        ),
    }
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// What a device is, as the run's first event names it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// The GPU's model (NVML) or the CPU's (`/proc/cpuinfo`).
    pub name: Option<String>,
    /// The GPU's memory, or the machine's.
    pub memory_bytes: Option<u64>,
}

/// The name and memory of `d`; parts that cannot be read are None.
pub fn describe(d: Device) -> DeviceInfo {
    match d {
        Device::Cuda(i) => {
            let gpu = crate::monitor::nvml::NvmlSource::open()
                .ok()
                .and_then(|n| n.sample(std::process::id()).into_iter().nth(i));
            DeviceInfo {
                name: gpu.as_ref().map(|g| g.name.clone()),
                memory_bytes: gpu.and_then(|g| g.memory_total_bytes),
            }
        }
        _ => DeviceInfo {
            name: procfs::CpuInfo::current()
                .ok()
                .and_then(|c| c.model_name(0).map(str::to_string)),
            memory_bytes: procfs::Meminfo::current().ok().map(|m| m.mem_total),
        },
    }
}

/// LibTorch's CUDA kernels live in `libtorch_cuda.so`, which the linker leaves out of the
/// binary (nothing names a symbol of it), so without this LibTorch never sees a GPU. It is
/// loaded at run time, and only where the NVIDIA driver (`libcuda.so.1`) is installed: a
/// machine without a GPU never maps the CUDA libraries (gigabytes of address space, which a
/// `ulimit -v` would refuse). The GPU build (`make gpu-build`) links it outright instead.
pub fn load_cuda() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: dlopen with constant, NUL-terminated names; the handles are kept for the
        // life of the process (never dlclosed), as LibTorch's registrations must stay.
        unsafe {
            let driver = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
            if driver.is_null() {
                return;
            }
            let torch_cuda = libc::dlopen(
                c"libtorch_cuda.so".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_GLOBAL,
            );
            if torch_cuda.is_null() {
                tracing::warn!("the NVIDIA driver is here but libtorch_cuda.so did not load");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(None)),
            ("cuda:3", DeviceChoice::Cuda(Some(3))),
        ] {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(choice));
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("CUDA:1".parse(), Ok(DeviceChoice::Cuda(Some(1))));
        let err = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert!(err.contains("auto, cpu, cuda or cuda:N"), "{err}");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn without_a_gpu_every_cuda_choice_falls_back_to_the_cpu_with_a_note() {
        if cuda_devices() > 0 {
            return; // the note is about machines without a GPU
        }
        assert_eq!(resolve_device(DeviceChoice::Auto), (Device::Cpu, None));
        let (d, note) = resolve_device(DeviceChoice::Cuda(Some(2)));
        assert_eq!(d, Device::Cpu);
        assert_eq!(
            note.as_deref(),
            Some("cuda:2 was requested but no CUDA device is available: using the CPU")
        );
    }

    #[test]
    fn the_cpu_is_described_by_its_model_and_the_machines_memory() {
        let info = describe(Device::Cpu);
        assert!(info.name.is_some_and(|n| !n.is_empty()));
        assert!(info.memory_bytes.is_some_and(|m| m > 1 << 20));
    }
}
