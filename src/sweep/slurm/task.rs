//! `bapw sweep run-one SWEEP INDEX`: what one task of a sweep's job array runs. It trains the
//! grid point (or resumes it from its checkpoint) through the local backend's `execute`, so a
//! point trains bit-identically on either backend, then decides what the scheduler should do:
//! a run stopped by the time-limit warning (SIGUSR1), by the time limit itself or by
//! preemption goes back into the queue (`scontrol requeue`) and resumes when it starts again;
//! one stopped by `scancel` stays stopped. The last task to finish writes the report.
use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::queue;
use super::records::{now, write_task_record, SweepLock, TaskRecord};
use crate::config::preset::Preset;
use crate::device::DeviceChoice;
use crate::sweep::folder::{run_dir, status, Plan, RunStatus};
use crate::sweep::runner::{execute, next_step, tag, threads_within, Exec, Next};

/// What Slurm tells a task about itself through its environment.
struct TaskEnv {
    /// `12_3`, or None outside an array job.
    task: Option<String>,
    /// SLURM_JOB_ID: this task's own job id.
    job: Option<String>,
    node: String,
    gpus: Option<String>,
    cpus: Option<usize>,
    restarts: u32,
}

impl TaskEnv {
    fn read() -> TaskEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let task = match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
            (Some(j), Some(t)) => Some(format!("{j}_{t}")),
            _ => None,
        };
        TaskEnv {
            task,
            job: var("SLURM_JOB_ID"),
            node: var("SLURMD_NODENAME").unwrap_or_else(|| "?".into()),
            gpus: var("CUDA_VISIBLE_DEVICES"),
            cpus: var("SLURM_CPUS_PER_TASK").and_then(|v| v.parse().ok()),
            restarts: var("SLURM_RESTART_COUNT")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

pub fn run_one(dir: &Path, index: usize, device: DeviceChoice) -> Result<ExitCode> {
    let plan = Plan::load(dir)?;
    let total = plan.runs.len();
    let r = plan.runs.get(index).with_context(|| {
        format!(
            "{} has {total} grid points: there is no point {index}",
            dir.display()
        )
    })?;
    let env = TaskEnv::read();
    let mut rec = TaskRecord {
        task: env.task.clone().unwrap_or_else(|| "-".into()),
        node: env.node.clone(),
        gpus: env.gpus.clone(),
        restarts: env.restarts,
        started: now(),
        ..Default::default()
    };
    write_task_record(dir, &r.id, &rec)?;
    println!(
        "{} task {} on {}{}: {}",
        tag(index, total),
        rec.task,
        rec.node,
        rec.gpus
            .as_ref()
            .map(|g| format!(" (GPUs {g})"))
            .unwrap_or_default(),
        r.id
    );
    let (code, outcome) = match next_step(dir, r)? {
        Next::Finished => {
            println!(
                "{} {} finished before: nothing to do",
                tag(index, total),
                r.id
            );
            write_report_if_done(dir, &plan)?;
            (0, "finished before")
        }
        Next::Failed => {
            println!(
                "{} {} failed before: delete its folder to retry",
                tag(index, total),
                r.id
            );
            (1, "failed before")
        }
        Next::Running => {
            println!(
                "{} {} is running in another process: nothing to do",
                tag(index, total),
                r.id
            );
            (0, "running elsewhere")
        }
        Next::Run(work) => {
            let base_threads = Preset::load(&dir.join("base.toml").display().to_string())?
                .train
                .threads;
            // The task's cores, as the local backend gives each run its share of the machine.
            let cores = env
                .cpus
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let exec = Exec {
                jobs: 1,
                device,
                // Slurm gives the task its GPUs (`--gres`); the run uses the first it sees.
                gpus: 0,
                threads: Some(threads_within(base_threads, cores)),
                stop_on_usr1: true,
            };
            let out = execute(&exec, dir, &plan, VecDeque::from([(index, work)]))?;
            if status(&run_dir(dir, &r.id)) == RunStatus::Finished {
                write_report_if_done(dir, &plan)?;
                (0, "finished")
            } else if out.interrupted {
                stopped(&env, out.warned, index, total)
            } else {
                (1, "failed")
            }
        }
    };
    rec.ended = Some(now());
    rec.exit_code = Some(code);
    rec.outcome = Some(outcome.into());
    write_task_record(dir, &r.id, &rec)?;
    Ok(ExitCode::from(code))
}

/// The run stopped with a checkpoint. Before a time limit (the warning), at it, or on
/// preemption the task goes back into the queue; after `scancel` it stays stopped.
fn stopped(env: &TaskEnv, warned: bool, index: usize, total: usize) -> (u8, &'static str) {
    let ending = warned
        || env
            .job
            .as_deref()
            .is_some_and(queue::ending_for_time_or_preemption);
    match (&env.task, ending) {
        (Some(task), true) => match queue::requeue(task) {
            Ok(()) => {
                println!(
                    "{} requeued {task}: the run resumes from its checkpoint when it starts again",
                    tag(index, total)
                );
                (0, "requeued")
            }
            Err(e) => {
                println!(
                    "{} stopped with a checkpoint; {e:#}: `bapw sweep` submits it again",
                    tag(index, total)
                );
                (130, "stopped")
            }
        },
        _ => {
            println!(
                "{} stopped with a checkpoint: when Slurm requeued the task it resumes as it \
                 starts again; otherwise `bapw sweep` submits it again",
                tag(index, total)
            );
            (130, "stopped")
        }
    }
}

/// The report, once every point has finished (whichever task finishes last writes it).
fn write_report_if_done(dir: &Path, plan: &Plan) -> Result<()> {
    let all = plan
        .runs
        .iter()
        .all(|r| status(&run_dir(dir, &r.id)) == RunStatus::Finished);
    if all {
        let _lock = SweepLock::acquire(dir)?;
        let written = crate::sweep::publish::write(dir, &dir.join("report"))?;
        if let Some(p) = written.first() {
            println!("sweep finished: report in {}", p.display());
        }
    }
    Ok(())
}
