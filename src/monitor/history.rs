//! The last N samples, oldest first, and the series a history line draws from them.
use std::collections::VecDeque;

use super::Sample;

/// A reading of one GPU, as a number a chart can scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuMetric {
    /// Percent.
    Utilization,
    /// Bytes.
    MemoryUsed,
    /// Bytes held by this process.
    ProcessMemory,
    /// Watts.
    Power,
    /// Degrees Celsius.
    Temperature,
}

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
}

impl History {
    /// Keeps at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            samples: VecDeque::with_capacity(capacity),
        }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// Any number per sample, oldest first; None where a sample lacks it.
    pub fn series(&self, f: impl Fn(&Sample) -> Option<f64>) -> Vec<Option<f64>> {
        self.samples.iter().map(f).collect()
    }

    /// One metric of CUDA device `cuda_index`, oldest first.
    pub fn gpu_series(&self, cuda_index: usize, metric: GpuMetric) -> Vec<Option<f64>> {
        self.series(|s| {
            let g = s.gpus.iter().find(|g| g.cuda_index == cuda_index)?;
            match metric {
                GpuMetric::Utilization => g.utilization_pct.map(f64::from),
                GpuMetric::MemoryUsed => g.memory_used_bytes.map(|b| b as f64),
                GpuMetric::ProcessMemory => g.process_memory_bytes.map(|b| b as f64),
                GpuMetric::Power => g.power_watts,
                GpuMetric::Temperature => g.temperature_c.map(f64::from),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{GpuSample, ProcessSample};

    /// Readings as NVML gave them on one GPU of a training run (H100, MiB-exact memory).
    fn sample(at_ms: u64, util: Option<u32>, used_mib: u64) -> Sample {
        Sample {
            at_ms,
            process: Some(ProcessSample {
                cpu_percent: Some(98.5),
                threads: 23,
                rss_bytes: 1_811_939_328,
            }),
            gpus: vec![GpuSample {
                cuda_index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                utilization_pct: util,
                memory_used_bytes: Some(used_mib << 20),
                memory_total_bytes: Some(81_559 << 20),
                process_memory_bytes: Some(used_mib.saturating_sub(4) << 20),
                power_watts: Some(312.457),
                temperature_c: Some(41),
            }],
            took_us: 850,
        }
    }

    #[test]
    fn keeps_the_last_samples_oldest_first() {
        let mut h = History::new(3);
        assert!(h.is_empty() && h.latest().is_none());
        for (i, util) in [Some(5), Some(97), None, Some(99), Some(100)]
            .into_iter()
            .enumerate()
        {
            h.push(sample(i as u64 * 500, util, 1024 + i as u64));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.latest().unwrap().at_ms, 2000);
        assert_eq!(
            h.gpu_series(0, GpuMetric::Utilization),
            vec![None, Some(99.0), Some(100.0)]
        );
        assert_eq!(
            h.gpu_series(0, GpuMetric::ProcessMemory),
            vec![
                Some(1022.0 * 1048576.0),
                Some(1023.0 * 1048576.0),
                Some(1024.0 * 1048576.0)
            ]
        );
        assert_eq!(h.gpu_series(0, GpuMetric::Power), vec![Some(312.457); 3]);
        assert_eq!(h.gpu_series(0, GpuMetric::Temperature), vec![Some(41.0); 3]);
        assert_eq!(h.gpu_series(1, GpuMetric::MemoryUsed), vec![None; 3]);
        assert_eq!(
            h.series(|s| s.process.as_ref().map(|p| p.threads as f64)),
            vec![Some(23.0); 3]
        );
    }

    #[test]
    fn a_zero_capacity_still_keeps_the_latest() {
        let mut h = History::new(0);
        h.push(sample(1, Some(1), 1));
        h.push(sample(2, Some(2), 2));
        assert_eq!(h.len(), 1);
        assert_eq!(h.latest().unwrap().at_ms, 2);
    }
}
