//! The TUI's one door to a run folder: its settings (`preset.toml`), its event log (read whole
//! or followed as it grows), whether a process still holds it (the run lock), the log of a
//! background process, and the export of a pane. The rest of the TUI names a run by its folder
//! and comes here for what is in it, so the folder's layout is known in this one place.
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::panes::pane::{Exports, Plot};
use crate::config::paths;
use crate::config::preset::Preset;
use crate::events::Event;
use crate::export;
use crate::run::follow::Follower;
use crate::run::RunDir;

/// The folder's name, which is the run's id.
pub fn name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// How `bapw watch` / `bapw resume` name the run in `dir`: by name in the default runs
/// folder, by path elsewhere.
pub fn cli_arg(dir: &Path) -> String {
    if paths::default_runs_dir().ok().as_deref() == dir.parent() {
        name(dir)
    } else {
        dir.display().to_string()
    }
}

/// The run's settings as it started (`preset.toml`).
pub fn preset(dir: &Path) -> Result<Preset> {
    RunDir::open(dir)?.read_preset()
}

/// Every event the run has logged.
pub fn events(dir: &Path) -> Result<Vec<Event>> {
    RunDir::open(dir)?.read_events()
}

/// Follows the run's log as its writer appends to it.
pub fn follow(dir: &Path) -> Follower {
    Follower::new(&dir.join(RunDir::EVENTS))
}

/// Whether a process holds the run (trains or resumes it).
pub fn writer_alive(dir: &Path) -> bool {
    RunDir::open(dir).is_ok_and(|r| r.is_running())
}

/// The step of the run's newest periodic checkpoint on disk.
pub fn last_checkpoint(dir: &Path) -> Option<usize> {
    RunDir::open(dir).ok()?.checkpoints().latest()
}

/// Where a background process writes its progress lines and errors.
pub fn headless_log(dir: &Path) -> PathBuf {
    dir.join(RunDir::HEADLESS_LOG)
}

/// Writes a pane's tables (CSV) and plot (SVG) into `<dir>/export`, with `bapw export`'s code.
pub fn export(dir: &Path, what: Exports) -> Result<Vec<PathBuf>> {
    let events = events(dir)?;
    let out = dir.join("export");
    let mut written = export::write_some_tables(&events, what.tables, export::Format::Csv, &out)?;
    match what.plot {
        Plot::LossSparsity => written.extend(export::plot_loss_sparsity(&events, &out)?),
        Plot::Budget => written.extend(export::plot_budget(&events, &out)?),
        Plot::Robustness => written.extend(export::plot_robustness(&events, &out)?),
    }
    Ok(written)
}
