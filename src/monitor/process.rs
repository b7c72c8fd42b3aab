//! The fallback when there is no GPU to show: this process's CPU use, thread count and resident
//! memory, from `/proc/self/stat` (through `procfs`).
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessSample {
    /// CPU time used since the previous sample over the wall time between them, in percent of
    /// one core (200 = two cores busy); None on the first sample.
    pub cpu_percent: Option<f64>,
    pub threads: u64,
    pub rss_bytes: u64,
}

/// CPU use in percent of one core from two readings of user+system clock ticks.
pub fn cpu_percent(
    ticks_before: u64,
    ticks_after: u64,
    ticks_per_second: u64,
    wall_s: f64,
) -> Option<f64> {
    if ticks_per_second == 0 || wall_s <= 0.0 || ticks_after < ticks_before {
        return None;
    }
    let cpu_s = (ticks_after - ticks_before) as f64 / ticks_per_second as f64;
    Some(100.0 * cpu_s / wall_s)
}

/// Reads this process; keeps the previous reading for the CPU share.
pub struct ProcessProbe {
    previous: Option<(u64, Instant)>,
}

impl Default for ProcessProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessProbe {
    pub fn new() -> Self {
        Self { previous: None }
    }

    /// None when `/proc` cannot be read (not Linux, or a locked-down container).
    #[cfg(target_os = "linux")]
    pub fn sample(&mut self) -> Option<ProcessSample> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        let now = Instant::now();
        let ticks = stat.utime + stat.stime;
        let cpu = self.previous.and_then(|(before, at)| {
            cpu_percent(
                before,
                ticks,
                procfs::ticks_per_second(),
                (now - at).as_secs_f64(),
            )
        });
        self.previous = Some((ticks, now));
        Some(ProcessSample {
            cpu_percent: cpu,
            threads: stat.num_threads.max(0) as u64,
            rss_bytes: procfs::WithCurrentSystemInfo::get(stat.rss_bytes()),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn sample(&mut self) -> Option<ProcessSample> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_is_cpu_seconds_over_wall_seconds() {
        // 150 ticks at 100 Hz = 1.5 s of CPU in 0.75 s of wall time: two cores busy.
        assert_eq!(cpu_percent(1_000, 1_150, 100, 0.75), Some(200.0));
        assert_eq!(cpu_percent(7, 7, 100, 2.0), Some(0.0));
        assert_eq!(cpu_percent(10, 9, 100, 1.0), None);
        assert_eq!(cpu_percent(0, 9, 100, 0.0), None);
        assert_eq!(cpu_percent(0, 9, 0, 1.0), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn threads_and_resident_memory_follow_the_process() {
        let mut probe = ProcessProbe::new();
        let first = probe.sample().unwrap();
        assert_eq!(first.cpu_percent, None);

        // Four threads that wait on a barrier are four more threads until they are released.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(5));
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    b.wait();
                })
            })
            .collect();
        barrier.wait();
        let with = probe.sample().unwrap();
        // Other tests of this binary may start or end threads meanwhile; at least ours are here.
        assert!(with.threads >= 5, "{with:?}");
        assert!(with.cpu_percent.unwrap() >= 0.0);
        barrier.wait();
        for t in waiting {
            t.join().unwrap();
        }

        // 64 MiB written byte by byte are resident (bytes, not pages, are reported).
        let block = vec![1u8; 64 << 20];
        let after = probe.sample().unwrap();
        assert!(after.rss_bytes >= 64 << 20, "{first:?} -> {after:?}");
        assert_eq!(block.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
    }
}
