//! The training engine: one thread that owns every tensor, takes commands on a channel and
//! emits typed events. It knows nothing of terminals; LibTorch calls block, so they never run
//! on the UI's async runtime.
use super::events::{
    Checkpoint, EndState, EpochEnd, ErrorReport, Event, Finished, LayerInfo, MaskUpdate, Message,
    ParamChanged, Paused, Resumed, RunStarted, Step, StepTiming,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::loss::smoothed_ce;
use super::oom::{self, Guarded, OutOfMemory};
use super::optim::Optimizer;
use super::run::{self, EventLog, TrainState};
use super::step::{AdvOutcome, StepKit};
use crate::attack::accuracy;
use crate::config::edit;
use crate::config::preset::{BestMetric, Preset};
use crate::data::{self, Batcher, Dataset};
use crate::model::Net;
use crate::prune::{Pruner, ScheduleSpec};

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
}

/// Which device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Resolves the device; CUDA without a GPU falls back to CPU with a note.
pub fn resolve_device(choice: DeviceChoice) -> (Device, Option<String>) {
    match choice {
        DeviceChoice::Cpu => (Device::Cpu, None),
        DeviceChoice::Auto => (Device::cuda_if_available(), None),
        DeviceChoice::Cuda => {
            if tch::Cuda::is_available() {
                (Device::Cuda(0), None)
            } else {
                (
                    Device::Cpu,
                    Some(
                        "CUDA was requested but no CUDA device is available: using the CPU".into(),
                    ),
                )
            }
        }
    }
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Everything needed to start (or resume) a run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub preset: Preset,
    /// Name shown for the preset (its name or path).
    pub preset_label: String,
    pub runs_dir: PathBuf,
    /// Folder name of the run; default `<preset>-<timestamp>`.
    pub run_name: Option<String>,
    pub device: DeviceChoice,
    /// Start training at once, or wait for `Command::Start`.
    pub autostart: bool,
    /// Resume the run in this folder from its last checkpoint.
    pub resume: Option<PathBuf>,
    /// Headless progress interval (steps).
    pub log_every: usize,
    /// A viewer can act on a pause (TUI): a NaN loss pauses instead of failing the run.
    pub interactive: bool,
}

/// The UI's side of a running engine.
pub struct EngineHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: UnboundedReceiver<Event>,
    pub run_dir: PathBuf,
    pub thread: JoinHandle<()>,
}

/// Creates the run folder and starts the engine thread.
pub fn spawn(spec: RunSpec) -> Result<EngineHandle> {
    let run_dir = prepare_run_dir(&spec)?;
    let lock = run::RunLock::acquire(&run_dir)?;
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (ev_tx, ev_rx) = unbounded_channel();
    let log = EventLog::open(&run_dir.join("events.jsonl"))?;
    let dir = run_dir.clone();
    let device = device_name(resolve_device(spec.device).0);
    let thread = std::thread::Builder::new()
        .name("bapw-engine".into())
        .spawn(move || {
            // Held until the engine thread ends: one writer per run folder.
            let _lock = lock;
            let mut sink = Sink {
                log,
                tx: ev_tx,
                step: 0,
            };
            // An allocation failure is caught below and reported as a message.
            oom::report_on_this_thread();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Engine::run(spec, dir, cmd_rx, &mut sink)
            }));
            let err = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) if e.is::<OutOfMemory>() => Some(e.to_string()),
                Ok(Err(e)) => Some(failure_message(&device, format!("{e:#}"))),
                Err(p) => Some(failure_message(
                    &device,
                    format!(
                        "internal error (LibTorch or engine panic): {}",
                        oom::panic_text(&*p)
                    ),
                )),
            };
            if let Some(message) = err {
                tracing::error!("run failed: {message}");
                let step = sink.step;
                sink.emit(Event::Error(ErrorReport { step, message }));
                sink.emit(Event::Finished(Finished {
                    step,
                    state: EndState::Failed,
                    sparsity: f64::NAN,
                    test_acc: f64::NAN,
                    seconds: 0.0,
                }));
            }
        })?;
    Ok(EngineHandle {
        commands: cmd_tx,
        events: ev_rx,
        run_dir,
        thread,
    })
}

/// A run's failure as the user reads it: an allocation that failed outside the guarded
/// batch-sized work (building the model, loading the data, the test pass) is still an
/// out-of-memory message, not LibTorch's backtrace.
fn failure_message(device: &str, text: String) -> String {
    if oom::is_out_of_memory(&text) {
        oom::advice(device, None, &text)
    } else {
        text
    }
}

fn prepare_run_dir(spec: &RunSpec) -> Result<PathBuf> {
    if let Some(dir) = &spec.resume {
        if !dir.join("events.jsonl").exists() {
            bail!("{} is not a run folder (no events.jsonl)", dir.display());
        }
        return Ok(dir.clone());
    }
    let name = match &spec.run_name {
        Some(n) => n.clone(),
        None => format!(
            "{}-{}",
            if spec.preset.name.is_empty() {
                "run"
            } else {
                &spec.preset.name
            },
            run::timestamp()
        ),
    };
    crate::config::paths::check_name("run", &name)?;
    let dir = spec.runs_dir.join(&name);
    if dir.join("events.jsonl").exists() {
        bail!(
            "run folder {} already exists: pick another --name or `bapw resume {}`",
            dir.display(),
            name
        );
    }
    std::fs::create_dir_all(dir.join("checkpoints"))
        .with_context(|| format!("creating {}", dir.display()))?;
    crate::config::paths::write_atomic(&dir.join("preset.toml"), spec.preset.to_toml().as_bytes())?;
    Ok(dir)
}

/// Where events go: the run's log first (so the folder is complete even with no viewer), then
/// the live channel (a closed channel is fine: the run continues headless).
pub struct Sink {
    log: EventLog,
    tx: UnboundedSender<Event>,
    step: usize,
}

impl Sink {
    /// On resume: cuts `events.jsonl` back to the checkpoint being resumed (everything after
    /// it will be recomputed identically), and replays the kept events to the live viewer so
    /// it rebuilds every pane.
    fn rewind_to_checkpoint(&mut self, run_dir: &Path, step: usize) -> Result<()> {
        let path = run_dir.join("events.jsonl");
        let events = super::events::read_events(&path)?;
        let end = events
            .iter()
            .position(|e| matches!(e, Event::Checkpoint(Checkpoint { step: s, .. }) if *s == step))
            .with_context(|| format!("{}: no checkpoint event for step {step}", path.display()))?;
        let kept = &events[..=end];
        let mut text = String::new();
        for ev in kept {
            text.push_str(&serde_json::to_string(ev)?);
            text.push('\n');
        }
        crate::config::paths::write_atomic(&path, text.as_bytes())?;
        self.log = EventLog::open(&path)?;
        for ev in kept {
            let _ = self.tx.send(ev.clone());
        }
        Ok(())
    }

    pub fn emit(&mut self, ev: Event) {
        if let Err(e) = self.log.append(&ev) {
            tracing::error!("{e:#}");
        }
        let _ = self.tx.send(ev);
    }
}

enum Flow {
    Continue,
    Stop,
}

struct Engine {
    preset: Preset,
    run_dir: PathBuf,
    data: Dataset,
    net: Net,
    pruner: Pruner,
    opt: Optimizer,
    schedule: ScheduleSpec,
    steps_per_epoch: usize,
    total_steps: usize,
    kit: StepKit,
    paused: bool,
    /// Best value of the `checkpoint.best` metric so far.
    best_value: Option<f64>,
    /// A viewer can act on errors (see `RunSpec::interactive`).
    interactive: bool,
    samples_per_s: f64,
    last_test_acc: Option<f64>,
}

impl Engine {
    fn run(
        spec: RunSpec,
        run_dir: PathBuf,
        cmds: mpsc::Receiver<Command>,
        sink: &mut Sink,
    ) -> Result<()> {
        let (device, note) = resolve_device(spec.device);
        let mut preset = spec.preset.clone();
        let mut resume_state = None;
        if spec.resume.is_some() {
            let text = std::fs::read_to_string(run_dir.join("preset.toml"))?;
            let file = run_dir.join("preset.toml").display().to_string();
            resume_state = run::list_checkpoints(&run_dir.join("checkpoints")).pop();
            let changes = match &resume_state {
                Some((step, _)) => live_changes(&run_dir.join("events.jsonl"), *step)?,
                None => Vec::new(),
            };
            preset = Preset::from_toml_str(&file, &text, &changes)?;
        }
        if preset.train.threads > 0 {
            tch::set_num_threads(preset.train.threads);
        }
        if let Some(n) = note {
            sink.emit(Event::Message(Message { step: 0, text: n }));
        }
        let data = data::load(&preset.data, device)?;
        tch::manual_seed(preset.train.seed as i64);
        let net = Net::new(&preset.model, data.shape(), data.classes, device)?;
        let pruner = Pruner::new(net.prunable(), preset.prune.scope, &preset.prune.exclude);
        let opt = Optimizer::new(&preset.train, net.named_params());
        let batcher = Batcher::new(
            data.n_train(),
            preset.train.batch_size,
            preset.train.seed,
            device,
        );
        let steps_per_epoch = batcher.steps_per_epoch();
        let schedule = preset.schedule(steps_per_epoch);
        let total_steps = steps_per_epoch * preset.train.epochs;
        let kit = StepKit::new(&preset);
        let mut eng = Engine {
            run_dir: run_dir.clone(),
            data,
            net,
            pruner,
            opt,
            schedule,
            steps_per_epoch,
            total_steps,
            kit,
            paused: false,
            best_value: None,
            interactive: spec.interactive,
            samples_per_s: 0.0,
            last_test_acc: None,
            preset,
        };
        let (mut epoch, mut position) = (0, 0);
        let mut sums = (0.0, 0.0, 0usize);
        if spec.resume.is_some() {
            let Some((_, state_path)) = resume_state else {
                bail!("{} has no checkpoint to resume from", run_dir.display());
            };
            let st = eng.load_checkpoint(&state_path)?;
            if st.epoch >= eng.preset.train.epochs {
                bail!(
                    "{} already finished all {} epochs",
                    run_dir.display(),
                    st.epoch
                );
            }
            epoch = st.epoch;
            position = st.position;
            sums = (st.epoch_loss_sum, st.epoch_acc_sum, st.epoch_steps);
            sink.step = st.step;
            sink.rewind_to_checkpoint(&run_dir, st.step)?;
            sink.emit(Event::Message(Message {
                step: st.step,
                text: format!("resumed from {}", state_path.display()),
            }));
        } else {
            sink.emit(eng.started_event(&spec, device, 0));
        }
        let started = Instant::now();
        if !spec.autostart && spec.resume.is_none() {
            // Wait for Start; edits before it go into the preset.
            loop {
                match cmds.recv() {
                    Ok(Command::Start) | Err(_) => break,
                    Ok(Command::Stop) => {
                        eng.finish(sink, EndState::Stopped, started)?;
                        return Ok(());
                    }
                    Ok(other) => {
                        if let Flow::Stop = eng.handle(other, sink, 0)? {
                            eng.finish(sink, EndState::Stopped, started)?;
                            return Ok(());
                        }
                    }
                }
            }
        }
        let mut state = EndState::Finished;
        'epochs: while epoch < eng.preset.train.epochs {
            let epoch_start = Instant::now();
            let batches = batcher.batches(epoch);
            let (mut loss_sum, mut acc_sum, mut n) = std::mem::take(&mut sums);
            while position < batches.len() {
                let step = epoch * steps_per_epoch + position;
                sink.step = step;
                if let Flow::Stop = eng.poll(&cmds, sink, step)? {
                    state = EndState::Stopped;
                    eng.checkpoint(sink, step, epoch, position, (loss_sum, acc_sum, n))?;
                    break 'epochs;
                }
                let trained = oom::guard(|| eng.train_step(sink, step, epoch, &batches[position]))?;
                let trained = match trained {
                    Guarded::Done(t) => t,
                    Guarded::OutOfMemory(text) => {
                        // The activations grow with the batch, so the allocation fails in the
                        // forward or backward pass, before the update: the weights are as
                        // they were.
                        let batch = eng.preset.train.batch_size.min(eng.data.n_train());
                        let advice = eng.out_of_memory("train.batch_size", batch, &text);
                        if !spec.interactive {
                            return Err(OutOfMemory(advice).into());
                        }
                        // Interactive: pause on this step, as for a NaN loss; another process
                        // may free the memory, or the user stops and starts with a smaller batch.
                        sink.emit(Event::Error(ErrorReport {
                            step,
                            message: format!(
                                "{advice}; paused: free memory and resume (the step runs \
                                 again), or stop and start again with the smaller batch"
                            ),
                        }));
                        eng.paused = true;
                        sink.emit(Event::Paused(Paused { step }));
                        continue;
                    }
                };
                let Some((loss, acc)) = trained else {
                    let message = format!(
                        "loss became NaN/Inf at step {step}; the weights were not updated and the \
                         last checkpoint is kept: lower train.lr (or fix the data) and resume"
                    );
                    if !spec.interactive {
                        bail!("{message}");
                    }
                    // Interactive: pause on this step so the user can change a knob and retry.
                    sink.emit(Event::Error(ErrorReport { step, message }));
                    eng.paused = true;
                    sink.emit(Event::Paused(Paused { step }));
                    continue;
                };
                loss_sum += loss;
                acc_sum += acc;
                n += 1;
                position += 1;
                let every = eng.preset.checkpoint.every;
                if every > 0 && (step + 1).is_multiple_of(every) {
                    // At an epoch boundary (position == len) the resumed run goes straight to
                    // the (deterministic) epoch_end test pass.
                    if let Err(e) =
                        eng.checkpoint(sink, step + 1, epoch, position, (loss_sum, acc_sum, n))
                    {
                        // Full disk, read-only folder...: writes are atomic, so nothing is
                        // half-written; the previous checkpoints stay good.
                        let message = format!(
                            "could not write the checkpoint at step {}: {e:#}; the last good \
                             checkpoint is kept",
                            step + 1
                        );
                        if !spec.interactive {
                            bail!("{message}");
                        }
                        // Interactive: pause so the user can free space and resume.
                        sink.emit(Event::Error(ErrorReport {
                            step: step + 1,
                            message: format!("{message}; paused: make room, then resume"),
                        }));
                        eng.paused = true;
                        sink.emit(Event::Paused(Paused { step: step + 1 }));
                    }
                }
            }
            let (test_loss, test_acc) = eng.test_metrics();
            eng.last_test_acc = Some(test_acc);
            sink.emit(Event::EpochEnd(EpochEnd {
                epoch,
                step: (epoch + 1) * steps_per_epoch,
                train_loss: loss_sum / n.max(1) as f64,
                train_acc: acc_sum / n.max(1) as f64,
                test_loss,
                test_acc,
                seconds: epoch_start.elapsed().as_secs_f64(),
            }));
            if eng.preset.checkpoint.best == BestMetric::TestAcc {
                eng.keep_if_best(sink, (epoch + 1) * steps_per_epoch, test_acc)?;
            }
            epoch += 1;
            position = 0;
            let ev = eng.preset.eval.every;
            if ev > 0 && epoch % ev == 0 && epoch < eng.preset.train.epochs {
                eng.robustness_eval(sink, epoch * steps_per_epoch, epoch)?;
            }
        }
        if state == EndState::Finished {
            let step = eng.total_steps;
            sink.step = step;
            let epochs = eng.preset.train.epochs;
            eng.checkpoint(sink, step, epochs, 0, (0.0, 0.0, 0))?;
            // An evaluation that ran out of memory paused the run (workbench only): a resume
            // runs it again, a stop ends the run without it.
            let mut short = eng.robustness_eval(sink, step, epochs)?;
            while short {
                if let Flow::Stop = eng.poll(&cmds, sink, step)? {
                    break;
                }
                short = eng.robustness_eval(sink, step, epochs)?;
            }
        }
        eng.finish(sink, state, started)
    }

    fn started_event(&self, spec: &RunSpec, device: Device, start_step: usize) -> Event {
        Event::RunStarted(RunStarted {
            run_id: self
                .run_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            run_dir: self.run_dir.display().to_string(),
            preset: spec.preset_label.clone(),
            mode: self.preset.train.mode.as_str().into(),
            dataset: self.data.name.clone(),
            model: self.net.arch.clone(),
            device: device_name(device),
            threads: tch::get_num_threads(),
            epochs: self.preset.train.epochs,
            steps_per_epoch: self.steps_per_epoch,
            total_steps: self.total_steps,
            batch_size: self.preset.train.batch_size,
            train_examples: self.data.n_train(),
            test_examples: self.data.n_test(),
            layers: self
                .pruner
                .layers
                .iter()
                .map(|l| LayerInfo {
                    name: l.name.clone(),
                    numel: l.weight.numel() as i64,
                })
                .collect(),
            schedule: self.schedule,
            start_step,
        })
    }

    /// Handles pending commands; blocks while paused.
    fn poll(
        &mut self,
        cmds: &mpsc::Receiver<Command>,
        sink: &mut Sink,
        step: usize,
    ) -> Result<Flow> {
        loop {
            let cmd = if self.paused {
                match cmds.recv() {
                    Ok(c) => c,
                    // Viewer gone while paused: keep the run paused state meaningful by resuming.
                    Err(_) => Command::Resume,
                }
            } else {
                match cmds.try_recv() {
                    Ok(c) => c,
                    Err(_) => return Ok(Flow::Continue),
                }
            };
            if let Flow::Stop = self.handle(cmd, sink, step)? {
                return Ok(Flow::Stop);
            }
            if !self.paused {
                // Drain anything else queued before training on.
                if let Ok(c) = cmds.try_recv() {
                    if let Flow::Stop = self.handle(c, sink, step)? {
                        return Ok(Flow::Stop);
                    }
                }
                return Ok(Flow::Continue);
            }
        }
    }

    fn handle(&mut self, cmd: Command, sink: &mut Sink, step: usize) -> Result<Flow> {
        match cmd {
            Command::Start => {}
            Command::Pause => {
                if !self.paused {
                    self.paused = true;
                    sink.emit(Event::Paused(Paused { step }));
                }
            }
            Command::Resume => {
                if self.paused {
                    self.paused = false;
                    sink.emit(Event::Resumed(Resumed { step }));
                }
            }
            Command::Stop => return Ok(Flow::Stop),
            Command::Set { key, value } => self.set_param(sink, step, &key, &value),
            Command::EvalNow => {
                let epoch = step / self.steps_per_epoch;
                self.robustness_eval(sink, step, epoch)?;
            }
        }
        Ok(Flow::Continue)
    }

    /// Applies a live hyperparameter change; refused changes become an `error` event.
    fn set_param(&mut self, sink: &mut Sink, step: usize, key: &str, value: &str) {
        let refused = |message: String| Event::Error(ErrorReport { step, message });
        if let Some(why) = edit::live_refusal(key) {
            return sink.emit(refused(why));
        }
        match self.preset.with(key, value) {
            Ok(p) => {
                let old = self.preset.get(key).unwrap_or_default();
                let new = p.get(key).unwrap_or_default();
                self.preset = p;
                self.schedule = self.preset.schedule(self.steps_per_epoch);
                self.opt.lr = self.preset.train.lr;
                self.kit = StepKit::new(&self.preset);
                sink.emit(Event::ParamChanged(ParamChanged {
                    step,
                    key: key.into(),
                    old,
                    new,
                }));
            }
            Err(problem) => sink.emit(refused(format!(
                "refused: {}: {}",
                problem.key, problem.message
            ))),
        }
    }

    fn train_step(
        &mut self,
        sink: &mut Sink,
        step: usize,
        epoch: usize,
        idx: &Tensor,
    ) -> Result<Option<(f64, f64)>> {
        let t0 = Instant::now();
        // Per-step seeding makes random starts reproducible after a resume.
        tch::manual_seed(self.preset.train.seed as i64 ^ (step as i64).wrapping_mul(0x2545_F491));
        if self.schedule.updates_at(step) {
            let target = self.schedule.sparsity_at(step);
            self.pruner.update(target);
            let (sparsity, layers) = self.pruner.measure();
            sink.emit(Event::MaskUpdate(MaskUpdate {
                step,
                target_sparsity: target,
                sparsity,
                layers,
            }));
        }
        let t_prune = t0.elapsed();
        let x = self.data.train_x.index_select(0, idx);
        let y = self.data.train_y.index_select(0, idx);
        let smoothing = self.preset.train.label_smoothing;
        let t1 = Instant::now();
        let adv = self.kit.examples(&self.net, &x, &y, step)?;
        let t_attack = t1.elapsed();
        let t2 = Instant::now();
        self.opt.zero_grad();
        // Clean and adversarial examples go through one forward/backward of the concatenated
        // batch (no batch-dependent layers, so the logits are the same as two passes).
        let (logits, adv_logits) = match &adv {
            AdvOutcome::None => (self.net.forward(&x), None),
            AdvOutcome::Examples { x_adv, .. } => {
                let n = x.size()[0];
                let both = self.net.forward(&Tensor::cat(&[&x, x_adv], 0));
                (both.narrow(0, 0, n), Some(both.narrow(0, n, n)))
            }
        };
        let clean_loss = smoothed_ce(&logits, &y, smoothing);
        let (loss, adv_loss) = match adv_logits {
            None => (clean_loss.shallow_clone(), None),
            Some(adv_logits) => {
                let (l, a) = self
                    .kit
                    .combine(&logits, &adv_logits, &clean_loss, &y, smoothing);
                (l, Some(a))
            }
        };
        // Checked before the update, so a NaN/Inf loss never reaches the weights.
        let loss_v = loss.double_value(&[]);
        if !loss_v.is_finite() {
            return Ok(None);
        }
        loss.backward();
        self.opt.step();
        let t_prune2 = Instant::now();
        self.pruner.apply();
        let prune_ms = (t_prune + t_prune2.elapsed()).as_secs_f64() * 1e3;
        let acc = accuracy(&logits.detach(), &y);
        if let AdvOutcome::Examples {
            budget: Some(b), ..
        } = adv
        {
            sink.emit(b.into_event(step));
        }
        let secs = t0.elapsed().as_secs_f64();
        let rate = x.size()[0] as f64 / secs.max(1e-9);
        self.samples_per_s = if self.samples_per_s == 0.0 {
            rate
        } else {
            0.9 * self.samples_per_s + 0.1 * rate
        };
        let sparsity_now = self.schedule_sparsity_measured();
        sink.emit(Event::Step(Step {
            step,
            epoch,
            loss: loss_v,
            clean_loss: clean_loss.double_value(&[]),
            adv_loss: adv_loss.map(|a| a.double_value(&[])),
            train_acc: acc,
            target_sparsity: self.schedule.sparsity_at(step),
            sparsity: sparsity_now,
            samples_per_s: self.samples_per_s,
            timing: StepTiming {
                attack_ms: t_attack.as_secs_f64() * 1e3,
                train_ms: t2.elapsed().as_secs_f64() * 1e3 - prune_ms + t_prune.as_secs_f64() * 1e3,
                prune_ms,
            },
        }));
        Ok(Some((loss_v, acc)))
    }

    /// Mask sparsity over all prunable weights (masks change only at updates, so this is
    /// exact and cheap: the kept counts are cached by the pruner).
    fn schedule_sparsity_measured(&self) -> f64 {
        self.pruner.mask_sparsity()
    }

    /// Clean loss and accuracy on the test set, in batches, without gradients.
    fn test_metrics(&self) -> (f64, f64) {
        tch::no_grad(|| {
            let n = self.data.n_test() as i64;
            let bs = 1000i64;
            let (mut loss, mut correct) = (0.0, 0.0);
            let mut i = 0;
            while i < n {
                let len = bs.min(n - i);
                let x = self.data.test_x.narrow(0, i, len);
                let y = self.data.test_y.narrow(0, i, len);
                let logits = self.net.forward(&x);
                loss += smoothed_ce(&logits, &y, 0.0).double_value(&[]) * len as f64;
                correct += logits
                    .argmax(-1, false)
                    .eq_tensor(&y)
                    .sum(Kind::Int64)
                    .int64_value(&[]) as f64;
                i += len;
            }
            (loss / n.max(1) as f64, correct / n.max(1) as f64)
        })
    }

    /// The message for an allocation that failed at `batch` examples of `key`.
    fn out_of_memory(&self, key: &str, batch: usize, text: &str) -> String {
        oom::advice(&device_name(self.net.vs.device()), Some((key, batch)), text)
    }

    /// Evaluates and reports; true when it ran out of memory in the workbench, which pauses
    /// the run (headless, that fails the run).
    fn robustness_eval(&mut self, sink: &mut Sink, step: usize, epoch: usize) -> Result<bool> {
        let evaluated = oom::guard(|| {
            self.kit
                .evaluate(&self.net, &self.data, &self.preset, step, epoch)
        })?;
        let evaluated = match evaluated {
            Guarded::Done(ev) => ev,
            Guarded::OutOfMemory(text) => {
                let e = &self.preset.eval;
                let images = match e.subset {
                    0 => self.data.n_test(),
                    s => s.min(self.data.n_test()),
                };
                let advice = self.out_of_memory("eval.batch_size", e.batch_size.min(images), &text);
                if !self.interactive {
                    return Err(OutOfMemory(advice).into());
                }
                // Interactive: say so and pause; training goes on when resumed.
                sink.emit(Event::Error(ErrorReport {
                    step,
                    message: format!("{advice}; the evaluation was skipped and the run paused"),
                }));
                if !self.paused {
                    self.paused = true;
                    sink.emit(Event::Paused(Paused { step }));
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
            if let (BestMetric::RobustAuc, Some(auc)) = (self.preset.checkpoint.best, auc) {
                self.keep_if_best(sink, step, auc)?;
            }
        }
        Ok(false)
    }

    /// Writes `checkpoints/best.safetensors` (weights + masks) and `best.json` when `value`
    /// beats the best so far.
    fn keep_if_best(&mut self, sink: &mut Sink, step: usize, value: f64) -> Result<()> {
        if !value.is_finite() || self.best_value.is_some_and(|b| value <= b) {
            return Ok(());
        }
        self.best_value = Some(value);
        if let Err(e) = self.write_best(sink, step, value) {
            let message = format!(
                "could not write the checkpoint at step {step} (best {}): {e:#}; the last good \
                 checkpoint is kept",
                self.preset.checkpoint.best.as_str()
            );
            if !self.interactive {
                bail!("{message}");
            }
            sink.emit(Event::Error(ErrorReport { step, message }));
        }
        Ok(())
    }

    /// What a checkpoint's main file holds: every parameter under its PyTorch name plus one
    /// `<param>_mask` per pruned kernel.
    fn weights_and_masks(&self) -> Vec<(String, Tensor)> {
        let mut tensors = self.net.named_params();
        for l in &self.pruner.layers {
            tensors.push((format!("{}_mask", l.name), l.mask.shallow_clone()));
        }
        tensors
    }

    fn write_best(&mut self, sink: &mut Sink, step: usize, value: f64) -> Result<()> {
        let dir = self.run_dir.join("checkpoints");
        std::fs::create_dir_all(&dir)?;
        let tensors = self.weights_and_masks();
        let path = dir.join("best.safetensors");
        run::write_tensors_atomic(&path, &tensors)?;
        run::write_json_atomic(
            &dir.join("best.json"),
            &serde_json::json!({
                "metric": self.preset.checkpoint.best.as_str(),
                "value": value,
                "step": step,
            }),
        )?;
        sink.emit(Event::Checkpoint(Checkpoint {
            step,
            path: path.display().to_string(),
        }));
        Ok(())
    }

    fn checkpoint(
        &mut self,
        sink: &mut Sink,
        step: usize,
        epoch: usize,
        position: usize,
        sums: (f64, f64, usize),
    ) -> Result<()> {
        let dir = self.run_dir.join("checkpoints");
        std::fs::create_dir_all(&dir)?;
        let (weights, optim, state) = run::checkpoint_paths(&dir, step);
        let tensors = self.weights_and_masks();
        run::write_tensors_atomic(&weights, &tensors)?;
        run::write_tensors_atomic(&optim, &self.opt.state())?;
        run::write_json_atomic(
            &state,
            &TrainState {
                step,
                epoch,
                position,
                optimizer_t: self.opt.t,
                seed: self.preset.train.seed,
                arch: self.net.arch.clone(),
                test_acc: self.last_test_acc,
                epoch_loss_sum: sums.0,
                epoch_acc_sum: sums.1,
                epoch_steps: sums.2,
                best_value: self.best_value,
            },
        )?;
        // Keep the last K periodic checkpoints.
        let all = run::list_checkpoints(&dir);
        let keep = self.preset.checkpoint.keep.max(1);
        if all.len() > keep {
            for (s, _) in &all[..all.len() - keep] {
                let (w, o, j) = run::checkpoint_paths(&dir, *s);
                for p in [j, w, o] {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        sink.emit(Event::Checkpoint(Checkpoint {
            step,
            path: weights.display().to_string(),
        }));
        Ok(())
    }

    fn load_checkpoint(&mut self, state_path: &Path) -> Result<TrainState> {
        let st: TrainState = serde_json::from_str(
            &std::fs::read_to_string(state_path)
                .with_context(|| format!("reading {}", state_path.display()))?,
        )
        .with_context(|| format!("parsing {}", state_path.display()))?;
        let dir = state_path.parent().unwrap();
        let (weights, optim, _) = run::checkpoint_paths(dir, st.step);
        let device = self.net.vs.device();
        let tensors = Tensor::read_safetensors(&weights)
            .with_context(|| format!("reading {}", weights.display()))?;
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| (n, t.to_device(device)))
            .collect();
        self.net
            .load_tensors(&tensors, &weights.display().to_string())?;
        let masks = self
            .pruner
            .layers
            .iter()
            .map(|l| {
                let key = format!("{}_mask", l.name);
                tensors
                    .iter()
                    .find(|(n, _)| *n == key)
                    .map(|(_, t)| t.shallow_clone())
                    .with_context(|| format!("{}: no {key}", weights.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        self.pruner.set_masks(masks);
        let opt_t = Tensor::read_safetensors(&optim)
            .with_context(|| format!("reading {}", optim.display()))?;
        let opt_t: Vec<(String, Tensor)> = opt_t
            .into_iter()
            .map(|(n, t)| (n, t.to_device(device)))
            .collect();
        self.opt.load_state(&opt_t, st.optimizer_t)?;
        self.last_test_acc = st.test_acc;
        self.best_value = st.best_value;
        Ok(st)
    }

    fn finish(&mut self, sink: &mut Sink, state: EndState, started: Instant) -> Result<()> {
        let (test_loss, test_acc) = self.test_metrics();
        let (sparsity, layers) = self.pruner.measure();
        let step = sink.step.max(if state == EndState::Finished {
            self.total_steps
        } else {
            0
        });
        let summary = serde_json::json!({
            "state": state,
            "step": step,
            "total_steps": self.total_steps,
            "mode": self.preset.train.mode.as_str(),
            "preset": self.preset.name,
            "sparsity": sparsity,
            "layers": layers,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "seconds": started.elapsed().as_secs_f64(),
        });
        run::write_json_atomic(&self.run_dir.join("summary.json"), &summary)?;
        sink.emit(Event::Finished(Finished {
            step,
            state,
            sparsity,
            test_acc,
            seconds: started.elapsed().as_secs_f64(),
        }));
        Ok(())
    }
}

/// `key=value` for each live change logged before the checkpoint at `step`. They reached the
/// engine that wrote the checkpoint but never `preset.toml`, so a resumed run re-applies them
/// to train on the same settings.
fn live_changes(events: &Path, step: usize) -> Result<Vec<String>> {
    let events = super::events::read_events(events)?;
    let end = events
        .iter()
        .position(|e| matches!(e, Event::Checkpoint(Checkpoint { step: s, .. }) if *s == step))
        .unwrap_or(events.len());
    Ok(events[..end]
        .iter()
        .filter_map(|e| match e {
            Event::ParamChanged(ParamChanged { key, new, .. }) => Some(format!("{key}={new}")),
            _ => None,
        })
        .collect())
}
