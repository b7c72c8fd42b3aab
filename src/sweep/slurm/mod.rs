//! The Slurm backend of `bapw sweep`: the grid's unfinished points go to the cluster as one job
//! array (`script`), each task trains its point through bapw (`task`), and the state of every
//! point comes from its run folder plus what `squeue` says (`queue`) and what the tasks
//! recorded in the sweep folder (`records`). The run folders, resume, watch and report are
//! those of the local backend.
pub mod queue;
pub mod records;
pub mod script;
mod task;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use self::queue::Task;
use self::records::{Submission, SweepLock, TaskRecord};
use super::args::SweepArgs;
use super::backend::{self, SlurmSpec};
use super::folder::{resolve_sweep, run_dir, status, Plan, RunStatus};
use super::runner::{tag, Prepared};
use crate::config::preset::{PresetError, Problem};

pub use task::run_one;

/// A grid point as the Slurm backend sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PointState {
    /// From its run folder.
    pub run: RunStatus,
    /// Its task in the queue (pending, running or ending), if any.
    pub task: Option<Task>,
    /// The last task that ran it, as that task recorded.
    pub last: Option<TaskRecord>,
    /// `JOB_INDEX` of the last submission that included it.
    pub submitted_as: Option<String>,
}

impl PointState {
    /// Neither finished nor failed nor queued nor running: the next `bapw sweep` submits it.
    pub fn to_submit(&self) -> bool {
        self.task.is_none() && matches!(self.run, RunStatus::Pending | RunStatus::Interrupted(_))
    }

    /// The state column: `queued (Resources)`, `running on node7`, `failed (exit 1)`, ...
    pub fn label(&self) -> String {
        if self.run == RunStatus::Finished {
            return "finished".into();
        }
        let exit = || {
            self.last
                .as_ref()
                .and_then(|r| r.exit_code)
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        };
        match &self.task {
            Some(t) if t.state == "PENDING" => format!("queued ({})", t.reason),
            Some(t) if t.state == "RUNNING" => format!("running on {}", t.node),
            Some(t) => t.state.to_lowercase(),
            None => match self.run {
                RunStatus::Failed => format!("failed{}", exit()),
                RunStatus::Running => "running".into(),
                RunStatus::Interrupted(true) => "stopped".into(),
                RunStatus::Interrupted(false) => "interrupted".into(),
                _ if self
                    .last
                    .as_ref()
                    .is_some_and(|r| r.exit_code.is_some_and(|c| c != 0)) =>
                {
                    format!("failed{}", exit())
                }
                _ => "pending".into(),
            },
        }
    }

    /// What follows the run's name: the task in the queue, or what the last one left.
    pub fn detail(&self, dir: &Path, run_id: &str) -> String {
        if let Some(t) = &self.task {
            return format!("job {}", t.id);
        }
        let unrecorded = |sub: &str| {
            let log = slurm_log(dir, sub);
            if log.exists() {
                format!("task {sub} left no record: see {}", log.display())
            } else {
                format!("task {sub} never started")
            }
        };
        match (&self.last, &self.submitted_as) {
            (Some(r), Some(sub)) if &r.task != sub && self.run != RunStatus::Finished => {
                unrecorded(sub)
            }
            (Some(r), _) => match r.exit_code {
                Some(c) => format!("last task {} on {}, exit {c}", r.task, r.node),
                None => format!("last task {} on {} ended without a word", r.task, r.node),
            },
            (None, Some(sub)) if self.run != RunStatus::Finished => unrecorded(sub),
            _ if self.run == RunStatus::Failed => {
                format!("see {}", super::folder::log_path(dir, run_id).display())
            }
            _ => String::new(),
        }
    }
}

/// Slurm's own output of a task (`--output` of the batch script).
fn slurm_log(dir: &Path, task: &str) -> PathBuf {
    dir.join("logs").join(format!("slurm-{task}.out"))
}

/// Each grid point's state (`runs`: from their folders) with the queue's and the tasks'
/// records; None for a sweep never submitted to Slurm.
pub fn point_states(
    dir: &Path,
    plan: &Plan,
    runs: &[RunStatus],
) -> Result<Option<Vec<PointState>>> {
    let subs = records::submissions(dir)?;
    if subs.is_empty() {
        return Ok(None);
    }
    let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
    let live = queue::tasks(&jobs)?;
    Ok(Some(states_from(dir, plan, runs, &subs, &live)))
}

fn states_from(
    dir: &Path,
    plan: &Plan,
    runs: &[RunStatus],
    subs: &[Submission],
    live: &[Task],
) -> Vec<PointState> {
    plan.runs
        .iter()
        .zip(runs)
        .enumerate()
        .map(|(i, (r, &run))| PointState {
            run,
            // A running copy tells more than a queued one (there should be only one).
            task: live
                .iter()
                .filter(|t| t.index == i)
                .max_by_key(|t| t.state == "RUNNING")
                .cloned(),
            last: records::task_record(dir, &r.id),
            submitted_as: subs
                .iter()
                .rev()
                .find(|s| s.indices.contains(&i))
                .map(|s| format!("{}_{i}", s.job)),
        })
        .collect()
}

fn bad_input(file: &str, key: &str, message: String) -> anyhow::Error {
    PresetError {
        file: file.into(),
        problems: vec![Problem {
            key: key.into(),
            line: None,
            message,
        }],
    }
    .into()
}

/// The options of this submission: those of the last one (or the sweep file's `[slurm]`), with
/// the command line on top.
fn options(p: &Prepared, args: &SweepArgs, subs: &[Submission]) -> Result<SlurmSpec> {
    let cli = args.slurm.spec(args.jobs);
    let problems = backend::check(&cli, |k| format!("--{}", k.replace('_', "-")));
    if !problems.is_empty() {
        return Err(PresetError {
            file: "command line".into(),
            problems,
        }
        .into());
    }
    let base = subs
        .last()
        .map(|s| s.options.clone())
        .or_else(|| p.sweep.slurm.clone())
        .unwrap_or_default();
    let mut spec = base.overridden_by(&cli);
    let mut seen = std::collections::HashSet::new();
    spec.sbatch_args.retain(|a| seen.insert(a.clone()));
    Ok(spec)
}

/// `bapw sweep FILE|SWEEP --backend slurm`: prints every point's state and submits, as one job
/// array, the points that are neither finished (nor failed) nor queued or running.
pub fn sweep(p: &Prepared, args: &SweepArgs, backend_from: &str) -> Result<ExitCode> {
    let (dir, plan) = (&p.dir, &p.plan);
    let total = plan.runs.len();
    let subs = records::submissions(dir)?;
    let spec = options(p, args, &subs)?;
    let opts = spec.options();
    let exe = std::env::current_exe().context("locating the bapw executable")?;
    if args.dry_run {
        for (i, r) in plan.runs.iter().enumerate() {
            println!("{} {}  {}", tag(i, total), r.id, r.sets.join(" "));
        }
        let all: Vec<usize> = (0..total).collect();
        let s = script::Script {
            plan,
            sweep_dir: &absolute(dir)?,
            exe: &exe,
            indices: &all,
            options: &opts,
            device: args.device,
            number: subs.len() + 1,
        };
        println!(
            "\nbatch script (the unfinished points are submitted):\n{}",
            s.text()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if queue::find_on_path("sbatch").is_none() {
        return Err(bad_input(
            backend_from,
            "backend",
            "slurm needs sbatch, which is not on PATH here: submit from a machine of the cluster, or run the sweep on this machine with --backend local".into(),
        ));
    }
    let sweep_dir = absolute(dir)?;
    if let Err(m) = script::check_sweep_dir(&sweep_dir) {
        return Err(bad_input(&sweep_dir.display().to_string(), "", m));
    }
    p.save()?;
    let _lock = SweepLock::acquire(dir)?;
    let runs: Vec<RunStatus> = plan
        .runs
        .iter()
        .map(|r| status(&run_dir(dir, &r.id)))
        .collect();
    let live = queue::tasks(&subs.iter().map(|s| s.job.clone()).collect::<Vec<_>>())?;
    let states = states_from(dir, plan, &runs, &subs, &live);
    let count = |f: &dyn Fn(&PointState) -> bool| states.iter().filter(|s| f(s)).count();
    let finished = count(&|s| s.run == RunStatus::Finished);
    let mut todo: Vec<usize> = (0..total).filter(|&i| states[i].to_submit()).collect();
    println!(
        "sweep {} in {}: {total} runs on Slurm, {finished} finished, {} queued or running, {} to submit",
        plan.name,
        dir.display(),
        count(&|s| s.task.is_some() && s.run != RunStatus::Finished),
        todo.len()
    );
    print_states(dir, plan, &states, |i| todo.contains(&i));
    if finished == total {
        let written = super::publish::write(dir, &dir.join("report"))?;
        if let Some(p) = written.first() {
            println!("sweep finished: report in {}", p.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(limit) = args.limit {
        todo.truncate(limit);
    }
    if todo.is_empty() {
        println!(
            "nothing to submit; `bapw sweep {}` shows the states again, `bapw watch {}` follows them",
            dir.display(),
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let s = script::Script {
        plan,
        sweep_dir: &sweep_dir,
        exe: &exe,
        indices: &todo,
        options: &opts,
        device: args.device,
        number: subs.len() + 1,
    };
    let text = s.text()?;
    let script_path = dir.join(s.path_in_dir());
    crate::config::paths::write_atomic(&script_path, text.as_bytes())?;
    // Slurm opens the tasks' output files there before bapw starts.
    std::fs::create_dir_all(dir.join("logs"))?;
    let job = queue::submit(&script_path, &sweep_dir)?;
    records::add_submission(
        dir,
        Submission {
            job: job.clone(),
            indices: todo.clone(),
            script: s.path_in_dir(),
            submitted: records::now(),
            options: spec,
        },
    )?;
    println!(
        "submitted job {job}: {} run{} as array {}{} ({}); `bapw sweep cancel {}` cancels",
        todo.len(),
        if todo.len() == 1 { "" } else { "s" },
        script::array_spec(&todo),
        opts.jobs
            .map(|n| format!(", {n} at a time"))
            .unwrap_or_default(),
        script_path.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One line per grid point: `[  3/16] queued (Priority)   bap-s0.5-...  job 12_2`.
pub fn print_states(
    dir: &Path,
    plan: &Plan,
    states: &[PointState],
    submitting: impl Fn(usize) -> bool,
) {
    let total = plan.runs.len();
    for (i, (r, st)) in plan.runs.iter().zip(states).enumerate() {
        let mut detail = st.detail(dir, &r.id);
        if submitting(i) {
            detail = if detail.is_empty() {
                "submit".into()
            } else {
                format!("{detail}; submit")
            };
        }
        let line = format!("{} {:<28} {}  {detail}", tag(i, total), st.label(), r.id);
        println!("{}", line.trim_end());
    }
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(dir).or_else(|_| {
        Ok(std::env::current_dir()
            .map_err(|e| anyhow!("{e}"))?
            .join(dir))
    })
}

/// `bapw sweep cancel SWEEP`: cancels the sweep's jobs and waits until their tasks have ended
/// (running runs checkpoint and stop, queued ones never start).
pub fn cancel(target: &Path) -> Result<ExitCode> {
    let dir = resolve_sweep(target)
        .ok_or_else(|| anyhow!("{} is not a sweep folder or name", target.display()))?;
    let subs = records::submissions(&dir)?;
    if subs.is_empty() {
        println!(
            "{} was never submitted to Slurm: nothing to cancel",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if queue::find_on_path("scancel").is_none() {
        return Err(bad_input(
            "bapw sweep cancel",
            "",
            "scancel is not on PATH here: cancel from a machine of the cluster".into(),
        ));
    }
    let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
    let live = queue::tasks(&jobs)?;
    let mut live_jobs: Vec<String> = live.iter().map(|t| t.array_job.clone()).collect();
    live_jobs.sort();
    live_jobs.dedup();
    if live_jobs.is_empty() {
        println!("nothing of {} is queued or running", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let running = live.iter().filter(|t| t.state == "RUNNING").count();
    queue::cancel(&live_jobs)?;
    println!(
        "cancelled job{} {}: running tasks stop with a checkpoint ({running}), queued ones will not start ({})",
        if live_jobs.len() == 1 { "" } else { "s" },
        live_jobs.join(", "),
        live.len() - running
    );
    // The tasks take a moment to save their checkpoints; Slurm kills them after its KillWait.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = queue::tasks(&live_jobs)?;
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            println!(
                "{} task{} still ending after 10 minutes; `bapw sweep {}` shows their state",
                left.len(),
                if left.len() == 1 { "" } else { "s" },
                dir.display()
            );
            return Ok(ExitCode::from(1));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "all tasks ended; `bapw sweep {}` submits the unfinished runs again",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
