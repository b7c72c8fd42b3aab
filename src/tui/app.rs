//! The TUI's state. Engine events change it only through [`App::apply`], so replaying a run's
//! `events.jsonl` into a fresh `App` rebuilds every pane exactly (what `bapw watch` needs).
//! Keys change only the view and the settings being edited (see `control.rs`); what the
//! engine must do comes back as [`Request`]s for the runtime loop to carry out.
use crate::events::{
    Budget, Checkpoint, EndState, EpochEnd, ErrorReport, Eval, Event, Finished, MaskUpdate,
    Message, ParamChanged, Paused, Resumed, RunStarted, Step,
};
use std::path::PathBuf;

use crate::config::preset::Preset;
use crate::config::settings::Settings;
use crate::config::theme::Theme;
use crate::prune::ScheduleSpec;
use crate::train::Command;

use super::compare::Compared;
use super::fields;
use super::popups::Popup;
use super::store::Store;

pub use super::state::{
    curve_at, BudgetSnapshot, BudgetView, EvalSnapshot, Evals, Level, LogEntry, MessageLog,
    Metrics, Progress, RunInfo, SeriesId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Schedule,
    Loss,
    Budget,
    Robustness,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Schedule, Pane::Loss, Pane::Budget, Pane::Robustness];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Schedule => "Schedule",
            Pane::Loss => "Loss & sparsity",
            Pane::Budget => "Budget",
            Pane::Robustness => "Robustness",
        }
    }

    pub fn number(self) -> usize {
        self as usize + 1
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self as usize + 1) % 4]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self as usize + 3) % 4]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// No run yet: settings are edited in the preset.
    Idle,
    /// `s` was pressed; the engine is loading data until `run_started`.
    Starting,
    Running,
    Paused,
    Finished,
    Stopped,
    Failed,
    /// A watched run whose writer went away without finishing it (killed, machine lost).
    Interrupted,
}

impl RunState {
    /// A run exists that has not ended: edits go to the engine, quitting asks first.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Running | RunState::Paused
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            RunState::Idle => "idle",
            RunState::Starting => "starting",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Finished => "finished",
            RunState::Stopped => "stopped",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
        }
    }
}

/// What the runtime loop must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Engine(Command),
    /// Spawn an engine on `App::preset`.
    StartRun,
    Quit,
    /// The run has stopped for the hand-over: continue it in a detached headless process,
    /// then quit.
    Background,
    /// Read the runs folder for the run list.
    ListRuns,
    /// Follow the run of that name (in the runs folder), read-only.
    Watch(String),
    /// Continue the stopped run of that name in this window.
    Resume(String),
    /// Pin the run of that name for comparison.
    Compare(String),
    /// Write the tables and plot of `pane` for the run in `run_dir` into `<run_dir>/export`.
    Export {
        pane: Pane,
        run_dir: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldEdit {
    pub key: &'static str,
    pub input: super::input::TextInput,
    /// For choice fields: the option shown.
    pub choice: Option<usize>,
    /// The schedule the typed value gives, or why it is refused.
    pub verdict: Result<ScheduleSpec, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleUi {
    pub cursor: usize,
    pub edit: Option<FieldEdit>,
    /// A refusal shown under a field that could not be opened (`key`, reason).
    pub note: Option<(&'static str, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossUi {
    pub smooth: bool,
    pub log_scale: bool,
    pub hidden: [bool; 6],
    pub cursor: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    pub focus: Pane,
    pub zoom: bool,
    pub popup: Option<Popup>,
    pub schedule: ScheduleUi,
    pub loss: LossUi,
}

pub struct App {
    /// The settings being edited before a run, and the run's settings (with every live change
    /// applied) during one.
    pub preset: Preset,
    /// How the preset was named (shipped or user name, or a path).
    pub preset_label: String,
    /// Edited since it was loaded or saved.
    pub preset_edited: bool,
    pub run: Option<RunInfo>,
    pub state: RunState,
    pub progress: Progress,
    /// The resolved schedule: the run's, or the preset's with estimated steps before a run.
    pub schedule: ScheduleSpec,
    pub schedule_estimated: bool,
    /// The preset is still the one `run` was started with (not switched or edited since), so
    /// the run's real steps per epoch apply to it.
    pub run_matches_preset: bool,
    pub metrics: Metrics,
    pub budget: BudgetView,
    pub evals: Evals,
    pub log: MessageLog,
    /// `Set` commands sent and not yet answered: (key, literal).
    pub pending_sets: Vec<(String, String)>,
    pub stop_requested: bool,
    pub quit_after_stop: bool,
    /// Quitting with "keep running in the background": once the engine has stopped at a
    /// checkpoint, a detached process continues the run.
    pub background_after_stop: bool,
    /// This window follows a run that another process writes: it shows everything and
    /// steers nothing.
    pub watching: bool,
    /// Another run pinned for comparison: ghost curves in the Loss pane, a column in the
    /// Robustness pane.
    pub compare: Option<Compared>,
    pub ui: Ui,
    pub(super) store: Store,
    pub(super) settings: Settings,
    pub(super) themes: Vec<Theme>,
    pub(super) theme_idx: usize,
    pub(super) monochrome: bool,
    requests: Vec<Request>,
}

impl App {
    /// A fresh app on `preset`, themes and settings read from `store`. `theme` (e.g. from
    /// `--theme`) wins over the remembered one.
    pub fn new(preset: Preset, preset_label: &str, store: Store, theme: Option<&str>) -> App {
        let (settings, settings_note) = store.settings();
        let (themes, theme_errors) = store.themes();
        let mut app = App {
            schedule: preset.schedule(1),
            preset,
            preset_label: preset_label.to_string(),
            preset_edited: false,
            run: None,
            state: RunState::Idle,
            progress: Progress::default(),
            schedule_estimated: true,
            run_matches_preset: false,
            metrics: Metrics::default(),
            budget: BudgetView::default(),
            evals: Evals::default(),
            log: MessageLog::default(),
            pending_sets: Vec::new(),
            stop_requested: false,
            quit_after_stop: false,
            background_after_stop: false,
            watching: false,
            compare: None,
            ui: Ui {
                focus: Pane::Schedule,
                zoom: false,
                popup: None,
                schedule: ScheduleUi::default(),
                loss: LossUi::default(),
            },
            store,
            settings,
            themes,
            theme_idx: 0,
            monochrome: false,
            requests: Vec::new(),
        };
        app.refresh_schedule();
        if let Some(n) = settings_note {
            app.note(Level::Warn, n);
        }
        for e in theme_errors {
            app.note(Level::Warn, format!("theme skipped: {e}"));
        }
        let wanted = theme.map(str::to_string).or(app.settings.theme.clone());
        if let Some(name) = wanted {
            match app.themes.iter().position(|t| t.name == name) {
                Some(i) => {
                    app.theme_idx = i;
                    // `--theme` is remembered like `t`.
                    if app.settings.theme.as_deref() != Some(name.as_str()) {
                        app.settings.theme = Some(name);
                        app.save_settings();
                    }
                }
                None => {
                    let names: Vec<&str> = app.themes.iter().map(|t| t.name.as_str()).collect();
                    let msg = format!("no theme named {name:?}; themes: {}", names.join(", "));
                    app.note(Level::Warn, msg);
                }
            }
        }
        app
    }

    /// `NO_COLOR`: draw with the terminal's colours and modifiers only.
    pub fn set_monochrome(&mut self, on: bool) {
        self.monochrome = on;
    }

    pub fn theme(&self) -> std::borrow::Cow<'_, Theme> {
        match self.themes.get(self.theme_idx) {
            Some(t) if !self.monochrome => std::borrow::Cow::Borrowed(t),
            _ => std::borrow::Cow::Owned(Theme::monochrome()),
        }
    }

    /// Requests for the runtime, oldest first.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    pub(super) fn request(&mut self, r: Request) {
        self.requests.push(r);
    }

    /// A message from the UI itself (saved files, refusals, ...).
    pub fn note(&mut self, level: Level, text: impl Into<String>) {
        let step = self.run.as_ref().map(|_| self.progress.steps_done);
        self.log.push(step, level, text);
    }

    /// Steps per epoch: the run's, or an estimate from the preset before a run.
    pub fn steps_per_epoch(&self) -> usize {
        match &self.run {
            Some(r) if self.run_matches_preset => r.steps_per_epoch,
            _ => self
                .preset
                .steps_per_epoch(fields::estimated_train_examples(&self.preset)),
        }
    }

    pub fn total_steps(&self) -> usize {
        match &self.run {
            Some(r) if self.run_matches_preset => r.total_steps,
            _ => self.preset.train.epochs * self.steps_per_epoch(),
        }
    }

    pub(super) fn refresh_schedule(&mut self) {
        self.schedule = self.preset.schedule(self.steps_per_epoch());
        self.schedule_estimated = !(self.run.is_some() && self.run_matches_preset);
    }

    /// Seconds left: from whole epochs' wall time once one has ended (it includes the test
    /// pass and checkpoints, which the per-step rate misses), plus the evaluations still to
    /// come; before that from the step rate alone.
    pub fn eta_seconds(&self) -> Option<f64> {
        let run = self.run.as_ref()?;
        if !self.state.is_active() {
            return None;
        }
        let left = run.total_steps.saturating_sub(self.progress.steps_done) as f64;
        let p = &self.progress;
        let train = match p.secs_per_step {
            Some(sps) => left * sps,
            None if p.samples_per_s > 0.0 => left * run.batch_size as f64 / p.samples_per_s,
            None => return None,
        };
        let every = self.preset.eval.every;
        let epochs_left = left / run.steps_per_epoch.max(1) as f64;
        let evals_left = if every > 0 {
            epochs_left / every as f64
        } else {
            0.0
        } + 1.0;
        Some(train + evals_left * p.eval_secs.unwrap_or(0.0))
    }

    /// Folds one engine event into the state. The only way events change the app.
    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::RunStarted(RunStarted {
                run_id,
                run_dir,
                preset,
                mode,
                dataset,
                model,
                device,
                epochs,
                steps_per_epoch,
                total_steps,
                batch_size,
                train_examples,
                layers,
                schedule,
                start_step,
                ..
            }) => {
                // A new run: everything measured so far belonged to the previous one.
                self.metrics = Metrics::default();
                self.budget = BudgetView::default();
                self.evals = Evals::default();
                self.pending_sets.clear();
                self.stop_requested = false;
                self.progress = Progress {
                    steps_done: *start_step,
                    epoch: start_step / (*steps_per_epoch).max(1),
                    ..Progress::default()
                };
                self.run = Some(RunInfo {
                    run_id: run_id.clone(),
                    run_dir: run_dir.clone(),
                    preset: preset.clone(),
                    mode: mode.clone(),
                    dataset: dataset.clone(),
                    model: model.clone(),
                    device: device.clone(),
                    epochs: *epochs,
                    steps_per_epoch: *steps_per_epoch,
                    total_steps: *total_steps,
                    batch_size: *batch_size,
                    train_examples: *train_examples,
                    prunable_weights: layers.iter().map(|l| l.numel).sum(),
                });
                self.schedule = *schedule;
                self.schedule_estimated = false;
                self.run_matches_preset = true;
                self.state = RunState::Running;
                self.log.push(
                    Some(*start_step),
                    Level::Info,
                    format!("run {run_id} started on {device}: {dataset}, {model}, {mode}"),
                );
            }
            Event::Step(Step {
                step,
                epoch,
                clean_loss,
                adv_loss,
                target_sparsity,
                sparsity,
                samples_per_s,
                ..
            }) => {
                self.progress.steps_done = step + 1;
                self.progress.epoch = *epoch;
                self.progress.samples_per_s = *samples_per_s;
                if matches!(
                    self.state,
                    RunState::Starting | RunState::Idle | RunState::Interrupted
                ) {
                    self.state = RunState::Running;
                }
                let m = &mut self.metrics;
                m.push(SeriesId::CleanLoss, *step, *clean_loss);
                if let Some(a) = adv_loss {
                    m.push(SeriesId::AdvLoss, *step, *a);
                }
                m.push(SeriesId::Target, *step, *target_sparsity);
                m.push(SeriesId::Measured, *step, *sparsity);
            }
            // Step events carry the measured sparsity every step; updates add nothing new.
            Event::MaskUpdate(MaskUpdate { .. }) => {}
            // `best.safetensors` is kept for its metric; a resume starts from periodic ones.
            Event::Checkpoint(Checkpoint { step, path }) if !path.ends_with("best.safetensors") => {
                self.progress.last_checkpoint = Some(*step);
            }
            Event::Checkpoint(Checkpoint { .. }) => {}
            Event::EpochEnd(EpochEnd {
                step,
                test_acc,
                seconds,
                ..
            }) => {
                self.progress.last_test_acc = Some(*test_acc);
                if let Some(run) = &self.run {
                    let sps = seconds / run.steps_per_epoch.max(1) as f64;
                    let p = &mut self.progress;
                    p.secs_per_step =
                        Some(p.secs_per_step.map_or(sps, |old| 0.5 * old + 0.5 * sps));
                }
                self.metrics.push(SeriesId::TestAcc, *step, *test_acc);
            }
            Event::Budget(Budget {
                step,
                mode,
                distances,
                budgets,
                delta,
                rho,
                cut_fraction,
                flip_rate,
            }) => {
                let b = &mut self.budget;
                let snap = b.latest.get_or_insert_with(BudgetSnapshot::default);
                // clone_from reuses the histogram buffers: no allocation per event.
                snap.step = *step;
                snap.mode.clone_from(mode);
                snap.distances.clone_from(distances);
                snap.budgets.clone_from(budgets);
                snap.delta = *delta;
                snap.rho = *rho;
                snap.cut_fraction = *cut_fraction;
                snap.flip_rate = *flip_rate;
                let x = *step as f64;
                b.p25.push(x, budgets.p25);
                b.p50.push(x, budgets.p50);
                b.p75.push(x, budgets.p75);
                b.flip_rate.push(x, *flip_rate);
                b.events += 1;
            }
            Event::Eval(Eval {
                step,
                epoch,
                examples,
                clean_acc,
                curves,
                seconds,
                ..
            }) => {
                let snap = EvalSnapshot {
                    step: *step,
                    epoch: *epoch,
                    examples: *examples,
                    clean_acc: *clean_acc,
                    curves: curves.clone(),
                    seconds: *seconds,
                };
                let eps = self.preset.eval.robust_eps;
                if let Some(r) = snap.curve("pgd").and_then(|c| curve_at(c, eps)) {
                    self.metrics.push(SeriesId::RobustAcc, *step, r);
                }
                self.progress.eval_secs = Some(*seconds);
                self.evals.previous = self.evals.latest.replace(snap);
                self.evals.count += 1;
                self.log.push(
                    Some(*step),
                    Level::Info,
                    format!("evaluated on {examples} images: clean acc {clean_acc:.3}"),
                );
            }
            Event::ParamChanged(ParamChanged {
                step,
                key,
                old,
                new,
            }) => {
                self.pending_sets.retain(|(k, _)| k != key);
                match fields::with_value(&self.preset, key, new) {
                    Ok(p) => {
                        self.preset = p;
                        self.refresh_schedule();
                    }
                    Err(e) => self.log.push(
                        Some(*step),
                        Level::Warn,
                        format!(
                            "the engine changed {key} to {new}, which the UI reads as invalid: {e}"
                        ),
                    ),
                }
                self.log
                    .push(Some(*step), Level::Info, format!("{key} {old} → {new}"));
            }
            Event::Alert(a) => {
                self.log
                    .push(Some(a.step), Level::Error, format!("alert: {}", a.message));
            }
            Event::RolledBack(r) => {
                // Steps after the checkpoint train again: what they reported no longer holds.
                self.metrics.truncate_after(r.to_step);
                let b = &mut self.budget;
                for s in [&mut b.p25, &mut b.p50, &mut b.p75, &mut b.flip_rate] {
                    s.truncate_after(r.to_step as f64);
                }
                if b.latest.as_ref().is_some_and(|l| l.step >= r.to_step) {
                    b.latest = None;
                }
                let e = &mut self.evals;
                for slot in [&mut e.latest, &mut e.previous] {
                    if slot.as_ref().is_some_and(|s| s.step > r.to_step) {
                        *slot = None;
                    }
                }
                if e.latest.is_none() {
                    e.latest = e.previous.take();
                }
                self.progress.steps_done = r.to_step;
                if let Some(run) = &self.run {
                    self.progress.epoch = r.to_step / run.steps_per_epoch.max(1);
                }
                self.progress.last_checkpoint = Some(r.to_step);
            }
            Event::Paused(Paused { step }) => {
                self.state = RunState::Paused;
                self.log.push(Some(*step), Level::Info, "paused");
            }
            Event::Resumed(Resumed { step }) => {
                self.state = RunState::Running;
                self.log.push(Some(*step), Level::Info, "resumed");
            }
            Event::Message(Message { step, text }) => {
                self.log.push(Some(*step), Level::Info, text.clone())
            }
            Event::Error(ErrorReport { step, message }) => {
                // The engine answers commands in order: an error while a change is pending
                // is that change being refused.
                self.pending_sets.clear();
                self.log.push(Some(*step), Level::Error, message.clone());
            }
            Event::Finished(Finished {
                step,
                state,
                sparsity,
                test_acc,
                seconds,
            }) => {
                self.state = match state {
                    EndState::Finished => RunState::Finished,
                    EndState::Stopped => RunState::Stopped,
                    EndState::Failed => RunState::Failed,
                };
                self.stop_requested = false;
                self.pending_sets.clear();
                if sparsity.is_finite() {
                    self.progress.final_sparsity = Some(*sparsity);
                }
                let (level, text) = match state {
                    // The footer shows one line: make it the reason, not just the fact.
                    EndState::Failed => {
                        let reason = self
                            .log
                            .entries()
                            .rev()
                            .find(|e| e.level == Level::Error)
                            .map(|e| e.text.clone())
                            .unwrap_or_else(|| "no reason given".into());
                        (Level::Error, format!("run failed: {reason}"))
                    }
                    _ => (
                        Level::Info,
                        format!(
                            "run {} after {}: sparsity {sparsity:.3}, test acc {test_acc:.3}",
                            if *state == EndState::Finished {
                                "finished"
                            } else {
                                "stopped"
                            },
                            crate::headless::fmt_secs(*seconds)
                        ),
                    ),
                };
                self.log.push(Some(*step), level, text);
                if self.background_after_stop {
                    self.background_after_stop = false;
                    self.handed_over(*state);
                } else if self.quit_after_stop {
                    self.request(Request::Quit);
                }
            }
        }
    }

    /// Shows another run from scratch (to watch or resume it): everything a run reported is
    /// dropped, the settings become `preset`'s; the view (focus, zoom, series shown, theme),
    /// the message log and a pinned comparison stay.
    pub fn open_run(&mut self, preset: Preset, label: &str, watching: bool) {
        self.preset = preset;
        self.preset_label = label.to_string();
        self.preset_edited = false;
        self.run = None;
        self.state = RunState::Idle;
        self.progress = Progress::default();
        self.run_matches_preset = false;
        self.metrics = Metrics::default();
        self.budget = BudgetView::default();
        self.evals = Evals::default();
        self.pending_sets.clear();
        self.stop_requested = false;
        self.quit_after_stop = false;
        self.background_after_stop = false;
        self.watching = watching;
        self.ui.popup = None;
        self.ui.schedule = ScheduleUi::default();
        self.refresh_schedule();
    }

    /// A fresh app fed every event of a recorded run.
    pub fn replay(preset: Preset, label: &str, events: &[Event]) -> App {
        let mut app = App::new(preset, label, Store::ephemeral(), None);
        for ev in events {
            app.apply(ev);
        }
        app
    }
}
