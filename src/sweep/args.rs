//! The command line of `bapw sweep`: run or continue a sweep (on this machine or on Slurm),
//! and its subcommands.
use std::path::PathBuf;

use super::backend::{Backend, SlurmSpec};
use crate::device::DeviceChoice;

#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// A sweep file (TOML), or the folder (or name) of a sweep started before: continues it.
    #[arg(required = true)]
    pub target: Option<PathBuf>,
    /// Sweep folder (default: <data dir>/sweeps/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs at the same time (local: child processes, each with its share of the CPU threads;
    /// slurm: the job array's limit, default none).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub jobs: Option<u32>,
    /// Start (or submit) at most this many runs (the rest wait for the next `bapw sweep`).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print the planned runs and their overrides (slurm: and the batch script); run nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Where the runs train (default: the sweep file's `backend`, else slurm for a sweep
    /// submitted before, else local).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// The Slurm backend's flags; each overrides the sweep file's `[slurm]` key of the same name.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Slurm backend")]
pub struct SlurmArgs {
    /// Partition(s) to submit to (--partition; several: comma-separated).
    #[arg(long)]
    pub partition: Option<String>,
    /// Account the runs are charged to (--account).
    #[arg(long)]
    pub account: Option<String>,
    /// Quality of service (--qos).
    #[arg(long)]
    pub qos: Option<String>,
    /// Time limit of each run (Slurm's format: 90, 1:30:00, 2-00:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// GPUs per run (--gres=gpu:N).
    #[arg(long)]
    pub gpus: Option<u32>,
    /// CPU cores per run (--cpus-per-task; also the run's threads).
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Memory per run (--mem: 16G, 4000M).
    #[arg(long)]
    pub mem: Option<String>,
    /// One more sbatch option, e.g. --sbatch-arg=--constraint=a100 (repeatable).
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
}

impl SlurmArgs {
    /// The flags as a `[slurm]` table, to lay over the file's.
    pub fn spec(&self, jobs: Option<u32>) -> SlurmSpec {
        SlurmSpec {
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            gpus: self.gpus.map(i64::from),
            cpus: self.cpus.map(i64::from),
            mem: self.mem.clone(),
            sbatch_args: self.sbatch_args.clone(),
            jobs: jobs.map(i64::from),
            checkpoint_before: None,
        }
    }

    /// Whether any Slurm flag was given.
    pub fn any(&self) -> bool {
        self.spec(None) != SlurmSpec::default()
    }
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum SweepAction {
    /// Cancel a sweep's Slurm jobs: running runs checkpoint and stop, queued ones never start
    /// (`bapw sweep SWEEP` submits the rest again).
    Cancel {
        /// The sweep folder, or its name under <data dir>/sweeps.
        sweep: PathBuf,
    },
    /// Train (or resume) one grid point of a sweep: what each task of a Slurm job array runs.
    #[command(hide = true)]
    RunOne {
        sweep: PathBuf,
        /// The grid point's index in plan.json (the array task id).
        index: usize,
        #[arg(long, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
    },
}
