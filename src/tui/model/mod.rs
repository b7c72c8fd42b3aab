//! A run as the workbench knows it, folded from its events: what `run_started` said, the
//! state, progress, the measured series, budgets and evaluations, the message log, and the
//! run's settings with every live change applied. Nothing here draws or reads keys, so the live
//! run of a window, a watched run and a compared run (`c`) are each one [`RunModel`], and
//! replaying a run's `events.jsonl` into a fresh one rebuilds it exactly (what `bapw watch`
//! needs). [`RunModel::apply`] is the only way events change it.
mod broken;
mod log;
mod metrics;
mod series;

use crate::config::preset::Preset;
use crate::events::{
    Alert, Checkpoint, EndState, EpochEnd, ErrorReport, Eval, Event, Finished, MaskUpdate, Message,
    ParamChanged, Paused, Resumed, RunStarted, Step,
};
use crate::prune::ScheduleSpec;

pub use broken::Broken;
pub use log::{Level, LogEntry, MessageLog};
pub use metrics::{curve_at, BudgetView, Curves, Evals, Metrics, SeriesId};
pub use series::{ema_into, y_range, Series, DEFAULT_CAP};

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Steps done (the last step event's index + 1).
    pub steps_done: usize,
    pub epoch: usize,
    pub samples_per_s: f64,
    pub last_test_acc: Option<f64>,
    pub final_sparsity: Option<f64>,
    /// Step of the last periodic checkpoint (what `bapw resume` would continue from).
    pub last_checkpoint: Option<usize>,
    /// Wall seconds per step over whole epochs (test pass and checkpoints included).
    pub secs_per_step: Option<f64>,
    /// Wall seconds of the last robustness evaluation.
    pub eval_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunModel {
    /// The settings being edited before a run, and the run's settings (with every live change
    /// applied) during one.
    pub preset: Preset,
    /// How the run is named on screen: for a window's own or watched run, the preset it was
    /// opened from (a shipped or user preset name, or a path; the header shows it); for a
    /// compared run, its folder's name.
    pub label: String,
    /// The settings differ from `named` (edited in the Schedule pane, or changed live).
    pub preset_edited: bool,
    /// The settings as the preset's name gives them (when opened or last saved): what "edited"
    /// and the differences popup (`D`) compare against.
    pub named: Preset,
    /// What `run_started` said; None before the run has started.
    pub started: Option<RunStarted>,
    pub state: RunState,
    pub progress: Progress,
    /// The resolved schedule: the run's, or the preset's with estimated steps before a run.
    pub schedule: ScheduleSpec,
    pub schedule_estimated: bool,
    /// The preset is still the one the run was started with (not switched or edited since), so
    /// the run's real steps per epoch apply to it.
    pub run_matches_preset: bool,
    pub metrics: Metrics,
    pub budget: BudgetView,
    pub evals: Evals,
    pub log: MessageLog,
    /// `Set` commands sent and not yet answered: (key, literal).
    pub pending_sets: Vec<(String, String)>,
    /// The last run-health alert, until the run resumes.
    pub alert: Option<Alert>,
    /// The weights broke (a non-finite loss or update) and the run paused: the engine resumes
    /// only after a roll-back (`R`).
    pub broken: Option<Broken>,
}

impl RunModel {
    /// A run not started yet, on `preset`.
    pub fn new(preset: Preset, label: &str) -> RunModel {
        let mut m = RunModel {
            schedule: preset.schedule(1),
            named: preset.clone(),
            preset,
            label: label.to_string(),
            preset_edited: false,
            started: None,
            state: RunState::Idle,
            progress: Progress::default(),
            schedule_estimated: true,
            run_matches_preset: false,
            metrics: Metrics::default(),
            budget: BudgetView::default(),
            evals: Evals::default(),
            log: MessageLog::default(),
            pending_sets: Vec::new(),
            alert: None,
            broken: None,
        };
        m.refresh_schedule();
        m
    }

    /// A fresh model fed every event of a recorded run (its `preset.toml` and `events.jsonl`).
    pub fn replay(preset: Preset, label: &str, events: &[Event]) -> RunModel {
        let mut m = RunModel::new(preset, label);
        for ev in events {
            m.apply(ev);
        }
        m
    }

    /// natural, adversarial or bap: as the run reported it, else as its settings say.
    pub fn mode(&self) -> &str {
        match &self.started {
            Some(r) => &r.mode,
            None => self.preset.train.mode.as_str(),
        }
    }

    /// A message from the UI itself (saved files, refusals, ...), at the current step once
    /// the run has started.
    pub fn note(&mut self, level: Level, text: impl Into<String>) {
        let step = self.started.as_ref().map(|_| self.progress.steps_done);
        self.log.push(step, level, text);
    }

    /// Steps per epoch: the run's, or an estimate from the preset before a run.
    pub fn steps_per_epoch(&self) -> usize {
        match &self.started {
            Some(r) if self.run_matches_preset => r.steps_per_epoch,
            _ => self
                .preset
                .steps_per_epoch(estimated_train_examples(&self.preset)),
        }
    }

    pub fn total_steps(&self) -> usize {
        match &self.started {
            Some(r) if self.run_matches_preset => r.total_steps,
            _ => self.preset.train.epochs * self.steps_per_epoch(),
        }
    }

    fn refresh_schedule(&mut self) {
        self.schedule = self.preset.schedule(self.steps_per_epoch());
        self.schedule_estimated = !(self.started.is_some() && self.run_matches_preset);
    }

    /// Before a run: the settings become `preset` (an accepted edit of a field).
    pub fn edit_settings(&mut self, preset: Preset) {
        self.preset = preset;
        // An edit undone by hand leaves the preset as named.
        self.preset_edited = !self.differences().is_empty();
        self.run_matches_preset = false;
        self.refresh_schedule();
    }

    /// Before a run: other settings were opened (a preset from the picker).
    pub fn open_settings(&mut self, preset: Preset, label: &str) {
        self.named = preset.clone();
        self.preset = preset;
        self.label = label.to_string();
        self.preset_edited = false;
        self.run_matches_preset = false;
        self.refresh_schedule();
    }

    /// The settings were saved as the user preset `name`: they are what it names now.
    pub fn saved_as(&mut self, name: &str) {
        self.preset.name = name.to_string();
        self.label = name.to_string();
        self.named = self.preset.clone();
        self.preset_edited = false;
    }

    /// Keys whose values differ from the named preset's: (key, the preset's value, the
    /// current value), as TOML, sorted by key. The name and description are not settings.
    pub fn differences(&self) -> Vec<(String, String, String)> {
        crate::config::preset::diff(&self.named, &self.preset)
            .into_iter()
            .filter(|(k, _, _)| !matches!(k.as_str(), "name" | "description" | "inherit"))
            .collect()
    }

    /// A `Set` was sent to the engine: shown as pending until it answers.
    pub fn set_pending(&mut self, key: &str, literal: &str) {
        self.pending_sets.retain(|(k, _)| k != key);
        self.pending_sets
            .push((key.to_string(), literal.to_string()));
    }

    /// Seconds left: from whole epochs' wall time once one has ended (it includes the test
    /// pass and checkpoints, which the per-step rate misses), plus the evaluations still to
    /// come; before that from the step rate alone.
    pub fn eta_seconds(&self) -> Option<f64> {
        let run = self.started.as_ref()?;
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

    /// Folds one engine event in. The only way events change the model.
    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::RunStarted(r) => self.started(r),
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
                if let Some(run) = &self.started {
                    let sps = seconds / run.steps_per_epoch.max(1) as f64;
                    let p = &mut self.progress;
                    p.secs_per_step =
                        Some(p.secs_per_step.map_or(sps, |old| 0.5 * old + 0.5 * sps));
                }
                self.metrics.push(SeriesId::TestAcc, *step, *test_acc);
            }
            Event::Budget(b) => self.budget.push(b),
            Event::Eval(e) => self.evaluated(e),
            Event::ParamChanged(c) => self.param_changed(c),
            Event::Alert(a) => {
                // The rule's name first, as headless prints it; the numbers are in the message.
                let text = format!("alert ({}): {}", a.rule, a.message);
                self.log.push(Some(a.step), Level::Error, text);
                self.alert = Some(a.clone());
            }
            Event::RolledBack(r) => {
                // Steps after the checkpoint train again: what they reported no longer holds.
                self.metrics.truncate_after(r.to_step);
                self.budget.truncate_after(r.to_step);
                self.evals.truncate_after(r.to_step);
                self.progress.steps_done = r.to_step;
                if let Some(run) = &self.started {
                    self.progress.epoch = r.to_step / run.steps_per_epoch.max(1);
                }
                self.progress.last_checkpoint = Some(r.to_step);
                self.broken = None;
                // The engine replays the log up to the checkpoint first (its `run_started`
                // says running); a rolled-back run stays paused until resumed.
                if self.state.is_active() {
                    self.state = RunState::Paused;
                }
            }
            Event::Paused(Paused { step }) => {
                self.state = RunState::Paused;
                // What to do next is the banner's (a watching window cannot resume).
                const NEXT: &str = "the run is paused";
                let alert_line =
                    |e: &LogEntry| e.level == Level::Error && e.text.starts_with("alert (");
                match &self.alert {
                    // The pause an alert caused is said on the alert's own line, so the message
                    // line keeps the rule and its numbers instead of a bare "paused".
                    Some(_) if self.log.latest().is_some_and(alert_line) => {
                        self.log.amend_latest(&format!("; {NEXT}"))
                    }
                    // A stall pauses once the stuck step ends, maybe after other messages.
                    Some(a) => self.log.push(
                        Some(*step),
                        Level::Warn,
                        format!("paused by alert ({}): {}; {NEXT}", a.rule, a.message),
                    ),
                    None => self.log.push(Some(*step), Level::Info, "paused"),
                }
            }
            Event::Resumed(Resumed { step }) => {
                self.alert = None;
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
                if let Some(b) = Broken::from_error(*step, message) {
                    self.broken = Some(b);
                }
                self.log.push(Some(*step), Level::Error, message.clone());
            }
            Event::Finished(f) => self.finished(f),
        }
    }

    fn started(&mut self, r: &RunStarted) {
        // A new run: everything measured so far belonged to the previous one.
        self.metrics = Metrics::default();
        self.budget = BudgetView::default();
        self.evals = Evals::default();
        self.pending_sets.clear();
        self.broken = None;
        self.progress = Progress {
            steps_done: r.start_step,
            epoch: r.start_step / r.steps_per_epoch.max(1),
            ..Progress::default()
        };
        self.schedule = r.schedule;
        self.schedule_estimated = false;
        self.run_matches_preset = true;
        self.state = RunState::Running;
        // A roll-back replays the run from its `run_started`: one line says it started.
        let again = self
            .started
            .as_ref()
            .is_some_and(|s| s.run_id == r.run_id && s.start_step == r.start_step);
        if again {
            self.started = Some(r.clone());
            return;
        }
        self.log.push(
            Some(r.start_step),
            Level::Info,
            format!(
                "run {} started on {}: {}, {}, {}",
                r.run_id, r.device, r.dataset, r.model, r.mode
            ),
        );
        self.started = Some(r.clone());
    }

    fn evaluated(&mut self, e: &Eval) {
        let eps = self.preset.eval.robust_eps;
        // The robust accuracy series: the worst case over the L∞ attacks where the evaluation
        // has one (older logs: PGD), at the preset's budget when it was measured.
        let curve = e
            .worst_case
            .iter()
            .find(|c| c.attack == "worst-linf")
            .or_else(|| e.curve("pgd"));
        if let Some(r) = curve.and_then(|c| curve_at(c, eps)) {
            self.metrics.push(SeriesId::RobustAcc, e.step, r);
        }
        self.progress.eval_secs = Some(e.seconds);
        self.evals.push(e);
        self.log.push(
            Some(e.step),
            Level::Info,
            format!(
                "evaluated on {} images: clean acc {:.3}",
                e.examples, e.clean_acc
            ),
        );
    }

    fn param_changed(&mut self, c: &ParamChanged) {
        let ParamChanged {
            step,
            key,
            old,
            new,
        } = c;
        self.pending_sets.retain(|(k, _)| k != key);
        match with_value(&self.preset, key, new) {
            Ok(p) => {
                self.preset = p;
                self.preset_edited = !self.differences().is_empty();
                self.refresh_schedule();
            }
            Err(e) => self.log.push(
                Some(*step),
                Level::Warn,
                format!("the engine changed {key} to {new}, which the UI reads as invalid: {e}"),
            ),
        }
        self.log
            .push(Some(*step), Level::Info, format!("{key} {old} → {new}"));
    }

    fn finished(&mut self, f: &Finished) {
        let Finished {
            step,
            state,
            sparsity,
            test_acc,
            seconds,
        } = f;
        self.state = match state {
            EndState::Finished => RunState::Finished,
            EndState::Stopped => RunState::Stopped,
            EndState::Failed => RunState::Failed,
        };
        self.pending_sets.clear();
        self.broken = None;
        if sparsity.is_finite() {
            self.progress.final_sparsity = Some(*sparsity);
        }
        // The header and the closing message quote the same test accuracy: the final one.
        if test_acc.is_finite() && *state != EndState::Failed {
            self.progress.last_test_acc = Some(*test_acc);
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
    }
}

/// The preset with `key` set to the TOML `literal`, validated like a preset file; the problem
/// about `key` (or the first) comes back as the reason.
pub fn with_value(p: &Preset, key: &str, literal: &str) -> Result<Preset, String> {
    p.with(key, literal).map_err(|pr| {
        if pr.key == key || pr.key.is_empty() {
            pr.message
        } else {
            format!("{}: {}", pr.key, pr.message)
        }
    })
}

/// Training examples the preset will see, for drawing the schedule before the run has
/// started (the engine reports the real number in `run_started`).
pub fn estimated_train_examples(p: &Preset) -> usize {
    let full = match p.data.dataset.as_str() {
        "synthetic" => p.data.synthetic.train,
        "cifar10" => 50_000,
        _ => 60_000,
    };
    if p.data.train_subset > 0 {
        full.min(p.data.train_subset)
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_examples_from_the_data_section() {
        let mut p = Preset::load("smoke").unwrap();
        assert_eq!(estimated_train_examples(&p), 1024);
        p.data.dataset = "mnist".into();
        p.data.train_subset = 12_800;
        assert_eq!(estimated_train_examples(&p), 12_800);
    }
}

/// What the panes, the header and the footer draw from besides their own state.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The run on screen (or the settings before a run).
    pub run: &'a RunModel,
    /// Another run pinned for comparison (`c`).
    pub compare: Option<&'a RunModel>,
    /// The window follows a run another process writes: it steers nothing.
    pub watching: bool,
    /// A stop was asked for and the engine has not reported the end yet.
    pub stop_requested: bool,
}
