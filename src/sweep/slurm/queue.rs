//! The Slurm commands bapw calls: `sbatch`, `squeue`, `scancel` and `scontrol requeue`. No
//! accounting database is assumed (`sacct` may not exist): what the scheduler knows is asked
//! of `squeue`, which lists the jobs still queued, running or ending. Every argument goes to
//! the command as its own argv entry; nothing passes through a shell.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One task of an array job as `squeue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The array's job id (`12`).
    pub array_job: String,
    /// The task's index in the array (the grid point).
    pub index: usize,
    /// `12_3`: what `scancel` and `scontrol` take.
    pub id: String,
    /// Slurm's state: PENDING, RUNNING, COMPLETING, REQUEUED, SUSPENDED, ...
    pub state: String,
    /// Why it waits (Resources, Priority, JobArrayTaskLimit, BeginTime, ...), `None` if not.
    pub reason: String,
    /// The node it runs on (empty while pending).
    pub node: String,
}

/// The program `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn run(cmd: &mut Command) -> Result<std::process::Output> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {name}"))
}

fn stderr_line(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Submits `script` with `sbatch --parsable` from `cwd`; returns the job id.
pub fn submit(script: &Path, cwd: &Path) -> Result<String> {
    let o = run(Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .current_dir(cwd))?;
    if !o.status.success() {
        bail!("sbatch refused {}: {}", script.display(), stderr_line(&o));
    }
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {:?}", out.trim());
    }
    Ok(id)
}

/// The live tasks (queued, running or ending) of the array jobs `jobs`. Jobs the scheduler
/// has finished with are simply absent.
pub fn tasks(jobs: &[String]) -> Result<Vec<Task>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let o = run(Command::new("squeue")
        .args(["--noheader", "--array", "--format=%F|%K|%i|%T|%r|%N"])
        .arg(format!("--jobs={}", jobs.join(","))))?;
    if !o.status.success() {
        let e = stderr_line(&o);
        // Every id is unknown to the scheduler: they ended long ago.
        if e.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        bail!("squeue failed: {e}");
    }
    Ok(parse_tasks(&String::from_utf8_lossy(&o.stdout)))
}

pub fn parse_tasks(text: &str) -> Vec<Task> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let [array_job, index, id, state, reason, node] = f[..] else {
                return None;
            };
            Some(Task {
                array_job: array_job.to_string(),
                index: index.parse().ok()?,
                id: id.to_string(),
                state: state.to_string(),
                reason: reason.to_string(),
                node: node.to_string(),
            })
        })
        .collect()
}

/// `scancel JOB...`: the tasks get SIGTERM (then SIGKILL after the cluster's KillWait).
pub fn cancel(jobs: &[String]) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let o = run(Command::new("scancel").args(jobs))?;
    if !o.status.success() {
        bail!("scancel failed: {}", stderr_line(&o));
    }
    Ok(())
}

/// `scontrol requeue TASK`: the task goes back to the queue and starts again later.
pub fn requeue(task: &str) -> Result<()> {
    let o = run(Command::new("scontrol").args(["requeue", task]))?;
    if !o.status.success() {
        bail!("scontrol requeue {task} failed: {}", stderr_line(&o));
    }
    Ok(())
}

/// Whether the job `job` (a plain job id, as in SLURM_JOB_ID) is ending because it reached its
/// time limit or was preempted: then the task requeues itself.
pub fn ending_for_time_or_preemption(job: &str) -> bool {
    let Ok(o) = run(Command::new("squeue").args(["--noheader", "--format=%T|%r", "--jobs", job]))
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let (state, reason) = text.trim().split_once('|').unwrap_or(("", ""));
    matches!(state, "TIMEOUT" | "PREEMPTED") || matches!(reason, "TimeLimit" | "Preempted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_become_tasks() {
        let t = parse_tasks(
            "12|0|12_0|RUNNING|None|node1\n12|3|12_3|PENDING|JobArrayTaskLimit|\nnoise\n",
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].index, 3);
        assert_eq!(t[1].reason, "JobArrayTaskLimit");
        assert_eq!(t[0].node, "node1");
    }
}
