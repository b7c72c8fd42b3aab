//! File work the UI asks for (reading the runs folder, loading a run to compare, exporting a
//! pane) on short-lived threads: a long run's `events.jsonl` takes a while to parse, and the
//! UI thread must keep drawing. The event loop collects finished jobs on its tick and hands
//! each result to the app.
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::Result;

use crate::run::list::{self, RunRow};

use super::app::App;
use super::keymap::Pane;
use super::model::RunModel;
use super::panes;
use super::run_folder;

/// What a finished job hands back.
pub enum Done {
    Runs {
        dir: PathBuf,
        rows: Vec<Result<RunRow, String>>,
    },
    Compared(Result<Box<RunModel>, String>),
    Exported {
        pane: Pane,
        written: Result<Vec<PathBuf>, String>,
    },
}

impl Done {
    /// Folds the result into the app.
    pub fn apply(self, app: &mut App) {
        match self {
            Done::Runs { dir, rows } => app.runs_listed(&dir.display().to_string(), rows),
            Done::Compared(c) => app.compare_loaded(c.map(|c| *c)),
            Done::Exported { pane, written } => app.exported(pane, written),
        }
    }
}

#[derive(Default)]
pub struct Jobs {
    running: Vec<JoinHandle<Done>>,
}

impl Jobs {
    fn spawn(&mut self, job: impl FnOnce() -> Done + Send + 'static) {
        self.running.push(std::thread::spawn(job));
    }

    pub fn list_runs(&mut self, runs_dir: PathBuf) {
        self.spawn(move || {
            let rows = list::list(&runs_dir)
                .into_iter()
                .map(|r| r.map_err(|e| format!("{e:#}")))
                .collect();
            Done::Runs {
                dir: runs_dir,
                rows,
            }
        });
    }

    pub fn compare(&mut self, run_dir: PathBuf) {
        self.spawn(move || {
            Done::Compared(
                load_compared(&run_dir)
                    .map(Box::new)
                    .map_err(|e| format!("{e:#}")),
            )
        });
    }

    pub fn export(&mut self, pane: Pane, run_dir: PathBuf) {
        self.spawn(move || Done::Exported {
            pane,
            written: export_pane(pane, &run_dir).map_err(|e| format!("{e:#}")),
        });
    }

    /// The jobs that have ended, oldest first.
    pub fn finished(&mut self) -> Vec<Done> {
        let (done, running): (Vec<_>, Vec<_>) =
            self.running.drain(..).partition(|h| h.is_finished());
        self.running = running;
        done.into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Done::Compared(Err("internal error: a background job panicked".into()))
                })
            })
            .collect()
    }
}

/// A run replayed from its folder, as its own window would show it.
fn load_compared(run_dir: &Path) -> Result<RunModel> {
    let events = run_folder::events(run_dir)?;
    Ok(RunModel::replay(
        run_folder::preset(run_dir)?,
        &run_folder::name(run_dir),
        &events,
    ))
}

/// Writes `pane`'s tables (CSV) and its plot (SVG) into `<run_dir>/export`.
pub fn export_pane(pane: Pane, run_dir: &Path) -> Result<Vec<PathBuf>> {
    run_folder::export(run_dir, panes::exports(pane))
}
