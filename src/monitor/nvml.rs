//! GPU readings through NVML (`nvml-wrapper`, which loads `libnvidia-ml.so.1` at run time: a
//! machine without the NVIDIA driver builds and runs the same, and [`NvmlSource::open`] says
//! why there is no GPU to show).
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::{Device, Nvml};
use serde::Serialize;

use super::visible::{map_cuda_devices, Mapping, NvmlGpu, VisibleGpu};

/// One CUDA device at one moment. Each reading is None when NVML does not give it (a MIG device
/// has no utilisation of its own; power and temperature may be unsupported on some boards).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuSample {
    /// CUDA's number for the device (`cuda:N`) under this process's `CUDA_VISIBLE_DEVICES`.
    pub cuda_index: usize,
    pub name: String,
    /// Percent of the last sample period in which a kernel ran.
    pub utilization_pct: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    /// What this process holds on the device. None when NVML lists no process with this
    /// process's id: before CUDA starts, or in a container whose process ids NVML does not
    /// see (it reports the host's).
    pub process_memory_bytes: Option<u64>,
    pub power_watts: Option<f64>,
    pub temperature_c: Option<u32>,
}

impl GpuSample {
    /// Device `cuda_index` before any reading: every reading None.
    pub fn unread(cuda_index: usize, name: &str) -> GpuSample {
        GpuSample {
            cuda_index,
            name: name.to_string(),
            utilization_pct: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            process_memory_bytes: None,
            power_watts: None,
            temperature_c: None,
        }
    }
}

/// NVML, opened once, and the devices CUDA sees.
pub struct NvmlSource {
    nvml: Nvml,
    mapping: Mapping,
    table: Vec<NvmlGpu>,
    names: Vec<String>,
    /// NVML's MIG index of each visible MIG device (MIG indices can have gaps, so the position
    /// in `NvmlGpu::mig` is not it).
    mig_handles: Vec<Option<u32>>,
}

impl NvmlSource {
    /// Opens NVML and maps CUDA's devices onto it from this process's environment. The error
    /// is for the user ("NVML: libnvidia-ml.so.1 not found ...", "no NVIDIA GPU").
    pub fn open() -> Result<Self, String> {
        let nvml = Nvml::init().map_err(|e| format!("NVML is not available: {e}"))?;
        let table = read_table(&nvml).map_err(|e| format!("NVML could not list the GPUs: {e}"))?;
        if table.is_empty() {
            return Err("NVML lists no GPU".into());
        }
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let order = std::env::var("CUDA_DEVICE_ORDER").ok();
        let mapping = map_cuda_devices(visible.as_deref(), order.as_deref(), &table);
        let names = mapping
            .devices
            .iter()
            .map(|d| {
                let gpu = table.iter().find(|g| g.index == d.nvml_index);
                let name = gpu.map(|g| g.name.clone()).unwrap_or_default();
                match d.mig_index {
                    Some(m) => format!("{name} MIG {m}"),
                    None => name,
                }
            })
            .collect();
        let mig_handles = mapping
            .devices
            .iter()
            .map(|d| {
                d.mig_index?;
                let gpu = nvml.device_by_index(d.nvml_index).ok()?;
                (0..gpu.mig_device_count().ok()?).find(|&m| {
                    gpu.mig_device_by_index(m)
                        .and_then(|h| h.uuid())
                        .is_ok_and(|u| u == d.uuid)
                })
            })
            .collect();
        Ok(Self {
            nvml,
            mapping,
            table,
            names,
            mig_handles,
        })
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// NVML's device table as read at open (recorded by `bapw bench --sample-ms` for tests).
    pub fn table(&self) -> &[NvmlGpu] {
        &self.table
    }

    /// The driver's version, e.g. "570.124.06".
    pub fn driver_version(&self) -> Option<String> {
        self.nvml.sys_driver_version().ok()
    }

    /// Every visible device, in CUDA's order.
    pub fn sample(&self, pid: u32) -> Vec<GpuSample> {
        self.mapping
            .devices
            .iter()
            .zip(&self.names)
            .zip(&self.mig_handles)
            .map(|((d, name), mig)| self.sample_one(d, name, *mig, pid))
            .collect()
    }

    fn sample_one(&self, d: &VisibleGpu, name: &str, mig: Option<u32>, pid: u32) -> GpuSample {
        let mut s = GpuSample::unread(d.cuda_index, name);
        let Ok(gpu) = self.nvml.device_by_index(d.nvml_index) else {
            return s;
        };
        // Memory and processes belong to the MIG device; power and temperature to the board.
        let mig = mig.and_then(|m| gpu.mig_device_by_index(m).ok());
        let own: &Device = mig.as_ref().unwrap_or(&gpu);
        s.utilization_pct = own.utilization_rates().ok().map(|u| u.gpu);
        if let Ok(m) = own.memory_info() {
            s.memory_used_bytes = Some(m.used);
            s.memory_total_bytes = Some(m.total);
        }
        s.process_memory_bytes = own.running_compute_processes().ok().and_then(|ps| {
            let mine: Vec<u64> = ps
                .iter()
                .filter(|p| p.pid == pid)
                .map(|p| match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => b,
                    UsedGpuMemory::Unavailable => 0,
                })
                .collect();
            (!mine.is_empty()).then(|| mine.iter().sum())
        });
        s.power_watts = gpu.power_usage().ok().map(|mw| mw as f64 / 1000.0);
        s.temperature_c = gpu.temperature(TemperatureSensor::Gpu).ok();
        s
    }
}

fn read_table(nvml: &Nvml) -> Result<Vec<NvmlGpu>, nvml_wrapper::error::NvmlError> {
    let mut table = Vec::new();
    for index in 0..nvml.device_count()? {
        let d = nvml.device_by_index(index)?;
        let mig_on = d.mig_mode().map(|m| m.current == 1).unwrap_or(false);
        let mig = if mig_on {
            (0..d.mig_device_count().unwrap_or(0))
                .filter_map(|m| d.mig_device_by_index(m).ok()?.uuid().ok())
                .collect()
        } else {
            Vec::new()
        };
        table.push(NvmlGpu {
            index,
            name: d.name().unwrap_or_default(),
            uuid: d.uuid()?,
            pci_bus_id: d.pci_info()?.bus_id,
            mig,
        });
    }
    Ok(table)
}
