//! The training engine: the body of the thread that owns every tensor (started by
//! [`handle::spawn`](super::handle::spawn)). What one step does is the [`Trainer`]'s business;
//! the engine runs the loop and answers commands (here), writes and restores checkpoints
//! (`saving.rs`) and decides what a failure or a run-health alert means (`faults.rs`).
mod faults;
mod saving;

use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::{bail, Result};

use super::alerts::{StallClock, Watch};
use super::oom::{self, Guarded, OutOfMemory};
use super::sink::{live_changes, Sink};
use super::spec::RunSpec;
use super::trainer::Trainer;
use crate::config::preset::{BestMetric, Preset};
use crate::device::{device_name, resolve_device};
use crate::events::{EndState, EpochEnd, ErrorReport, Event, Finished, Message, Paused, Resumed};
use crate::run::{RunDir, TrainState};

/// Commands the engine takes between steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Start,
    Pause,
    Resume,
    Stop,
    /// Change a hyperparameter (dotted preset key) from the next step on.
    Set {
        key: String,
        value: String,
    },
    /// Run a robustness evaluation of the current weights now.
    EvalNow,
    /// Go back to the newest checkpoint (after a non-finite loss, the last good one) and train
    /// on from there with the current settings; the run stays paused.
    RollBack,
}

enum Flow {
    Continue,
    Stop,
    /// Continue from this position (a checkpoint restored by `Command::RollBack`).
    RolledBack(Position),
}

/// Where in the run the loop is: the next batch, and the sums of the epoch in progress (so
/// its `epoch_end` averages are those of an uninterrupted run).
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    epoch: usize,
    batch: usize,
    loss_sum: f64,
    acc_sum: f64,
    steps: usize,
}

impl Position {
    fn from_state(st: &TrainState) -> Position {
        Position {
            epoch: st.epoch,
            batch: st.position,
            loss_sum: st.epoch_loss_sum,
            acc_sum: st.epoch_acc_sum,
            steps: st.epoch_steps,
        }
    }
}

pub(super) struct Engine {
    t: Trainer,
    run: RunDir,
    cmds: mpsc::Receiver<Command>,
    paused: bool,
    /// Seconds spent paused so far: an epoch's `seconds` leaves them out, so a rate (and the
    /// workbench's ETA) is the rate of training, not of waiting.
    paused_secs: f64,
    /// Best value of the `checkpoint.best` metric so far.
    best_value: Option<f64>,
    /// A viewer can act on errors (see `RunSpec::interactive`).
    interactive: bool,
    /// The step at which the current weights gave a non-finite loss: they are neither trained
    /// on nor saved until a roll-back replaces them.
    tainted: Option<usize>,
    /// `RunSpec::resume_sets`, applied once the checkpoint is restored.
    resume_sets: Vec<String>,
    /// The per-step run-health rules.
    watch: Watch,
    /// When the step in progress started, for the watchdog's stall rule.
    clock: Arc<StallClock>,
    /// `BAPW_TEST_STALL=STEP:SECONDS`: a step that sleeps, for the stall test (see
    /// `faults.rs`); unset in normal use.
    stall_hook: Option<(usize, f64)>,
}

impl Engine {
    pub(super) fn run(
        spec: RunSpec,
        run: RunDir,
        cmds: mpsc::Receiver<Command>,
        sink: &Sink,
        clock: Arc<StallClock>,
    ) -> Result<()> {
        let (device, note) = resolve_device(spec.device);
        let resume_from = spec
            .resume
            .as_ref()
            .map(|_| spec.resume_step.or_else(|| run.checkpoints().latest()));
        let preset = match resume_from {
            // The settings it started with, and the live changes made before the checkpoint.
            Some(from) => {
                let changes = match from {
                    Some(step) => live_changes(&run.read_events()?, step),
                    None => Vec::new(),
                };
                let file = run.preset_path();
                let text = std::fs::read_to_string(&file)?;
                Preset::from_toml_str(&file.display().to_string(), &text, &changes)?
            }
            None => spec.preset.clone(),
        };
        if let Some(n) = note {
            sink.emit(Message { step: 0, text: n });
        }
        let preset_alerts = preset.alerts.clone();
        let (t, batcher) = Trainer::build(preset, device)?;
        let mut eng = Engine {
            t,
            run,
            cmds,
            paused: false,
            paused_secs: 0.0,
            best_value: None,
            interactive: spec.interactive,
            tainted: None,
            resume_sets: spec.resume_sets.clone(),
            watch: Watch::new(preset_alerts),
            clock,
            stall_hook: faults::stall_hook(),
        };
        eng.clock.set_limit(eng.t.preset.alerts.stall_seconds);
        let mut at = Position::default();
        match resume_from {
            Some(Some(step)) => at = eng.resume(sink, step)?,
            Some(None) => bail!(
                "{} has no checkpoint to resume from",
                eng.run.path().display()
            ),
            None => sink.emit(eng.t.started(
                eng.run.name(),
                eng.run.path().display().to_string(),
                spec.preset_label.clone(),
            )),
        }
        let started = Instant::now();
        if !spec.autostart && spec.resume.is_none() && !eng.wait_for_start(sink)? {
            return eng.finish(sink, EndState::Stopped, started);
        }
        let mut state = eng.train(sink, &batcher, &mut at)?;
        while state == EndState::Finished {
            match eng.final_checkpoint_and_evaluation(sink)? {
                None => break,
                Some(to) => {
                    at = to;
                    state = eng.train(sink, &batcher, &mut at)?;
                }
            }
        }
        eng.finish(sink, state, started)
    }

    /// Before the first step of a run opened in the workbench: edits go into the preset until
    /// Start. False when the run was stopped instead.
    fn wait_for_start(&mut self, sink: &Sink) -> Result<bool> {
        loop {
            match self.cmds.recv() {
                Ok(Command::Start) | Err(_) => return Ok(true),
                Ok(Command::Stop) => return Ok(false),
                Ok(other) => match self.handle(other, sink, 0)? {
                    Flow::Stop => return Ok(false),
                    Flow::Continue | Flow::RolledBack(_) => {}
                },
            }
        }
    }

    /// The epochs from `at` to the end, or until a stop.
    fn train(
        &mut self,
        sink: &Sink,
        batcher: &crate::data::Batcher,
        at: &mut Position,
    ) -> Result<EndState> {
        'epochs: while at.epoch < self.t.preset.train.epochs {
            let epoch_start = (Instant::now(), self.paused_secs);
            let batches = batcher.batches(at.epoch);
            while at.batch < batches.len() {
                let step = at.epoch * self.t.steps_per_epoch + at.batch;
                sink.set_step(step);
                match self.poll(sink, step)? {
                    Flow::Continue => {}
                    Flow::Stop => {
                        self.stop_checkpoint(sink, step, at)?;
                        return Ok(EndState::Stopped);
                    }
                    Flow::RolledBack(to) => {
                        *at = to;
                        continue 'epochs;
                    }
                }
                self.clock.beat(step);
                self.injected_stall(step);
                let trained = self.step_or_pause(sink, step, at.epoch, &batches[at.batch]);
                self.clock.idle();
                let Some((loss, acc)) = trained? else {
                    continue;
                };
                at.loss_sum += loss;
                at.acc_sum += acc;
                at.steps += 1;
                at.batch += 1;
                let alert = self.check_health(step, loss, acc);
                let every = self.t.preset.checkpoint.every;
                if every > 0 && (step + 1).is_multiple_of(every) {
                    // At an epoch boundary (batch == len) the resumed run goes straight to
                    // the (deterministic) epoch_end test pass.
                    self.periodic_checkpoint(sink, step + 1, at)?;
                }
                if let Some(fired) = alert {
                    if let Flow::Stop = self.raise(sink, step, fired, at)? {
                        return Ok(EndState::Stopped);
                    }
                }
            }
            self.end_epoch(sink, at, epoch_start)?;
        }
        Ok(EndState::Finished)
    }

    /// The test pass at the end of an epoch, the best checkpoint by test accuracy, and the
    /// scheduled evaluation; moves `at` to the next epoch.
    /// `started`: when the epoch began, and the seconds paused by then.
    fn end_epoch(&mut self, sink: &Sink, at: &mut Position, started: (Instant, f64)) -> Result<()> {
        let (test_loss, test_acc) = self.t.test_metrics();
        self.t.last_test_acc = Some(test_acc);
        let step = (at.epoch + 1) * self.t.steps_per_epoch;
        sink.emit(EpochEnd {
            epoch: at.epoch,
            step,
            train_loss: at.loss_sum / at.steps.max(1) as f64,
            train_acc: at.acc_sum / at.steps.max(1) as f64,
            test_loss,
            test_acc,
            seconds: started.0.elapsed().as_secs_f64() - (self.paused_secs - started.1),
        });
        if self.t.preset.checkpoint.best == BestMetric::TestAcc {
            self.keep_if_best(sink, step, test_acc)?;
        }
        *at = Position {
            epoch: at.epoch + 1,
            ..Position::default()
        };
        let every = self.t.preset.eval.every;
        if every > 0 && at.epoch.is_multiple_of(every) && at.epoch < self.t.preset.train.epochs {
            self.robustness_eval(sink, step, at.epoch)?;
        }
        Ok(())
    }

    /// After the last epoch: the final checkpoint, then the final evaluation. An evaluation
    /// that ran out of memory paused the run (workbench only): a resume runs it again, a stop
    /// ends the run without it. Broken weights pause it instead (workbench) or fail it; a
    /// roll-back returns where training goes on.
    fn final_checkpoint_and_evaluation(&mut self, sink: &Sink) -> Result<Option<Position>> {
        let step = self.t.total_steps;
        sink.set_step(step);
        let epochs = self.t.preset.train.epochs;
        let end = Position {
            epoch: epochs,
            ..Position::default()
        };
        if !self.t.weights_finite() {
            self.taint(sink, step, "the weights became NaN/Inf")?;
        } else {
            self.checkpoint(sink, step, &end)?;
            if !self.robustness_eval(sink, step, epochs)? {
                return Ok(None);
            }
        }
        loop {
            match self.poll(sink, step)? {
                Flow::Stop => return Ok(None),
                Flow::RolledBack(to) => return Ok(Some(to)),
                Flow::Continue if self.tainted.is_some() => continue,
                Flow::Continue => {
                    if !self.robustness_eval(sink, step, epochs)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Handles pending commands; blocks while paused.
    fn poll(&mut self, sink: &Sink, step: usize) -> Result<Flow> {
        loop {
            let cmd = if self.paused {
                let waited = Instant::now();
                let cmd = match self.cmds.recv() {
                    Ok(c) => c,
                    // Viewer gone while paused: keep the run paused state meaningful by resuming.
                    Err(_) => Command::Resume,
                };
                self.paused_secs += waited.elapsed().as_secs_f64();
                cmd
            } else {
                match self.cmds.try_recv() {
                    Ok(c) => c,
                    Err(_) => return Ok(Flow::Continue),
                }
            };
            let flow = self.handle(cmd, sink, step)?;
            if !matches!(flow, Flow::Continue) {
                return Ok(flow);
            }
            if !self.paused {
                // Drain anything else queued before training on.
                if let Ok(c) = self.cmds.try_recv() {
                    return self.handle(c, sink, step);
                }
                return Ok(Flow::Continue);
            }
        }
    }

    fn handle(&mut self, cmd: Command, sink: &Sink, step: usize) -> Result<Flow> {
        match cmd {
            Command::Start => {}
            Command::Pause => {
                if !self.paused {
                    self.paused = true;
                    sink.emit(Paused { step });
                }
            }
            Command::Resume => match self.tainted {
                Some(bad) => sink.emit(ErrorReport {
                    step,
                    message: format!(
                        "not resumed: the weights gave a non-finite loss at step {bad}; roll \
                         back (R) to the last good checkpoint first"
                    ),
                }),
                None if self.paused => {
                    self.paused = false;
                    sink.emit(Resumed { step });
                }
                None => {}
            },
            Command::RollBack => {
                if let Some(to) = self.roll_back(sink, step)? {
                    return Ok(Flow::RolledBack(to));
                }
            }
            Command::Stop => return Ok(Flow::Stop),
            Command::Set { key, value } => match self.t.set(step, &key, &value) {
                Ok(changed) => {
                    sink.emit(changed);
                    self.watch.set_cfg(self.t.preset.alerts.clone());
                    self.clock.set_limit(self.t.preset.alerts.stall_seconds);
                }
                Err(message) => sink.emit(ErrorReport { step, message }),
            },
            Command::EvalNow => {
                let epoch = step / self.t.steps_per_epoch;
                self.robustness_eval(sink, step, epoch)?;
            }
        }
        Ok(Flow::Continue)
    }

    /// The message for an allocation that failed at `batch` examples of `key`.
    fn out_of_memory(&self, key: &str, batch: usize, text: &str) -> String {
        oom::advice(&device_name(self.t.device()), Some((key, batch)), text)
    }

    /// Evaluates and reports; true when it ran out of memory in the workbench, which pauses
    /// the run (headless, that fails the run).
    fn robustness_eval(&mut self, sink: &Sink, step: usize, epoch: usize) -> Result<bool> {
        let evaluated = match oom::guard(|| self.t.evaluate(step, epoch))? {
            Guarded::Done(ev) => ev,
            Guarded::OutOfMemory(text) => {
                let e = &self.t.preset.eval;
                let images = match e.subset {
                    0 => self.t.data.n_test(),
                    s => s.min(self.t.data.n_test()),
                };
                let advice = self.out_of_memory("eval.batch_size", e.batch_size.min(images), &text);
                if !self.interactive {
                    return Err(OutOfMemory(advice).into());
                }
                // Training goes on when resumed.
                sink.emit(ErrorReport {
                    step,
                    message: format!("{advice}; the evaluation was skipped and the run paused"),
                });
                if !self.paused {
                    self.paused = true;
                    sink.emit(Paused { step });
                }
                return Ok(true);
            }
        };
        if let Some(ev) = evaluated {
            let auc = match &ev {
                Event::Eval(e) if !e.curves.is_empty() => Some(e.mean_auc()),
                _ => None,
            };
            sink.emit(ev);
            if let (BestMetric::RobustAuc, Some(auc)) = (self.t.preset.checkpoint.best, auc) {
                self.keep_if_best(sink, step, auc)?;
            }
        }
        Ok(false)
    }

    fn finish(&mut self, sink: &Sink, state: EndState, started: Instant) -> Result<()> {
        let (test_loss, test_acc) = self.t.test_metrics();
        let (sparsity, layers) = self.t.pruner.measure();
        let total_steps = self.t.total_steps;
        let step = sink.step().max(if state == EndState::Finished {
            total_steps
        } else {
            0
        });
        self.run.write_summary(&serde_json::json!({
            "state": state,
            "step": step,
            "total_steps": total_steps,
            "mode": self.t.preset.train.mode.as_str(),
            "preset": self.t.preset.name,
            "sparsity": sparsity,
            "layers": layers,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "seconds": started.elapsed().as_secs_f64(),
        }))?;
        sink.emit(Finished {
            step,
            state,
            sparsity,
            test_acc,
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(())
    }
}
