//! What the engine writes and reads back: periodic and best checkpoints, the checkpoint of a
//! stop, and the restore of a resume. The files themselves are `run::checkpoint`'s business.
use anyhow::{bail, Result};

use super::{Engine, Position};
use crate::events::{Checkpoint, ErrorReport, Message};
use crate::run::TrainState;
use crate::train::sink::Sink;

impl Engine {
    /// Restores the checkpoint at `step` and cuts the log back to it.
    pub(super) fn resume(&mut self, sink: &Sink, step: usize) -> Result<Position> {
        let checkpoints = self.run.checkpoints();
        let loaded = checkpoints.load(step, self.t.device())?;
        let st = self.t.restore(&loaded)?;
        self.best_value = st.best_value;
        if st.epoch >= self.t.preset.train.epochs {
            bail!(
                "{} already finished all {} epochs",
                self.run.path().display(),
                st.epoch
            );
        }
        // Resuming from an older checkpoint (`--from`) abandons what came after it.
        let newer: Vec<usize> = checkpoints
            .steps()
            .into_iter()
            .filter(|s| *s > step)
            .collect();
        for s in &newer {
            checkpoints.remove(*s);
        }
        sink.set_step(st.step);
        sink.rewind_to_checkpoint(&self.run, st.step)?;
        sink.emit(Message {
            step: st.step,
            text: format!("resumed from {}", checkpoints.files(step).state.display()),
        });
        if let (Some(first), Some(last)) = (newer.first(), newer.last()) {
            sink.emit(Message {
                step: st.step,
                text: format!(
                    "the checkpoints of steps {first} to {last} were dropped: the run goes on \
                     from step {step}"
                ),
            });
        }
        for set in &self.resume_sets {
            let (key, value) = set.split_once('=').unwrap_or((set, ""));
            match self.t.set(st.step, key.trim(), value) {
                Ok(changed) => sink.emit(changed),
                Err(why) => bail!("--set {set}: {why}"),
            }
        }
        Ok(Position::from_state(&st))
    }

    /// A scheduled checkpoint. A failed write (full disk, read-only folder) leaves nothing
    /// half-written and the previous checkpoints good: headless that fails the run, in the
    /// workbench it pauses so the user can make room.
    pub(super) fn periodic_checkpoint(
        &mut self,
        sink: &Sink,
        step: usize,
        at: &Position,
    ) -> Result<()> {
        if !self.t.weights_finite() {
            // An update with an overflowing gradient: never saved, never trained on.
            return self.taint(sink, step, "the weights became NaN/Inf");
        }
        if let Err(e) = self.checkpoint(sink, step, at) {
            let message = format!(
                "could not write the checkpoint at step {step}: {e:#}; the last good checkpoint \
                 is kept"
            );
            if !self.interactive {
                bail!("{message}");
            }
            self.pause_with_error(
                sink,
                step,
                format!("{message}; paused: make room, then resume"),
            );
        }
        Ok(())
    }

    /// Writes `checkpoints/best.safetensors` (weights + masks) and `best.json` when `value`
    /// beats the best so far.
    pub(super) fn keep_if_best(&mut self, sink: &Sink, step: usize, value: f64) -> Result<()> {
        if !value.is_finite() || self.best_value.is_some_and(|b| value <= b) {
            return Ok(());
        }
        self.best_value = Some(value);
        let metric = self.t.preset.checkpoint.best.as_str();
        match self
            .run
            .checkpoints()
            .save_best(&self.t.weights_and_masks(), metric, value, step)
        {
            Ok(path) => sink.emit(Checkpoint {
                step,
                path: path.display().to_string(),
            }),
            Err(e) => {
                let message = format!(
                    "could not write the checkpoint at step {step} (best {metric}): {e:#}; the \
                     last good checkpoint is kept"
                );
                if !self.interactive {
                    bail!("{message}");
                }
                sink.emit(ErrorReport { step, message });
            }
        }
        Ok(())
    }

    /// The checkpoint of a stop, unless the weights are broken: then the last good checkpoint
    /// stays the one to resume from.
    pub(super) fn stop_checkpoint(
        &mut self,
        sink: &Sink,
        step: usize,
        at: &Position,
    ) -> Result<()> {
        if let Some(bad) = self.tainted {
            let back = match self.run.checkpoints().latest() {
                Some(good) => format!(
                    "`bapw resume {}` continues from step {good}",
                    self.run.name()
                ),
                None => "no checkpoint is left to resume from".into(),
            };
            sink.emit(Message {
                step,
                text: format!(
                    "stopped without a checkpoint: the weights gave a non-finite loss at step \
                     {bad}; {back}"
                ),
            });
            return Ok(());
        }
        self.checkpoint(sink, step, at)
    }

    /// The periodic checkpoint at `step` (the next batch to train is `at`).
    pub(super) fn checkpoint(&mut self, sink: &Sink, step: usize, at: &Position) -> Result<()> {
        let state = TrainState {
            step,
            epoch: at.epoch,
            position: at.batch,
            optimizer_t: self.t.opt.t,
            seed: self.t.preset.train.seed,
            arch: self.t.net.arch.clone(),
            test_acc: self.t.last_test_acc,
            epoch_loss_sum: at.loss_sum,
            epoch_acc_sum: at.acc_sum,
            epoch_steps: at.steps,
            best_value: self.best_value,
        };
        let path = self.run.checkpoints().save(
            &self.t.weights_and_masks(),
            &self.t.optimizer_state(),
            &state,
            self.t.preset.checkpoint.keep,
        )?;
        sink.emit(Checkpoint {
            step,
            path: path.display().to_string(),
        });
        Ok(())
    }
}
