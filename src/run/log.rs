//! `events.jsonl`: the run's event stream, one JSON object per line, appended as the engine
//! emits. (The format itself, and reading it back, is `train::events`.)
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::events::Event;

/// Appends events to `events.jsonl`, one JSON object per line, flushed per line so a watcher
/// (or a crash) sees whole lines only.
pub struct EventLog {
    file: File,
    path: PathBuf,
}

impl EventLog {
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(EventLog {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append(&mut self, ev: &Event) -> Result<()> {
        let mut line = serde_json::to_string(ev).expect("events serialise");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}
