//! Where the engine's events go: the run's log first (so the folder is complete even with no
//! viewer), then the live channel (a closed channel is fine: the run continues headless).
use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedSender;

use crate::events::Event;
use crate::run::{EventLog, RunDir};

pub struct Sink {
    log: EventLog,
    tx: UnboundedSender<Event>,
    /// The step the run is at, for events reported from outside the loop (a failure).
    pub step: usize,
}

impl Sink {
    pub fn new(log: EventLog, tx: UnboundedSender<Event>) -> Sink {
        Sink { log, tx, step: 0 }
    }

    pub fn emit(&mut self, ev: impl Into<Event>) {
        let ev = ev.into();
        if let Err(e) = self.log.append(&ev) {
            tracing::error!("{e:#}");
        }
        let _ = self.tx.send(ev);
    }

    /// On resume: cuts `events.jsonl` back to the checkpoint being resumed (everything after
    /// it will be recomputed identically), and replays the kept events to the live viewer so
    /// it rebuilds every pane.
    pub fn rewind_to_checkpoint(&mut self, run: &RunDir, step: usize) -> Result<()> {
        let events = run.read_events()?;
        let end = checkpoint_index(&events, step).with_context(|| {
            format!(
                "{}: no checkpoint event for step {step}",
                run.events_path().display()
            )
        })?;
        let kept = &events[..=end];
        run.rewrite_log(kept)?;
        self.log = run.open_log()?;
        for ev in kept {
            let _ = self.tx.send(ev.clone());
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
