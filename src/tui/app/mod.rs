//! The workbench: the run on screen (a [`RunModel`]), a run pinned for comparison, the screen's
//! own state (`panes::Ui`: focus, zoom, the panes, the open popup) and the remembered
//! preferences, and what a key does to them.
//!
//! Engine events change the app only through [`App::apply`], so replaying a run's
//! `events.jsonl` into a fresh `App` rebuilds every pane exactly. A key goes to the open
//! popup, else to the panes (`Ui::on_action`), else to the global keys here; what the engine
//! or the files must do comes back as [`Request`]s for the event loop to carry out, and the
//! loop reports back through the `runs_listed`/`compare_loaded`/`exported`/... methods.
//! Nothing here touches the terminal, the engine or the files (the config store aside), so
//! every transition is testable without them.
mod other_runs;
mod presets;
mod roll_back;

use std::path::PathBuf;

use crossterm::event::KeyEvent;

use super::keymap::{self, Action, Mode, Pane};
use super::model::{Level, RunModel, RunState};
use super::panes::pane::{Context, Handled, PaneRequest};
use super::panes::schedule::fields::{fields_for, Field};
use super::panes::{self, Ui};
use super::popups::confirm::{AfterDiscard, Answer, Confirm, ConfirmKind};
use super::popups::differences::Differences;
use super::popups::help::Help;
use super::popups::messages::Messages;
use super::popups::run_list::RunListContext;
use super::popups::{Outcome, Popup, PopupContext};
use super::prefs::{Notes, Prefs};
use super::style::Styles;
use crate::config::preset::Preset;
use crate::config::store::Store;
use crate::config::theme::Theme;
use crate::events::{EndState, Event, Finished};
use crate::train::Command;

/// What the event loop must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Engine(Command),
    /// Spawn an engine on the run's settings.
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

pub struct App {
    /// The run on screen (this window's or a watched one), or the settings before a run.
    pub run: RunModel,
    /// Another run pinned for comparison: ghost curves in the Loss pane, a column in the
    /// Robustness pane.
    pub compare: Option<RunModel>,
    /// This window follows a run that another process writes: it shows everything and
    /// steers nothing.
    pub watching: bool,
    pub stop_requested: bool,
    pub quit_after_stop: bool,
    /// Quitting with "keep running in the background": once the engine has stopped at a
    /// checkpoint, a detached process continues the run.
    pub background_after_stop: bool,
    pub ui: Ui,
    /// What the run on screen was before `s` asked for a new one: a start that fails gives
    /// it back (the run that finished did not fail).
    before_start: RunState,
    prefs: Prefs,
    requests: Vec<Request>,
}

/// What the panes, the header and the footer draw from.
fn pane_context<'a>(
    run: &'a RunModel,
    compare: Option<&'a RunModel>,
    watching: bool,
    stop_requested: bool,
) -> Context<'a> {
    Context {
        run,
        compare,
        watching,
        stop_requested,
    }
}

/// What the popups read of the window.
fn popup_context<'a>(
    run: &'a RunModel,
    compare: Option<&'a RunModel>,
    prefs: &'a Prefs,
    watching: bool,
) -> PopupContext<'a> {
    PopupContext {
        log: &run.log,
        store: prefs.store(),
        preset_label: &run.label,
        runs: RunListContext {
            on_screen: run.started.as_ref().map(|r| r.run_id.as_str()),
            compared: compare.map(|c| c.label.as_str()),
            watching,
            own_run_active: !watching && run.state.is_active(),
        },
    }
}

impl App {
    /// A fresh app on `preset`, themes and settings read from `store`. `theme` (e.g. from
    /// `--theme`) wins over the remembered one.
    pub fn new(preset: Preset, label: &str, store: Store, theme: Option<&str>) -> App {
        let (prefs, notes) = Prefs::load(store, theme);
        let mut app = App {
            run: RunModel::new(preset, label),
            compare: None,
            watching: false,
            stop_requested: false,
            quit_after_stop: false,
            background_after_stop: false,
            ui: Ui::default(),
            before_start: RunState::Idle,
            prefs,
            requests: Vec::new(),
        };
        app.ui.gpu.shown = app.prefs.gpu_strip();
        app.notes(notes);
        app
    }

    /// A fresh app fed every event of a recorded run.
    pub fn replay(preset: Preset, label: &str, events: &[Event]) -> App {
        let mut app = App::new(preset, label, Store::ephemeral(), None);
        for ev in events {
            app.apply(ev);
        }
        app
    }

    /// `NO_COLOR`: draw with the terminal's colours and modifiers only.
    pub fn set_monochrome(&mut self, on: bool) {
        self.prefs.set_monochrome(on);
    }

    pub fn theme(&self) -> std::borrow::Cow<'_, Theme> {
        self.prefs.theme()
    }

    /// `--charts`: the characters every chart is drawn with, remembered.
    pub fn set_charts(&mut self, charts: crate::config::settings::ChartStyle) {
        let notes = self.prefs.set_charts(charts);
        self.notes(notes);
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut ratatui::Frame) {
        let theme = self.theme();
        let s = Styles::new(&theme).with_charts(self.prefs.charts());
        let ctx = pane_context(
            &self.run,
            self.compare.as_ref(),
            self.watching,
            self.stop_requested,
        );
        let popup = popup_context(&self.run, self.compare.as_ref(), &self.prefs, self.watching);
        panes::render(frame, &self.ui, &ctx, &popup, &s);
    }

    /// Requests for the event loop, oldest first.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    fn request(&mut self, r: Request) {
        self.requests.push(r);
    }

    fn send(&mut self, c: Command) {
        self.request(Request::Engine(c));
    }

    /// A message from the UI itself (saved files, refusals, ...).
    pub fn note(&mut self, level: Level, text: impl Into<String>) {
        self.run.note(level, text);
    }

    fn notes(&mut self, notes: Notes) {
        for (level, text) in notes {
            self.note(level, text);
        }
    }

    /// The fields the Schedule pane shows for the current settings.
    pub fn fields(&self) -> Vec<Field> {
        fields_for(&self.run.preset)
    }

    // ---- events ----

    /// Folds one engine event in: the run model takes it, then the window reacts to the
    /// run's start and end (a stop it asked for, quitting or handing over afterwards).
    pub fn apply(&mut self, ev: &Event) {
        self.run.apply(ev);
        match ev {
            Event::RunStarted(_) => self.stop_requested = false,
            Event::Finished(Finished { state, .. }) => {
                self.stop_requested = false;
                if self.background_after_stop {
                    self.background_after_stop = false;
                    self.handed_over(*state);
                } else if self.quit_after_stop {
                    self.request(Request::Quit);
                }
            }
            _ => {}
        }
    }

    /// Shows another run from scratch (to watch or resume it): everything a run reported is
    /// dropped, the settings become `preset`'s; the view (focus, zoom, series shown, theme),
    /// the message log and a pinned comparison stay.
    pub fn open_run(&mut self, preset: Preset, label: &str, watching: bool) {
        let mut log = std::mem::take(&mut self.run.log);
        // The old run's errors no longer hold the message line.
        log.mark_read();
        self.run = RunModel::new(preset, label);
        self.run.log = log;
        self.stop_requested = false;
        self.quit_after_stop = false;
        self.background_after_stop = false;
        self.watching = watching;
        self.before_start = RunState::Idle;
        self.ui.popup = None;
        self.ui.reset_panes();
    }

    // ---- keys ----

    /// Which keymap applies now.
    pub fn input_mode(&self) -> Mode {
        match &self.ui.popup {
            Some(p) => p.mode(),
            None if self.ui.capturing().is_some() => Mode::Editing,
            None => Mode::Normal,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        if let Some(a) = keymap::map(key, self.input_mode()) {
            self.handle(a);
        }
    }

    pub fn handle(&mut self, a: Action) {
        if a == Action::Interrupt {
            return self.interrupt();
        }
        if a == Action::Cancel
            && self.ui.popup.is_none()
            && self.ui.capturing().is_none()
            && !self.ui.zoom
            && self.run.log.sticky().is_some()
        {
            // Esc with nothing else to cancel: the error on the message line has been read.
            return self.run.log.mark_read();
        }
        if let Some(popup) = self.ui.popup.as_mut() {
            let ctx = popup_context(&self.run, self.compare.as_ref(), &self.prefs, self.watching);
            let outcome = popup.on_action(a, &ctx);
            return self.popup_outcome(outcome);
        }
        let ctx = pane_context(
            &self.run,
            self.compare.as_ref(),
            self.watching,
            self.stop_requested,
        );
        match self.ui.on_action(a, &ctx) {
            Handled::No => self.global(a),
            Handled::Yes => {}
            Handled::Do(r) => self.pane_request(r),
        }
    }

    /// Ctrl-C: quit (asking while a run is in progress, or about unsaved edits); again while
    /// the question is open, stop (or discard) and quit; again while stopping, leave at once.
    fn interrupt(&mut self) {
        let asking = match &self.ui.popup {
            Some(Popup::Confirm(c)) => Some(c.kind.clone()),
            _ => None,
        };
        let discard_to_quit = ConfirmKind::Discard {
            then: AfterDiscard::Quit,
        };
        if self.quit_after_stop || self.watching {
            // Second interrupt while stopping: leave now, the engine keeps what it wrote.
            // A watching window has nothing to stop.
            self.request(Request::Quit);
        } else if asking == Some(ConfirmKind::Quit) || asking.as_ref() == Some(&discard_to_quit) {
            self.answer(asking.unwrap_or(ConfirmKind::Quit), Answer::Yes);
        } else if !self.run.state.is_active() && self.unsaved_edits() {
            // A value being typed stays open behind the question, so Cancel goes back to it.
            self.ui.popup = None;
            self.confirm(discard_to_quit);
        } else {
            self.ui.popup = None;
            self.ui.cancel_input();
            self.handle(Action::Quit);
        }
    }

    /// The keys no pane took.
    fn global(&mut self, a: Action) {
        if self.watching {
            if let Some(what) = watch_refusal(a) {
                let why = self.watch_refusal(what);
                return self.note(Level::Warn, why);
            }
        }
        match a {
            Action::Start => self.start(),
            Action::PauseResume => match self.run.state {
                RunState::Running => self.send(Command::Pause),
                RunState::Paused if self.run.broken.is_some() => {
                    // The engine would refuse: say what to do instead of asking it.
                    let why = self.broken_advice();
                    self.note(Level::Warn, why)
                }
                RunState::Paused => self.send(Command::Resume),
                RunState::Starting => self.note(Level::Warn, "the run is still starting"),
                _ => self.note(Level::Warn, "no run in progress (s starts one)"),
            },
            Action::Stop if self.run.state.is_active() => self.confirm(ConfirmKind::Stop),
            Action::Stop => self.note(Level::Warn, "no run in progress"),
            Action::EvalNow => match self.run.state {
                RunState::Running | RunState::Paused => {
                    self.send(Command::EvalNow);
                    self.note(Level::Info, "evaluation requested: it runs between steps");
                }
                RunState::Starting => self.note(Level::Warn, "the run is still starting"),
                _ => self.note(
                    Level::Warn,
                    "evaluation needs a run in progress (s starts one)",
                ),
            },
            Action::RollBack => self.roll_back(),
            Action::Pin => self.toggle_pin(),
            Action::Presets => self.open_picker(),
            Action::Save => self.open_save_as(),
            Action::CycleTheme => {
                let notes = self.prefs.cycle_theme();
                self.notes(notes);
            }
            Action::ToggleGpuStrip => {
                self.ui.gpu.shown = !self.ui.gpu.shown;
                let notes = self.prefs.set_gpu_strip(self.ui.gpu.shown);
                self.notes(notes);
            }
            Action::Help => self.ui.popup = Some(Popup::Help(Help::default())),
            Action::Messages => {
                self.run.log.mark_read();
                self.ui.popup = Some(Popup::Messages(Messages::default()))
            }
            Action::Runs => self.open_run_list(),
            Action::Compare => self.toggle_compare(),
            Action::Export => self.export_focused(),
            // The run of a watching window belongs to another process: leaving is harmless.
            Action::Quit if self.run.state.is_active() && !self.watching => {
                self.confirm(ConfirmKind::Quit)
            }
            Action::Quit if self.unsaved_edits() => self.confirm(ConfirmKind::Discard {
                then: AfterDiscard::Quit,
            }),
            Action::Differences => {
                let named = self.run.named.name.clone();
                let named = if named.is_empty() {
                    self.run.label.clone()
                } else {
                    named
                };
                let rows = self.run.differences();
                self.ui.popup = Some(Popup::Differences(Differences::new(&named, rows)));
            }
            Action::Quit => self.request(Request::Quit),
            _ => {}
        }
    }

    /// Carries out what a pane asked for.
    fn pane_request(&mut self, r: PaneRequest) {
        match r {
            PaneRequest::SetLive { key, literal } => {
                self.run.set_pending(key, &literal);
                self.send(Command::Set {
                    key: key.to_string(),
                    value: literal,
                });
            }
            PaneRequest::Settings(p) => self.run.edit_settings(*p),
            PaneRequest::ReadOnly(what) => {
                let why = self.watch_refusal(what);
                self.note(Level::Warn, why);
            }
        }
    }

    /// Carries out what a popup asked for.
    fn popup_outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Stay => {}
            Outcome::Close => self.ui.popup = None,
            Outcome::Answered(kind, answer) => self.answer(kind, answer),
            Outcome::Ask(kind) => self.confirm(kind),
            Outcome::OpenPreset(entry) => self.load_entry(&entry),
            Outcome::Save(name) => self.save_as(&name),
            Outcome::RefreshRuns => self.request(Request::ListRuns),
            Outcome::Watch(name) => {
                self.ui.popup = None;
                self.request(Request::Watch(name));
            }
            Outcome::Compare(name) => {
                self.ui.popup = None;
                self.request(Request::Compare(name));
            }
            Outcome::Note(level, text) => {
                self.ui.popup = None;
                self.note(level, text);
            }
        }
    }

    fn confirm(&mut self, kind: ConfirmKind) {
        self.ui.popup = Some(Popup::Confirm(Confirm::new(kind)));
    }

    fn answer(&mut self, kind: ConfirmKind, answer: Answer) {
        self.ui.popup = None;
        match answer {
            Answer::Cancel => return,
            Answer::Background if kind == ConfirmKind::Quit && self.run.state.is_active() => {
                return self.keep_in_background();
            }
            Answer::Save => return self.open_save_as(),
            Answer::Background | Answer::Yes => {}
        }
        match kind {
            ConfirmKind::Stop => {
                self.stop_requested = true;
                self.send(Command::Stop);
            }
            ConfirmKind::Quit if self.run.state.is_active() => {
                self.stop_requested = true;
                self.quit_after_stop = true;
                self.send(Command::Stop);
                self.note(
                    Level::Info,
                    "stopping the run (checkpoint and summary), then quitting",
                );
            }
            ConfirmKind::Quit => self.request(Request::Quit),
            ConfirmKind::Overwrite { name } => self.save_as(&name),
            ConfirmKind::Resume { name, .. } => self.request(Request::Resume(name)),
            ConfirmKind::RollBack { .. } => self.send(Command::RollBack),
            ConfirmKind::Discard { then } => {
                self.ui.cancel_input();
                match then {
                    AfterDiscard::Quit => self.request(Request::Quit),
                    AfterDiscard::OpenPreset => self.show_picker(),
                }
            }
        }
    }

    // ---- the run of this window ----

    fn start(&mut self) {
        if self.run.state.is_active() {
            self.note(Level::Warn, "a run is already in progress");
            return;
        }
        self.before_start = self.run.state;
        self.run.state = RunState::Starting;
        self.request(Request::StartRun);
        // `bapw` alone reopens what was last trained.
        if self.prefs.last_preset() != Some(self.run.label.as_str()) {
            let notes = self.prefs.remember_preset(&self.run.label);
            self.notes(notes);
        }
    }

    /// The event loop could not spawn the engine.
    pub fn start_failed(&mut self, message: &str) {
        // Nothing started: the screen's run is as it was (a resume that cannot start leaves
        // the run it opened as failed to continue).
        self.run.state = match self.before_start {
            RunState::Idle if self.run.started.is_some() => RunState::Failed,
            s => s,
        };
        self.before_start = RunState::Idle;
        self.note(Level::Error, format!("could not start the run: {message}"));
    }

    /// `bapw resume` on a terminal: the event loop starts the engine on the run's folder.
    pub fn resume_here(&mut self) {
        self.run.state = RunState::Starting;
        self.request(Request::StartRun);
    }

    /// Edits that quitting or opening another preset would lose: settings that differ from
    /// the named preset, or a value being typed.
    fn unsaved_edits(&self) -> bool {
        !self.watching && (self.run.preset_edited || self.ui.capturing().is_some())
    }

    fn toggle_pin(&mut self) {
        let ended = !self.run.state.is_active();
        if self.run.evals.pinned.is_none() && ended {
            // Pinning the last evaluation of an ended run would change nothing on screen (the
            // Δs of the latest one are against the one before): say so rather than claim it.
            let shown = self.run.evals.baseline().map(|(b, _)| b.step);
            let why = match (self.run.evals.latest.as_ref(), shown) {
                (Some(l), Some(b)) => format!(
                    "the run has ended: no later evaluation to compare with step {}; its Δs \
                     stay against step {b}",
                    l.step
                ),
                (Some(_), None) => "the run has ended after its only evaluation".to_string(),
                (None, _) => "no evaluation to pin".to_string(),
            };
            return self.note(Level::Warn, why);
        }
        if self.run.evals.pinned.take().is_some() {
            self.note(
                Level::Info,
                "unpinned: deltas against the previous evaluation",
            );
        } else if let Some(latest) = self.run.evals.latest.clone() {
            let step = latest.step;
            self.run.evals.pinned = Some(latest);
            self.note(
                Level::Info,
                format!("pinned the evaluation of step {step}: the next ones show Δ against it"),
            );
        } else {
            self.note(Level::Warn, "no evaluation to pin yet (e evaluates now)");
        }
    }

    /// "Keep running in the background": stop at a checkpoint first (the engine is a thread
    /// of this process), then [`Request::Background`] once it has.
    pub fn keep_in_background(&mut self) {
        self.stop_requested = true;
        self.quit_after_stop = true;
        self.background_after_stop = true;
        self.send(Command::Stop);
        self.note(
            Level::Info,
            "stopping at a checkpoint to continue the run in a background process",
        );
    }

    /// The run ended while being handed over.
    fn handed_over(&mut self, state: EndState) {
        if state == EndState::Stopped {
            self.request(Request::Background);
        } else {
            self.note(
                Level::Warn,
                "the run ended before it could be handed over: nothing to continue",
            );
            self.request(Request::Quit);
        }
    }
}

/// What `a` would do that a window which only watches cannot, or None when it can.
fn watch_refusal(a: Action) -> Option<&'static str> {
    Some(match a {
        Action::Start => "starting a run",
        Action::PauseResume => "pause and resume",
        Action::Stop => "stopping",
        Action::EvalNow => "evaluating",
        Action::RollBack => "rolling back",
        Action::Presets => "opening a preset",
        _ => return None,
    })
}
