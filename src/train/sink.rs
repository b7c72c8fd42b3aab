//! Where the engine's events go: the run's log first (so the folder is complete even with no
//! viewer), then the live channel (a closed channel is fine: the run continues headless).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedSender;

use crate::events::Event;
use crate::run::{EventLog, RunDir};

/// Cheap to clone: the engine thread and its watchdog (which reports a stalled step while
/// the engine is stuck in it) write through the same log and channel.
#[derive(Clone)]
pub struct Sink {
    out: Arc<Mutex<Out>>,
    /// The step the run is at, for events reported from outside the loop (a failure).
    step: Arc<AtomicUsize>,
}

struct Out {
    log: EventLog,
    tx: UnboundedSender<Event>,
}

impl Sink {
    pub fn new(log: EventLog, tx: UnboundedSender<Event>) -> Sink {
        Sink {
            out: Arc::new(Mutex::new(Out { log, tx })),
            step: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn step(&self) -> usize {
        self.step.load(Ordering::Relaxed)
    }

    pub fn set_step(&self, step: usize) {
        self.step.store(step, Ordering::Relaxed);
    }

    fn out(&self) -> std::sync::MutexGuard<'_, Out> {
        // A panic while writing one event must not silence the rest of the run.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn emit(&self, ev: impl Into<Event>) {
        let ev = ev.into();
        let out = &mut *self.out();
        if let Err(e) = out.log.append(&ev) {
            tracing::error!("{e:#}");
        }
        let _ = out.tx.send(ev);
    }

    /// On resume: cuts `events.jsonl` back to the checkpoint being resumed (everything after
    /// it will be recomputed identically), and replays the kept events to the live viewer so
    /// it rebuilds every pane.
    pub fn rewind_to_checkpoint(&self, run: &RunDir, step: usize) -> Result<()> {
        let events = run.read_events()?;
        let end = checkpoint_index(&events, step).with_context(|| {
            format!(
                "{}: no checkpoint event for step {step}",
                run.events_path().display()
            )
        })?;
        let kept = &events[..=end];
        let out = &mut *self.out();
        run.rewrite_log(kept)?;
        out.log = run.open_log()?;
        for ev in kept {
            let _ = out.tx.send(ev.clone());
        }
        Ok(())
    }
}

/// Where the log says the periodic checkpoint of `step` was written: the last event for that
/// step (a stop on the first step of an epoch writes the checkpoint taken at the end of the
/// epoch before again, after its `epoch_end`), and not the copy of the best weights.
fn checkpoint_index(events: &[Event], step: usize) -> Option<usize> {
    events.iter().rposition(|e| {
        matches!(e, Event::Checkpoint(c) if c.step == step && !c.path.ends_with("best.safetensors"))
    })
}

/// `key=value` for each live change logged before the checkpoint at `step`. They reached the
/// engine that wrote the checkpoint but never `preset.toml`, so a resumed run re-applies them
/// to train on the same settings.
pub fn live_changes(events: &[Event], step: usize) -> Vec<String> {
    let end = checkpoint_index(events, step).unwrap_or(events.len());
    events[..end]
        .iter()
        .filter_map(|e| match e {
            Event::ParamChanged(c) => Some(format!("{}={}", c.key, c.new)),
            _ => None,
        })
        .collect()
}
