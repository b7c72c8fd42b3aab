//! The TUI's state. Engine events change it only through [`App::apply`], so replaying a run's
//! `events.jsonl` into a fresh `App` rebuilds every pane exactly (what `bapw watch` needs).
//! Keys change only the view and the settings being edited (see `control.rs`); what the
//! engine must do comes back as [`Request`]s for the runtime loop to carry out.
use crate::train::events::{Event, Finished};
use std::path::PathBuf;

use crate::config::preset::Preset;
use crate::config::settings::Settings;
use crate::config::theme::Theme;
use crate::train::Command;

use super::components::pane::Context;
use super::layout::{self, Ui};
use super::model::RunModel;
use super::popups;
use super::store::Store;
use super::style::Styles;

pub use super::keymap::Pane;
pub use super::model::{Level, RunState, SeriesId};

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

pub struct App {
    /// The run on screen (this window's or a watched one), or the settings before a run.
    pub run: RunModel,
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
    pub compare: Option<RunModel>,
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
    pub fn new(preset: Preset, label: &str, store: Store, theme: Option<&str>) -> App {
        let (settings, settings_note) = store.settings();
        let (themes, theme_errors) = store.themes();
        let mut app = App {
            run: RunModel::new(preset, label),
            stop_requested: false,
            quit_after_stop: false,
            background_after_stop: false,
            watching: false,
            compare: None,
            ui: Ui::default(),
            store,
            settings,
            themes,
            theme_idx: 0,
            monochrome: false,
            requests: Vec::new(),
        };
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

    /// What the panes, the header and the footer draw from.
    pub(super) fn context(&self) -> Context<'_> {
        Context {
            run: &self.run,
            compare: self.compare.as_ref(),
            watching: self.watching,
            stop_requested: self.stop_requested,
        }
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut ratatui::Frame) {
        let theme = self.theme();
        let s = Styles::new(&theme);
        layout::render(frame, &self.ui, &self.context(), &s);
        popups::render(frame, self, &s);
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
        self.run.note(level, text);
    }

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
        let log = std::mem::take(&mut self.run.log);
        self.run = RunModel::new(preset, label);
        self.run.log = log;
        self.stop_requested = false;
        self.quit_after_stop = false;
        self.background_after_stop = false;
        self.watching = watching;
        self.ui.popup = None;
        self.ui.reset_panes();
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
