//! The run folder: `preset.toml`, `events.jsonl`, `checkpoints/`, `summary.json`.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::events::Event;
use crate::config::paths::write_atomic;

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

/// Training state stored beside each checkpoint's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Global step of the next batch to train.
    pub step: usize,
    pub epoch: usize,
    /// Index of the next batch within `epoch`.
    pub position: usize,
    pub optimizer_t: i64,
    pub seed: u64,
    pub arch: String,
    pub test_acc: Option<f64>,
    /// Running sums of the epoch in progress, so its `epoch_end` averages match an
    /// uninterrupted run.
    #[serde(default)]
    pub epoch_loss_sum: f64,
    #[serde(default)]
    pub epoch_acc_sum: f64,
    #[serde(default)]
    pub epoch_steps: usize,
    /// Best value of `checkpoint.best` so far (restored on resume so the same epochs win).
    #[serde(default)]
    pub best_value: Option<f64>,
}

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

/// File names of one checkpoint: `step-000500.safetensors` (weights + `<param>_mask`, loads in
/// PyTorch), `step-000500.optim.safetensors` (optimiser moments), `step-000500.json` (state).
pub fn checkpoint_paths(dir: &Path, step: usize) -> (PathBuf, PathBuf, PathBuf) {
    let stem = format!("step-{step:07}");
    (
        dir.join(format!("{stem}.safetensors")),
        dir.join(format!("{stem}.optim.safetensors")),
        dir.join(format!("{stem}.json")),
    )
}

/// Writes tensors to `path` atomically (temp file in the same folder, then rename).
pub fn write_tensors_atomic(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::config::paths::user_file_builder()
        .suffix(".safetensors")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.detach().to_device(tch::Device::Cpu).contiguous(),
            )
        })
        .collect();
    Tensor::write_safetensors(&cpu, tmp.path())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Periodic checkpoints found in `dir`, oldest first, by step.
pub fn list_checkpoints(dir: &Path) -> Vec<(usize, PathBuf)> {
    let mut out: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let step = name
                .strip_prefix("step-")?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((step, p))
        })
        .collect();
    out.sort();
    out
}

/// Short, sortable, filesystem-safe timestamp (UTC): `20261125-095000`.
pub fn timestamp() -> String {
    let s = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    s.replace(['-', ':'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string()
}
