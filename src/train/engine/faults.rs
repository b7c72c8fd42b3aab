//! What the engine does when something goes wrong in a step: an allocation that fails (out of
//! memory), weights that give a non-finite loss (never trained on or saved; roll back to the
//! last good checkpoint), and a run-health rule of `[alerts]` that fires.
use anyhow::{bail, Result};
use tch::Tensor;

use super::{Engine, Flow, Position};
use crate::config::preset::Preset;
use crate::events::{Alert, ErrorReport, Message, ParamChanged, Paused, RolledBack};
use crate::train::alerts::Fired;
use crate::train::oom::{self, Guarded, OutOfMemory};
use crate::train::sink::{live_changes, Sink};

/// The test-only stall: `BAPW_TEST_STALL=STEP:SECONDS` makes that step sleep, so the stall
/// rule can be tested end to end. No command-line flag reaches it.
pub(super) fn stall_hook() -> Option<(usize, f64)> {
    let v = std::env::var("BAPW_TEST_STALL").ok()?;
    let (step, secs) = v.split_once(':')?;
    Some((step.parse().ok()?, secs.parse().ok()?))
}

impl Engine {
    /// One training step. `None` when it did not train (out of memory or a non-finite loss):
    /// headless that fails the run; in the workbench the run pauses on this step.
    pub(super) fn step_or_pause(
        &mut self,
        sink: &Sink,
        step: usize,
        epoch: usize,
        batch: &Tensor,
    ) -> Result<Option<(f64, f64)>> {
        let trained = match oom::guard(|| self.t.step(sink, step, epoch, batch))? {
            Guarded::Done(t) => t,
            Guarded::OutOfMemory(text) => {
                // The activations grow with the batch, so the allocation fails in the forward
                // or backward pass, before the update: the weights are as they were.
                let batch = self.t.preset.train.batch_size.min(self.t.data.n_train());
                let advice = self.out_of_memory("train.batch_size", batch, &text);
                if !self.interactive {
                    return Err(OutOfMemory(advice).into());
                }
                // Another process may free the memory, or the user stops and starts with a
                // smaller batch.
                self.pause_with_error(
                    sink,
                    step,
                    format!(
                        "{advice}; paused: free memory and resume (the step runs again), or \
                         stop and start again with the smaller batch"
                    ),
                );
                return Ok(None);
            }
        };
        if trained.is_none() {
            self.taint(sink, step, "loss became NaN/Inf")?;
        }
        Ok(trained)
    }

    /// The weights at `step` are bad (they gave a non-finite loss, or are not finite
    /// themselves): they are not trained on and never saved, and a checkpoint that already
    /// holds them goes. Headless that fails the run; in the workbench the run pauses and
    /// `Command::RollBack` goes back to the last good checkpoint.
    pub(super) fn taint(&mut self, sink: &Sink, step: usize, what: &str) -> Result<()> {
        let checkpoints = self.run.checkpoints();
        if checkpoints.steps().contains(&step) {
            checkpoints.remove(step);
        }
        self.tainted = Some(step);
        let back = match checkpoints.latest() {
            Some(good) => format!("the last good checkpoint is step {good}"),
            None => "there is no good checkpoint to go back to".into(),
        };
        let message = format!(
            "{what} at step {step}: the weights after the last update are broken, so they \
             are neither trained on nor saved; {back}"
        );
        if !self.interactive {
            let how = match checkpoints.latest() {
                Some(_) => format!(
                    "; lower train.lr (or fix the data), then `bapw resume {}` continues from it",
                    self.run.name()
                ),
                None => "; lower train.lr (or fix the data) and start again".into(),
            };
            bail!("{message}{how}");
        }
        let how = match checkpoints.latest() {
            Some(_) => "; lower train.lr if it diverged, then roll back (R) and resume",
            None => "; stop the run and start again with a lower train.lr",
        };
        self.pause_with_error(sink, step, format!("{message}{how}"));
        Ok(())
    }

    /// Restores the newest checkpoint, cuts the log back to it and keeps the current settings
    /// (live changes made since it are logged again, so a later resume trains on them too).
    pub(super) fn roll_back(&mut self, sink: &Sink, step: usize) -> Result<Option<Position>> {
        let Some(good) = self.run.checkpoints().latest() else {
            sink.emit(ErrorReport {
                step,
                message: "there is no checkpoint to roll back to".into(),
            });
            return Ok(None);
        };
        let loaded = self.run.checkpoints().load(good, self.t.device())?;
        let st = self.t.restore(&loaded)?;
        self.best_value = st.best_value;
        self.tainted = None;
        let events = self.run.read_events()?;
        let at_checkpoint = {
            let file = self.run.preset_path();
            let text = std::fs::read_to_string(&file)?;
            Preset::from_toml_str(
                &file.display().to_string(),
                &text,
                &live_changes(&events, good),
            )?
        };
        sink.rewind_to_checkpoint(&self.run, good)?;
        sink.set_step(good);
        sink.emit(RolledBack {
            step,
            to_step: good,
        });
        for key in crate::config::edit::LIVE_KEYS {
            let (old, new) = (at_checkpoint.get(key), self.t.preset.get(key));
            if old != new {
                sink.emit(ParamChanged {
                    step: good,
                    key: key.to_string(),
                    old: old.unwrap_or_default(),
                    new: new.unwrap_or_default(),
                });
            }
        }
        sink.emit(Message {
            step: good,
            text: format!(
                "rolled back from step {step} to the checkpoint of step {good}: steps {good} to \
                 {step} train again with the current settings"
            ),
        });
        Ok(Some(Position::from_state(&st)))
    }

    pub(super) fn pause_with_error(&mut self, sink: &Sink, step: usize, message: String) {
        sink.emit(ErrorReport { step, message });
        self.paused = true;
        sink.emit(Paused { step });
    }

    /// `BAPW_TEST_STALL`: this step takes that long (see [`stall_hook`]).
    pub(super) fn injected_stall(&self, step: usize) {
        if let Some((at, secs)) = self.stall_hook {
            if at == step {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            }
        }
    }

    /// The per-step rules after a step that trained: the mask update it made, its loss and
    /// its batch accuracy.
    pub(super) fn check_health(&mut self, step: usize, loss: f64, acc: f64) -> Option<Fired> {
        if let Some((at, from, to)) = self.t.mask_update.take() {
            self.watch.on_mask_update(at, from, to);
        }
        self.watch.on_step(step, loss, acc)
    }

    /// A rule fired after the step `step`: the event, then in the workbench a pause (the user
    /// decides), and headless a stop with a checkpoint (the process exits with code 3).
    pub(super) fn raise(
        &mut self,
        sink: &Sink,
        step: usize,
        fired: Fired,
        at: &Position,
    ) -> Result<Flow> {
        sink.emit(Alert {
            step,
            rule: fired.rule.into(),
            message: fired.message,
        });
        // The next step to train, where a pause or a stop takes effect.
        let next = at.epoch * self.t.steps_per_epoch + at.batch;
        if self.interactive {
            if !self.paused {
                self.paused = true;
                sink.emit(Paused { step: next });
            }
            return Ok(Flow::Continue);
        }
        sink.set_step(next);
        self.stop_checkpoint(sink, next, at)?;
        Ok(Flow::Stop)
    }
}
