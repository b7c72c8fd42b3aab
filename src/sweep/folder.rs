//! The sweep folder's format, read by every part of `bapw sweep`, `bapw report` and the sweep
//! view: `plan.json` (the expanded grid), where each planned run's folder and log live, and
//! the state a run folder is in. It imports nothing else of `sweep` but the grid types, so
//! the runner, the report and the views depend on it and not on each other.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::spec::{distinct_sorted, PlannedRun, ReportSpec};
use crate::run::RunDir;

/// `plan.json`: the expanded grid, written when a sweep starts and read by the report and the
/// TUI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub base: String,
    pub report: ReportSpec,
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    /// Every final sparsity of the grid, ascending.
    pub fn sparsities(&self) -> Vec<f64> {
        distinct_sorted(self.runs.iter().map(|r| r.sparsity))
    }

    pub fn load(sweep_dir: &Path) -> Result<Plan> {
        let p = sweep_dir.join("plan.json");
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "reading {} (is {} a sweep folder?)",
                p.display(),
                sweep_dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }
}

/// Where a planned run stands, read from its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Pending,
    Running,
    Finished,
    /// Stopped or killed; `true` when a checkpoint lets it resume.
    Interrupted(bool),
    Failed,
}

impl RunStatus {
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Interrupted(_) => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

/// A folder `bapw sweep` made (it has a plan).
pub fn is_sweep_dir(dir: &Path) -> bool {
    dir.join("plan.json").is_file()
}

/// A sweep argument: a sweep folder, or the name of one under `<data dir>/sweeps`.
pub fn resolve_sweep(arg: &Path) -> Option<PathBuf> {
    if is_sweep_dir(arg) {
        return Some(arg.to_path_buf());
    }
    let name = arg.to_str()?;
    crate::config::paths::check_name("sweep", name).ok()?;
    let dir = crate::config::paths::data_dir()
        .ok()?
        .join("sweeps")
        .join(name);
    is_sweep_dir(&dir).then_some(dir)
}

/// The folder of the planned run `id`.
pub fn run_dir(sweep_dir: &Path, id: &str) -> PathBuf {
    sweep_dir.join("runs").join(id)
}

/// Where the output of the process that trains run `id` goes.
pub fn log_path(sweep_dir: &Path, id: &str) -> PathBuf {
    sweep_dir.join("logs").join(format!("{id}.log"))
}

/// The state of a run folder, from its event log.
pub fn status(dir: &Path) -> RunStatus {
    let Ok(run) = RunDir::open(dir) else {
        return RunStatus::Pending;
    };
    match crate::run::list::summarize(&run) {
        Ok(row) => status_of(dir, &row.state),
        Err(_) => RunStatus::Interrupted(has_checkpoint(dir)),
    }
}

/// The status of a run folder whose `bapw runs` state is `state`.
pub fn status_of(dir: &Path, state: &str) -> RunStatus {
    match state {
        "finished" => RunStatus::Finished,
        "running" => RunStatus::Running,
        "failed" => RunStatus::Failed,
        _ => RunStatus::Interrupted(has_checkpoint(dir)),
    }
}

fn has_checkpoint(dir: &Path) -> bool {
    RunDir::open(dir).is_ok_and(|run| run.checkpoints().latest().is_some())
}
