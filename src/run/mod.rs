//! The run folder, one owner for its layout: `preset.toml` (the settings the run started
//! with), `events.jsonl` (everything it reported, see [`log`]), `checkpoints/` (see
//! [`checkpoint`]), `summary.json` (how it ended), `lock` (held by the process writing it, see
//! [`lock`]) and `headless.log` (the output of a run continued in the background). Every
//! command that reads or writes a run goes through [`RunDir`]; nothing else names these files.
pub mod checkpoint;
pub mod follow;
pub mod list;
pub mod lock;
pub mod log;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::paths;
use crate::config::preset::Preset;
use crate::events::{read_events, Event};

pub use checkpoint::{Checkpoints, TrainState};
pub use lock::RunLock;
pub use log::EventLog;

const PRESET: &str = "preset.toml";
const SUMMARY: &str = "summary.json";
const CHECKPOINTS: &str = "checkpoints";

/// One run's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The event log's file name (a follower of a run being created watches for it).
    pub const EVENTS: &'static str = "events.jsonl";
    /// Where a run continued in the background writes its progress lines.
    pub const HEADLESS_LOG: &'static str = "headless.log";

    /// Whether `path` is a run folder (it holds an event log).
    pub fn is_run(path: &Path) -> bool {
        path.join(Self::EVENTS).exists()
    }

    /// An existing run folder.
    pub fn open(path: &Path) -> Result<RunDir> {
        if !Self::is_run(path) {
            bail!(
                "{} is not a run folder (no {})",
                path.display(),
                Self::EVENTS
            );
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// A run argument: a path to a run folder, or a name under `runs_dir`.
    pub fn resolve(runs_dir: &Path, run: &str) -> Result<RunDir> {
        let as_path = Path::new(run);
        if Self::is_run(as_path) {
            return Self::open(as_path);
        }
        paths::check_name("run", run)?;
        let dir = runs_dir.join(run);
        if Self::is_run(&dir) {
            Self::open(&dir)
        } else {
            bail!("no run {run:?} in {} (see `bapw runs`)", runs_dir.display())
        }
    }

    /// Makes the folder of a new run `name` under `runs_dir` with the settings it starts
    /// with; refuses a folder that already holds a run.
    pub fn create(runs_dir: &Path, name: &str, preset: &Preset) -> Result<RunDir> {
        paths::check_name("run", name)?;
        let path = runs_dir.join(name);
        if Self::is_run(&path) {
            bail!(
                "run folder {} already exists: pick another --name or `bapw resume {}`",
                path.display(),
                name
            );
        }
        std::fs::create_dir_all(path.join(CHECKPOINTS))
            .with_context(|| format!("creating {}", path.display()))?;
        paths::write_atomic(&path.join(PRESET), preset.to_toml().as_bytes())?;
        Ok(RunDir { path })
    }

    /// Every run folder under `runs_dir`, by name.
    pub fn list(runs_dir: &Path) -> Vec<RunDir> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| Self::is_run(p))
            .collect();
        dirs.sort();
        dirs.into_iter().map(|path| RunDir { path }).collect()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's name (what `bapw runs` lists and `bapw resume NAME` takes).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    pub fn events_path(&self) -> PathBuf {
        self.path.join(Self::EVENTS)
    }

    pub fn preset_path(&self) -> PathBuf {
        self.path.join(PRESET)
    }

    pub fn summary_path(&self) -> PathBuf {
        self.path.join(SUMMARY)
    }

    /// Where a run continued in the background writes its progress lines.
    pub fn headless_log_path(&self) -> PathBuf {
        self.path.join(Self::HEADLESS_LOG)
    }

    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(self.path.join(CHECKPOINTS))
    }

    /// The settings the run started with (live changes are in its events).
    pub fn read_preset(&self) -> Result<Preset> {
        let file = self.preset_path();
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok(Preset::from_toml_str(
            &file.display().to_string(),
            &text,
            &[],
        )?)
    }

    pub fn read_events(&self) -> Result<Vec<Event>> {
        read_events(&self.events_path())
    }

    /// The log, opened for appending.
    pub fn open_log(&self) -> Result<EventLog> {
        EventLog::open(&self.events_path())
    }

    /// Replaces the log with `events` (a resume cuts it back to its checkpoint).
    pub fn rewrite_log(&self, events: &[Event]) -> Result<()> {
        let mut text = String::new();
        for ev in events {
            text.push_str(&serde_json::to_string(ev)?);
            text.push('\n');
        }
        paths::write_atomic(&self.events_path(), text.as_bytes())
    }

    pub fn write_summary(&self, summary: &serde_json::Value) -> Result<()> {
        checkpoint::write_json_atomic(&self.summary_path(), summary)
    }

    /// Takes the folder for this process: fails when another process writes it.
    pub fn lock(&self) -> Result<RunLock> {
        RunLock::acquire(&self.path)
    }

    /// Whether some process writes the run now.
    pub fn is_running(&self) -> bool {
        RunLock::is_held(&self.path)
    }
}

/// The folder name of a new run of `preset` without `--name`: `<preset>-<timestamp>`, the
/// name kept to letters, digits, `-`, `_` and `.` (`mnist-bap-quick (edited)` gives
/// `mnist-bap-quick-edited-20261203-101617`).
pub fn default_name(preset: &str) -> String {
    let mut stem = String::new();
    for c in preset.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            stem.push(c);
        } else if !stem.is_empty() && !stem.ends_with('-') {
            stem.push('-');
        }
    }
    let stem = stem.trim_matches(['-', '.']);
    let stem = if stem.is_empty() { "run" } else { stem };
    format!("{stem}-{}", timestamp())
}

/// Short, sortable, filesystem-safe timestamp (UTC): `20261125-095000`.
pub fn timestamp() -> String {
    let s = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    s.replace(['-', ':'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_keep_to_safe_characters() {
        let n = default_name("mnist-bap-quick (edited)");
        assert!(n.starts_with("mnist-bap-quick-edited-2"), "{n}");
        assert!(paths::check_name("run", &n).is_ok());
        assert!(default_name("").starts_with("run-"));
        assert!(
            default_name("../x").starts_with("x-"),
            "{}",
            default_name("../x")
        );
    }
}
