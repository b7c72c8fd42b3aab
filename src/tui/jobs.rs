//! File work the UI asks for (reading the runs folder, loading a run to compare, exporting a
//! pane) on short-lived threads: a long run's `events.jsonl` takes a while to parse, and the
//! UI thread must keep drawing. The runtime collects finished jobs on its tick.
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use crate::config::preset::Preset;
use crate::events::{read_events, Event};
use crate::export::{self, Table};
use crate::run::list::{self as runs, RunRow};

use super::app::{App, Pane};
use super::compare::Compared;

/// What a finished job hands back.
pub enum Done {
    Runs {
        dir: PathBuf,
        rows: Vec<Result<RunRow, String>>,
    },
    Compared(Result<Box<Compared>, String>),
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
            let rows = runs::list(&runs_dir)
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

/// A run's settings as it started (`preset.toml`).
pub fn run_preset(run_dir: &Path) -> Result<Preset> {
    let file = run_dir.join("preset.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    Ok(Preset::from_toml_str(
        &file.display().to_string(),
        &text,
        &[],
    )?)
}

fn run_name(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string())
}

fn load_compared(run_dir: &Path) -> Result<Compared> {
    let events = read_events(&run_dir.join("events.jsonl"))?;
    Ok(Compared::from_events(
        &run_name(run_dir),
        run_preset(run_dir)?,
        &events,
    ))
}

/// The tables and plots behind each pane.
fn pane_exports(pane: Pane) -> &'static [Table] {
    match pane {
        Pane::Schedule => &[Table::Steps],
        Pane::Loss => &[Table::Steps, Table::Epochs],
        Pane::Budget => &[Table::Budget],
        Pane::Robustness => &[Table::Robustness],
    }
}

/// Writes `pane`'s tables (CSV) and its plot (SVG) into `<run_dir>/export`.
pub fn export_pane(pane: Pane, run_dir: &Path) -> Result<Vec<PathBuf>> {
    let events: Vec<Event> = read_events(&run_dir.join("events.jsonl"))?;
    let out = run_dir.join("export");
    let mut written =
        export::write_some_tables(&events, pane_exports(pane), export::Format::Csv, &out)?;
    match pane {
        Pane::Schedule | Pane::Loss => written.extend(export::plot_loss_sparsity(&events, &out)?),
        Pane::Budget => written.extend(export::plot_budget(&events, &out)?),
        Pane::Robustness => written.extend(export::plot_robustness(&events, &out)?),
    }
    Ok(written)
}
