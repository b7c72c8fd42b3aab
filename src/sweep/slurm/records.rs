//! What the Slurm backend keeps in the sweep folder, under `slurm/`: the batch scripts it
//! submitted (`submit-N.sh`), the submissions (`jobs.json`: job id, grid points, options) and
//! one record per grid point of the last task that ran it (`tasks/<run>.json`: job, node,
//! GPUs, start, end, exit code), which is how the exit code of a task is known without an
//! accounting database.
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::paths::write_atomic;
use crate::sweep::backend::SlurmSpec;

pub fn slurm_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("slurm")
}

/// One `sbatch` of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    /// The array's job id.
    pub job: String,
    /// The grid points (array task ids) it covers.
    pub indices: Vec<usize>,
    /// The batch script, relative to the sweep folder.
    pub script: String,
    /// When, RFC 3339 (UTC).
    pub submitted: String,
    /// The `[slurm]` options it was submitted with (command line included): the next
    /// `bapw sweep` submits with these unless told otherwise.
    pub options: SlurmSpec,
}

/// Every submission, oldest first; none for a sweep never submitted.
pub fn submissions(sweep_dir: &Path) -> Result<Vec<Submission>> {
    let p = slurm_dir(sweep_dir).join("jobs.json");
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

pub fn add_submission(sweep_dir: &Path, s: Submission) -> Result<()> {
    let mut all = submissions(sweep_dir)?;
    all.push(s);
    write_atomic(
        &slurm_dir(sweep_dir).join("jobs.json"),
        serde_json::to_string_pretty(&all)?.as_bytes(),
    )
}

/// Whether the sweep was ever submitted to Slurm.
pub fn was_submitted(sweep_dir: &Path) -> bool {
    slurm_dir(sweep_dir).join("jobs.json").is_file()
}

/// The last task that ran a grid point.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskRecord {
    /// `12_3` (array job and task id).
    pub task: String,
    pub node: String,
    /// CUDA_VISIBLE_DEVICES as Slurm set it, when it did.
    pub gpus: Option<String>,
    /// How many times Slurm had requeued the task before this start.
    pub restarts: u32,
    pub started: String,
    pub ended: Option<String>,
    pub exit_code: Option<u8>,
    /// finished, stopped, requeued, failed, or what was found (finished before, ...).
    pub outcome: Option<String>,
}

fn task_path(sweep_dir: &Path, run_id: &str) -> PathBuf {
    slurm_dir(sweep_dir)
        .join("tasks")
        .join(format!("{run_id}.json"))
}

pub fn task_record(sweep_dir: &Path, run_id: &str) -> Option<TaskRecord> {
    let text = std::fs::read_to_string(task_path(sweep_dir, run_id)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write_task_record(sweep_dir: &Path, run_id: &str, r: &TaskRecord) -> Result<()> {
    write_atomic(
        &task_path(sweep_dir, run_id),
        serde_json::to_string_pretty(r)?.as_bytes(),
    )
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Held while `bapw sweep` reads the queue and submits, so that two of them at once cannot
/// both submit the same grid points, and while the report is written (the last two tasks
/// may finish together).
pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    pub fn acquire(sweep_dir: &Path) -> Result<SweepLock> {
        let dir = slurm_dir(sweep_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Waits for the holder: it holds the lock for a few squeue/sbatch calls or a report.
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(SweepLock { _file: file })
    }
}
