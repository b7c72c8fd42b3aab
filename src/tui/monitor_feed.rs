//! The monitor's sampler for the GPU strip: started while the strip is shown, stopped while it
//! is hidden (a hidden strip costs nothing), its samples handed to the strip on the event
//! loop's tick. The samples are taken on the sampler's own thread (`crate::monitor::Sampler`):
//! NVML's calls never run on the UI's thread or the engine's.
use std::time::Duration;

use tokio::sync::mpsc;

use super::widgets::gpu_strip::GpuStrip;
use crate::monitor::{Sample, Sampler};

/// One sample a second: the strip's numbers change no faster than NVML's own averaging
/// windows (utilisation is over the last 1/6 to 1 s, power over about a second).
pub const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct MonitorFeed {
    running: Option<(Sampler, mpsc::Receiver<Sample>)>,
    /// The sampler thread could not be started: not tried again.
    failed: bool,
}

impl MonitorFeed {
    /// Starts or stops the sampler to match the strip, then moves what it sampled into the
    /// strip; true when a sample arrived (the screen is to be drawn).
    pub fn poll(&mut self, strip: &mut GpuStrip) -> bool {
        match (strip.shown, self.running.is_some()) {
            (true, false) if !self.failed => {
                let (tx, rx) = mpsc::channel(16);
                match Sampler::start(INTERVAL, tx) {
                    Ok(s) => self.running = Some((s, rx)),
                    Err(_) => self.failed = true,
                }
            }
            (false, true) => {
                // Stopping joins at once: the thread waits on its stop channel, not a sleep.
                if let Some((s, _)) = self.running.take() {
                    s.stop();
                }
            }
            _ => {}
        }
        let Some((_, rx)) = self.running.as_mut() else {
            return false;
        };
        let mut got = false;
        while let Ok(sample) = rx.try_recv() {
            strip.push(sample);
            got = true;
        }
        got
    }
}
