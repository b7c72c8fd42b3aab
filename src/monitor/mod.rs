//! What the machine is doing while a run trains, for a GPU strip to draw: per visible CUDA
//! device its utilisation, memory (all and this process's), power and temperature through NVML,
//! and, always, this process's CPU use, threads and resident memory (the strip's fallback when
//! there is no GPU). [`Sampler`] takes a [`Sample`] on a thread of its own at a fixed interval
//! and sends it over a channel; [`History`] keeps the last N for the history lines. Nothing here
//! runs on the engine thread or on the UI's async runtime.
mod history;
pub mod nvml;
mod process;
mod sampler;
pub mod visible;

use std::time::Instant;

use serde::Serialize;

pub use history::{GpuMetric, History};
pub use nvml::{GpuSample, NvmlSource};
pub use process::{cpu_percent, ProcessProbe, ProcessSample};
pub use sampler::{Sampler, SamplerStats};

/// One reading of everything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the probe was made.
    pub at_ms: u64,
    /// This process; None when `/proc` cannot be read.
    pub process: Option<ProcessSample>,
    /// The visible CUDA devices in CUDA's order; empty without NVML.
    pub gpus: Vec<GpuSample>,
    /// Microseconds this reading took (NVML's calls are most of it).
    pub took_us: u64,
}

/// The sources of a [`Sample`]: NVML when it opens, `/proc/self` always.
pub struct Probe {
    gpu: Result<NvmlSource, String>,
    process: ProcessProbe,
    pid: u32,
    start: Instant,
}

impl Default for Probe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe {
    /// Opens NVML (a failure is kept as the reason there are no GPU readings).
    pub fn new() -> Self {
        Self {
            gpu: NvmlSource::open(),
            process: ProcessProbe::new(),
            pid: std::process::id(),
            start: Instant::now(),
        }
    }

    /// NVML, or why there is none ("NVML is not available: ...").
    pub fn gpu(&self) -> Result<&NvmlSource, &str> {
        self.gpu.as_ref().map_err(String::as_str)
    }

    pub fn sample(&mut self) -> Sample {
        let t0 = Instant::now();
        let gpus = match &self.gpu {
            Ok(nvml) => nvml.sample(self.pid),
            Err(_) => Vec::new(),
        };
        let process = self.process.sample();
        Sample {
            at_ms: (t0 - self.start).as_millis() as u64,
            process,
            gpus,
            took_us: t0.elapsed().as_micros() as u64,
        }
    }
}
