//! Runs other than this window's own: watching one another process writes (its keys refused,
//! a writer gone), the run list, a run pinned for comparison, and exporting a pane of the run
//! on screen. The event loop reads the files and reports back through the `pub` methods here.
use std::path::PathBuf;

use super::{App, Request};
use crate::run::list::RunRow;
use crate::tui::keymap::Pane;
use crate::tui::model::{Level, RunModel, RunState};
use crate::tui::popups::run_list::RunList;
use crate::tui::popups::Popup;

impl App {
    pub(super) fn run_name(&self) -> String {
        self.run
            .started
            .as_ref()
            .map_or_else(|| "the run".to_string(), |r| r.run_id.clone())
    }

    /// Why `what` cannot be done in a window that only watches.
    pub(super) fn watch_refusal(&self, what: &str) -> String {
        let name = self.run_name();
        if self.run.state.is_active() {
            format!(
                "watching {name}: {what} belongs to the bapw process that runs it \
                 (q leaves this view; the run goes on)"
            )
        } else {
            format!(
                "watching {name} ({}): {what} needs a run of this window; r lists the runs \
                 (Enter resumes a stopped one here)",
                self.run.state.label()
            )
        }
    }

    /// `r`: the run list, filled in when the event loop has read the runs folder.
    pub(super) fn open_run_list(&mut self) {
        self.ui.popup = Some(Popup::Runs(RunList::loading()));
        self.request(Request::ListRuns);
    }

    /// The event loop has read the runs folder.
    pub fn runs_listed(&mut self, dir: &str, rows: Vec<Result<RunRow, String>>) {
        if let Some(Popup::Runs(list)) = &mut self.ui.popup {
            list.listed(dir, rows);
        }
    }

    /// `c`: unpins the compared run, or opens the run list to pick one.
    pub(super) fn toggle_compare(&mut self) {
        match self.compare.take() {
            Some(c) => self.note(Level::Info, format!("no longer comparing with {}", c.label)),
            None => {
                self.open_run_list();
                self.note(Level::Info, "pick a run and press c to compare with it");
            }
        }
    }

    /// The event loop has read the run chosen for comparison.
    pub fn compare_loaded(&mut self, c: Result<RunModel, String>) {
        match c {
            Ok(c) => {
                let evals = if c.evals.latest.is_some() {
                    "its robustness in a column of Robustness"
                } else {
                    "no evaluation of it yet"
                };
                self.note(
                    Level::Info,
                    format!(
                        "comparing with {} ({}, {}, step {}/{}): dim curves in Loss & sparsity, \
                         {evals}; c again unpins",
                        c.label,
                        c.mode(),
                        c.state.label(),
                        c.progress.steps_done,
                        c.total_steps()
                    ),
                );
                self.compare = Some(c);
            }
            Err(e) => self.note(Level::Error, format!("cannot compare: {e}")),
        }
    }

    /// `E`: the focused pane's tables and plot, into the run's `export/` folder.
    pub(super) fn export_focused(&mut self) {
        let Some(run) = &self.run.started else {
            self.note(Level::Warn, "nothing to export: no run in this window yet");
            return;
        };
        let run_dir = PathBuf::from(&run.run_dir);
        let pane = self.ui.focus;
        // A table of headers only is not an export: say why there is nothing.
        if pane == Pane::Budget && self.run.budget.events == 0 {
            let why = match self.run.preset.train.mode {
                crate::config::preset::Mode::Natural => {
                    "nothing to export: natural training has no adversarial budgets"
                }
                _ => "nothing to export: no budget has been recorded yet",
            };
            self.note(Level::Warn, why);
            return;
        }
        self.request(Request::Export { pane, run_dir });
    }

    /// The event loop has written the export of `pane`.
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
                let title = self.ui.pane(pane).title();
                self.note(
                    Level::Info,
                    format!("exported {title} to {dir}/: {}", names.join(" ")),
                );
            }
            Err(e) => self.note(Level::Error, format!("export failed: {e}")),
        }
    }

    /// A watched run's writer has gone without a `finished` event.
    pub fn writer_gone(&mut self) {
        if !(self.watching && self.run.state.is_active()) {
            return;
        }
        self.run.state = RunState::Interrupted;
        let name = self.run_name();
        self.note(
            Level::Warn,
            format!(
                "{name} was interrupted: its process ended without finishing it; r lists the \
                 runs (Enter resumes it here)"
            ),
        );
    }
}
