//! One writer per run folder: an advisory lock on `<run>/lock`, holding the writer's pid.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// An exclusive lock on a run folder, held while a process writes it.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Fails when another process holds the run.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        let path = run_dir.join("lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // std's advisory flock: released by the OS when the process dies, even on SIGKILL.
        match file.try_lock() {
            Ok(()) => {}
            Err(_) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                anyhow::bail!(
                    "run {} is being written by another bapw process{}",
                    run_dir.display(),
                    holder
                        .trim()
                        .parse::<u32>()
                        .map(|p| format!(" (pid {p})"))
                        .unwrap_or_default()
                );
            }
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        Ok(RunLock { _file: file })
    }

    /// Whether some process holds the lock now (for `bapw runs`).
    pub fn is_held(run_dir: &Path) -> bool {
        let Ok(file) = File::open(run_dir.join("lock")) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}
