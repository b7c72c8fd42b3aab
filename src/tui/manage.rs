//! Run management: watching a run another process writes, the run list (watch, resume,
//! compare), exporting a pane, and handing this window's run to a background process on
//! quit. Like `control.rs`, nothing here touches files or processes: the runtime carries out
//! the [`Request`]s and reports back through the `*_loaded`/`*_listed` methods.
use std::path::PathBuf;

use crate::events::EndState;
use crate::run::list::RunRow;
use crate::train::Command;

use super::app::{App, Level, Pane, Request, RunState};
use super::compare::Compared;
use super::keymap::Action;
use super::popups::{Confirm, ConfirmKind, Popup};
use super::runlist::{self, RunList};

impl App {
    fn run_name(&self) -> String {
        self.run
            .as_ref()
            .map_or_else(|| "the run".to_string(), |r| r.run_id.clone())
    }

    /// Why `a` cannot be done in a window that only watches, or None when it can.
    pub(super) fn watch_refusal(&self, a: Action) -> Option<String> {
        let what = match a {
            Action::Start => "starting a run",
            Action::PauseResume => "pause and resume",
            Action::Stop => "stopping",
            Action::EvalNow => "evaluating",
            Action::Presets => "opening a preset",
            Action::Enter if self.ui.focus == Pane::Schedule => "editing settings",
            _ => return None,
        };
        let name = self.run_name();
        Some(if self.state.is_active() {
            format!(
                "watching {name}: {what} belongs to the bapw process that runs it \
                 (q leaves this view; the run goes on)"
            )
        } else {
            format!(
                "watching {name} ({}): {what} needs a run of this window; r lists the runs \
                 (Enter resumes a stopped one here)",
                self.state.label()
            )
        })
    }

    /// `r`: the run list, filled in when the runtime has read the runs folder.
    pub(super) fn open_run_list(&mut self) {
        self.ui.popup = Some(Popup::Runs(RunList::loading()));
        self.request(Request::ListRuns);
    }

    /// `c`: unpins the compared run, or opens the run list to pick one.
    pub(super) fn toggle_compare(&mut self) {
        match self.compare.take() {
            Some(c) => self.note(Level::Info, format!("no longer comparing with {}", c.name)),
            None => {
                self.open_run_list();
                self.note(Level::Info, "pick a run and press c to compare with it");
            }
        }
    }

    /// `E`: the focused pane's tables and plot, into the run's `export/` folder.
    pub(super) fn export_focused(&mut self) {
        let Some(run) = &self.run else {
            self.note(Level::Warn, "nothing to export: no run in this window yet");
            return;
        };
        let run_dir = PathBuf::from(&run.run_dir);
        let pane = self.ui.focus;
        self.request(Request::Export { pane, run_dir });
    }

    /// The runtime has read the runs folder.
    pub fn runs_listed(&mut self, dir: &str, rows: Vec<Result<RunRow, String>>) {
        let Some(Popup::Runs(list)) = &mut self.ui.popup else {
            return;
        };
        let first = list.rows.is_none();
        list.dir = dir.to_string();
        list.rows = Some(rows);
        // Names end in a timestamp, so the newest run is last: start there.
        list.selected = if first {
            list.len().saturating_sub(1)
        } else {
            list.selected.min(list.len().saturating_sub(1))
        };
    }

    pub(super) fn handle_run_list(&mut self, a: Action) {
        let Some(Popup::Runs(list)) = &mut self.ui.popup else {
            return;
        };
        let last = list.len().saturating_sub(1);
        match a {
            Action::Up => list.selected = list.selected.saturating_sub(1),
            Action::Down => list.selected = (list.selected + 1).min(last),
            Action::PageUp => list.selected = list.selected.saturating_sub(10),
            Action::PageDown => list.selected = (list.selected + 10).min(last),
            Action::Home => list.selected = 0,
            Action::End => list.selected = last,
            Action::Enter => {
                if let Some(row) = list.selected_row().cloned() {
                    self.choose_run(&row);
                }
            }
            Action::Input('c') => {
                if let Some(row) = list.selected_row().cloned() {
                    self.pick_compare(&row);
                }
            }
            Action::Input('r') => self.open_run_list(),
            Action::Cancel | Action::No => self.ui.popup = None,
            _ => {}
        }
    }

    /// This window's own run, in progress.
    fn own_run_active(&self) -> bool {
        !self.watching && self.state.is_active()
    }

    fn is_shown(&self, row: &RunRow) -> bool {
        self.run.as_ref().is_some_and(|r| r.run_id == row.name)
    }

    /// Enter in the run list: watch the run, or offer to resume a stopped one (the watched
    /// one included).
    fn choose_run(&mut self, row: &RunRow) {
        if self.own_run_active() {
            self.ui.popup = None;
            if self.is_shown(row) {
                self.note(Level::Info, format!("{} is the run on screen", row.name));
            } else {
                self.note(
                    Level::Warn,
                    "a run is in progress in this window: stop it (x) before watching or \
                     resuming another; c compares with one",
                );
            }
            return;
        }
        if runlist::resumable(&row.state) {
            self.ui.popup = Some(Popup::Confirm(Confirm::new(ConfirmKind::Resume {
                name: row.name.clone(),
                state: row.state.clone(),
                step: row.step,
                total: row.total_steps,
            })));
        } else if self.watching && self.is_shown(row) {
            self.ui.popup = None;
            self.note(Level::Info, format!("{} is the run on screen", row.name));
        } else {
            self.ui.popup = None;
            self.request(Request::Watch(row.name.clone()));
        }
    }

    fn pick_compare(&mut self, row: &RunRow) {
        self.ui.popup = None;
        if self.is_shown(row) {
            self.note(
                Level::Warn,
                format!("{} is the run on screen: pick another", row.name),
            );
            return;
        }
        self.request(Request::Compare(row.name.clone()));
    }

    /// The runtime has read the run chosen for comparison.
    pub fn compare_loaded(&mut self, c: Result<Compared, String>) {
        match c {
            Ok(c) => {
                let evals = if c.eval.is_some() {
                    "its robustness in a column of Robustness"
                } else {
                    "no evaluation of it yet"
                };
                self.note(
                    Level::Info,
                    format!(
                        "comparing with {} ({}, {}, step {}/{}): dim curves in Loss & sparsity, \
                         {evals}; c again unpins",
                        c.name,
                        c.mode,
                        c.state.label(),
                        c.steps_done,
                        c.total_steps
                    ),
                );
                self.compare = Some(c);
            }
            Err(e) => self.note(Level::Error, format!("cannot compare: {e}")),
        }
    }

    /// The runtime has written the export of `pane`.
    pub fn exported(&mut self, pane: Pane, written: Result<Vec<PathBuf>, String>) {
        match written {
            Ok(paths) => {
                let dir = paths
                    .first()
                    .and_then(|p| p.parent())
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                let names: Vec<String> = paths
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect();
                self.note(
                    Level::Info,
                    format!("exported {} to {dir}/: {}", pane.title(), names.join(" ")),
                );
            }
            Err(e) => self.note(Level::Error, format!("export failed: {e}")),
        }
    }

    /// A watched run's writer has gone without a `finished` event.
    pub fn writer_gone(&mut self) {
        if !(self.watching && self.state.is_active()) {
            return;
        }
        self.state = RunState::Interrupted;
        let name = self.run_name();
        self.note(
            Level::Warn,
            format!(
                "{name} was interrupted: its process ended without finishing it; r lists the \
                 runs (Enter resumes it here)"
            ),
        );
    }

    /// `bapw resume` on a terminal: the runtime starts the engine on the run's folder.
    pub fn resume_here(&mut self) {
        self.state = RunState::Starting;
        self.request(Request::StartRun);
    }

    /// "Keep running in the background": stop at a checkpoint first (the engine is a thread
    /// of this process), then [`Request::Background`] once it has.
    pub(super) fn keep_in_background(&mut self) {
        self.stop_requested = true;
        self.quit_after_stop = true;
        self.background_after_stop = true;
        self.request(Request::Engine(Command::Stop));
        self.note(
            Level::Info,
            "stopping at a checkpoint to continue the run in a background process",
        );
    }

    /// The run ended while being handed over.
    pub(super) fn handed_over(&mut self, state: EndState) {
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
