//! `bapw sweep` (with its subcommands) and `bapw watch SWEEP --headless`: picks the backend and
//! hands over to it.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::args::{SweepAction, SweepArgs};
use super::backend::Backend;
use super::folder::{resolve_sweep, run_dir, status, Plan, RunStatus};
use super::runner::{self, tag};
use super::slurm;
use crate::config::preset::{PresetError, Problem};

/// The most child processes the local backend starts at once.
const LOCAL_MAX_JOBS: u32 = 64;

fn bad_flag(key: &str, message: String) -> anyhow::Error {
    PresetError {
        file: "command line".into(),
        problems: vec![Problem {
            key: key.into(),
            line: None,
            message,
        }],
    }
    .into()
}

pub fn run(args: &SweepArgs) -> Result<ExitCode> {
    match &args.action {
        Some(SweepAction::Cancel { sweep }) => return slurm::cancel(sweep),
        Some(SweepAction::RunOne {
            sweep,
            index,
            device,
        }) => {
            let dir = resolve_sweep(sweep)
                .ok_or_else(|| anyhow!("{} is not a sweep folder", sweep.display()))?;
            return slurm::run_one(&dir, *index, *device);
        }
        None => {}
    }
    let target = args
        .target
        .as_deref()
        .ok_or_else(|| anyhow!("give a sweep file or folder"))?;
    let p = runner::prepare(target, args.out.as_deref())?;
    let file = p.dir.join("sweep.toml").display().to_string();
    let (backend, from) = match (args.backend, p.sweep.backend()) {
        (Some(b), _) => (b, "command line".to_string()),
        (None, Some(b)) => (b, file),
        (None, None) if slurm::records::was_submitted(&p.dir) => {
            (Backend::Slurm, p.dir.display().to_string())
        }
        (None, None) => (Backend::Local, String::new()),
    };
    match backend {
        Backend::Slurm => slurm::sweep(&p, args, &from),
        Backend::Local => {
            if args.slurm.any() {
                return Err(bad_flag(
                    "--backend",
                    "the Slurm flags (--partition, --time, --gpus, ...) apply to --backend slurm"
                        .into(),
                ));
            }
            let jobs = args.jobs.unwrap_or(1);
            if jobs > LOCAL_MAX_JOBS {
                return Err(bad_flag(
                    "--jobs",
                    format!("{jobs} is more than the local backend's {LOCAL_MAX_JOBS}"),
                ));
            }
            if args.dry_run {
                let total = p.plan.runs.len();
                for (i, r) in p.plan.runs.iter().enumerate() {
                    println!("{} {}  {}", tag(i, total), r.id, r.sets.join(" "));
                }
                return Ok(ExitCode::SUCCESS);
            }
            p.save()?;
            runner::run_local(&p, jobs, args.limit, args.device)
        }
    }
}

/// `bapw watch SWEEP_DIR --headless`: each run's state (with the scheduler's, for a sweep on
/// Slurm), then the report so far.
pub fn print_status(dir: &Path) -> Result<()> {
    let plan = Plan::load(dir)?;
    let runs: Vec<RunStatus> = plan
        .runs
        .iter()
        .map(|r| status(&run_dir(dir, &r.id)))
        .collect();
    let states = slurm::point_states(dir, &plan, &runs).unwrap_or_else(|e| {
        println!("(the Slurm queue could not be read: {e:#})");
        None
    });
    match states {
        Some(states) => slurm::print_states(dir, &plan, &states, |_| false),
        None => {
            for (i, (r, st)) in plan.runs.iter().zip(&runs).enumerate() {
                println!("{} {:<11} {}", tag(i, plan.runs.len()), st.label(), r.id);
            }
        }
    }
    let results = super::report::collect(dir, &plan)?;
    let report = super::report::aggregate(&plan, &results);
    println!();
    print!("{}", super::render::markdown(&report, "report"));
    Ok(())
}
