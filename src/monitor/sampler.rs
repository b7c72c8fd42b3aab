//! A thread that takes a [`Sample`] every interval and sends it. The thread owns NVML and its
//! own clock: nothing of it runs on the engine thread or on the UI's async runtime. The channel
//! is tokio's bounded `mpsc`, so a UI can `recv().await` it while a plain thread `try_recv`s or
//! `blocking_recv`s; the sampler never waits on it (a sample the receiver has no room for is
//! dropped and counted) and stops when the receiver is gone or [`Sampler::stop`] is called.
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::{Probe, Sample};

/// What a sampler did, for measuring its cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SamplerStats {
    pub samples: u64,
    /// Samples the receiver had no room for.
    pub dropped: u64,
    /// Time spent taking samples, all of them.
    pub busy_ms: f64,
    /// The longest single sample.
    pub max_sample_ms: f64,
    /// Why there were no GPU readings (None: NVML gave them).
    pub gpu_unavailable: Option<String>,
}

pub struct Sampler {
    stop: Option<std_mpsc::Sender<()>>,
    thread: Option<JoinHandle<SamplerStats>>,
}

impl Sampler {
    /// Starts sampling every `interval` (the first sample at once) into `tx`. The probe is made
    /// on the new thread, so NVML's start-up cost is not paid by the caller either.
    pub fn start(interval: Duration, tx: mpsc::Sender<Sample>) -> std::io::Result<Self> {
        Self::start_with(interval, tx, Probe::new)
    }

    /// As [`Sampler::start`] with a probe of the caller's making (made on the sampler's thread).
    pub fn start_with(
        interval: Duration,
        tx: mpsc::Sender<Sample>,
        make_probe: impl FnOnce() -> Probe + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bapw-monitor".into())
            .spawn(move || run(interval, tx, stop_rx, make_probe()))?;
        Ok(Self {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread (at once, not at the next tick) and gives its statistics.
    pub fn stop(mut self) -> SamplerStats {
        self.halt()
    }

    fn halt(&mut self) -> SamplerStats {
        drop(self.stop.take());
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(
    interval: Duration,
    tx: mpsc::Sender<Sample>,
    stop: std_mpsc::Receiver<()>,
    mut probe: Probe,
) -> SamplerStats {
    let mut stats = SamplerStats {
        gpu_unavailable: probe.gpu().err().map(str::to_string),
        ..SamplerStats::default()
    };
    let interval = interval.max(Duration::from_millis(1));
    let mut next = Instant::now();
    loop {
        let sample = probe.sample();
        let ms = sample.took_us as f64 / 1000.0;
        stats.samples += 1;
        stats.busy_ms += ms;
        stats.max_sample_ms = stats.max_sample_ms.max(ms);
        match tx.try_send(sample) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => stats.dropped += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => return stats,
        }
        // Fixed ticks (not interval after each sample), skipping any that a slow sample missed.
        next += interval;
        let now = Instant::now();
        while next <= now {
            next += interval;
        }
        match stop.recv_timeout(next - now) {
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            // Stopped (the sender dropped) or told to stop.
            _ => return stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_arrive_in_order_until_stopped() {
        let (tx, mut rx) = mpsc::channel(4);
        let sampler = Sampler::start(Duration::from_millis(5), tx).unwrap();
        let got: Vec<Sample> = (0..3).map(|_| rx.blocking_recv().unwrap()).collect();
        assert!(got.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "{got:?}");
        for s in &got {
            let p = s.process.as_ref().expect("/proc/self is readable");
            assert!(p.threads >= 2, "the sampler's thread and this one: {p:?}");
        }
        let stats = sampler.stop();
        assert!(stats.samples >= 3, "{stats:?}");
        // Without NVML there are no GPU readings, and the reason says so; with it, one reading
        // per visible device.
        match &stats.gpu_unavailable {
            Some(why) => assert!(got.iter().all(|s| s.gpus.is_empty()), "{why}"),
            None => assert!(got.iter().all(|s| !s.gpus.is_empty())),
        }
        // Stopped: the thread dropped its sender, so the channel ends after what it holds.
        while let Some(s) = rx.blocking_recv() {
            assert!(s.at_ms >= got[2].at_ms);
        }
    }

    #[test]
    fn stop_ends_the_thread_at_once_not_at_the_next_tick() {
        let (tx, mut rx) = mpsc::channel(4);
        let sampler = Sampler::start(Duration::from_secs(3600), tx).unwrap();
        assert_eq!(rx.blocking_recv().unwrap().gpus.len(), rx_gpus_expected());
        // Waiting for the next tick would hang this test for an hour.
        assert_eq!(sampler.stop().samples, 1);
        assert!(rx.blocking_recv().is_none());
    }

    fn rx_gpus_expected() -> usize {
        Probe::new().gpu().map_or(0, |n| n.mapping().devices.len())
    }

    #[test]
    fn the_thread_ends_on_its_own_when_the_receiver_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut sampler = Sampler::start(Duration::from_secs(3600), tx).unwrap();
        // Joined with the stop channel still open: only the closed channel can end it.
        let stats = sampler.thread.take().unwrap().join().unwrap();
        assert_eq!((stats.samples, stats.dropped), (1, 0));
    }

    #[test]
    fn a_full_channel_drops_samples_instead_of_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let sampler = Sampler::start(Duration::from_millis(1), tx).unwrap();
        let mut delivered = 0u64;
        rx.blocking_recv().unwrap();
        delivered += 1;
        let stats = sampler.stop();
        while rx.try_recv().is_ok() {
            delivered += 1;
        }
        // Every sample taken was either delivered or counted as dropped.
        assert_eq!(stats.samples, delivered + stats.dropped, "{stats:?}");
        assert!(stats.busy_ms >= stats.max_sample_ms);
    }
}
