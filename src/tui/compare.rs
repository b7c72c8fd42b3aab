//! A second run pinned beside the one on screen (`c`): what the Loss and Robustness panes
//! need of it, taken from a replay of its `events.jsonl` into a fresh [`App`], so it is read
//! exactly as the run's own window would show it.
use crate::config::preset::Preset;
use crate::events::Event;

use super::app::{App, EvalSnapshot, Metrics, RunState, SeriesId};

#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// The run's folder name.
    pub name: String,
    /// natural, uniform or bap.
    pub mode: String,
    /// Its state when it was read (a running run is a snapshot: `c` again refreshes it).
    pub state: RunState,
    pub steps_done: usize,
    pub total_steps: usize,
    pub metrics: Metrics,
    /// Its latest robustness evaluation.
    pub eval: Option<EvalSnapshot>,
}

impl Compared {
    /// Replays `events` (the run's log) on `preset` (its `preset.toml`).
    pub fn from_events(name: &str, preset: Preset, events: &[Event]) -> Compared {
        let mode = preset.train.mode.as_str().to_string();
        let app = App::replay(preset, name, events);
        Compared {
            name: name.to_string(),
            mode: app.run.as_ref().map(|r| r.mode.clone()).unwrap_or(mode),
            state: app.state,
            steps_done: app.progress.steps_done,
            total_steps: app.total_steps(),
            eval: app.evals.latest.clone(),
            metrics: app.metrics,
        }
    }

    /// The latest value of one of its series.
    pub fn last(&self, id: SeriesId) -> Option<f64> {
        self.metrics.get(id).last().map(|(_, v)| v)
    }
}
