//! Run folders as a user sees them: resolve a name, list them with state and headline numbers.
use crate::train::events::{read_events, Event};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::train::run::RunLock;

/// A run argument: a path to a run folder, or a name under `runs_dir`.
pub fn resolve(runs_dir: &Path, run: &str) -> Result<PathBuf> {
    let as_path = PathBuf::from(run);
    if as_path.join("events.jsonl").exists() {
        return Ok(as_path);
    }
    crate::config::paths::check_name("run", run)?;
    let dir = runs_dir.join(run);
    if dir.join("events.jsonl").exists() {
        Ok(dir)
    } else {
        bail!("no run {run:?} in {} (see `bapw runs`)", runs_dir.display())
    }
}

/// One row of `bapw runs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    pub name: String,
    /// running, finished, stopped, failed or interrupted (killed without a final event).
    pub state: String,
    pub preset: String,
    pub mode: String,
    pub step: usize,
    pub total_steps: usize,
    pub sparsity: Option<f64>,
    pub test_acc: Option<f64>,
    /// Mean AUC over the attacks of the last evaluation.
    pub auc: Option<f64>,
}

pub fn summarize(dir: &Path) -> Result<RunRow> {
    let events = read_events(&dir.join("events.jsonl"))?;
    Ok(summarize_events(dir, &events))
}

/// The row of the run in `dir` whose log holds `events` (for callers that read it anyway).
pub fn summarize_events(dir: &Path, events: &[Event]) -> RunRow {
    let mut row = RunRow {
        name: dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        state: "interrupted".into(),
        preset: String::new(),
        mode: String::new(),
        step: 0,
        total_steps: 0,
        sparsity: None,
        test_acc: None,
        auc: None,
    };
    for ev in events {
        match ev {
            Event::RunStarted(r) => {
                row.preset = r.preset.clone();
                row.mode = r.mode.clone();
                row.total_steps = r.total_steps;
            }
            Event::Step(s) => {
                row.step = s.step + 1;
                row.sparsity = Some(s.sparsity);
            }
            Event::EpochEnd(e) => row.test_acc = Some(e.test_acc),
            Event::Eval(e) if !e.curves.is_empty() => row.auc = Some(e.mean_auc()),
            Event::Finished(f) => {
                row.state = f.state.as_str().into();
                if f.sparsity.is_finite() {
                    row.sparsity = Some(f.sparsity);
                }
                if f.test_acc.is_finite() {
                    row.test_acc = Some(f.test_acc);
                }
            }
            _ => {}
        }
    }
    if RunLock::is_held(dir) {
        row.state = "running".into();
    }
    row
}

/// Every run folder under `runs_dir`, newest name last.
pub fn list(runs_dir: &Path) -> Vec<Result<RunRow>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("events.jsonl").exists())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| summarize(d)).collect()
}

pub fn format_row(r: &RunRow) -> String {
    let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
    format!(
        "{:<36} {:<11} {:<18} {:<11} {:>7}/{:<7} {:>8} {:>8} {:>8}",
        r.name,
        r.state,
        r.preset,
        r.mode,
        r.step,
        r.total_steps,
        f(r.sparsity),
        f(r.test_acc),
        f(r.auc)
    )
}

pub fn header() -> String {
    format!(
        "{:<36} {:<11} {:<18} {:<11} {:>15} {:>8} {:>8} {:>8}",
        "RUN", "STATE", "PRESET", "MODE", "STEP", "SPARSITY", "TEST_ACC", "AUC"
    )
}
