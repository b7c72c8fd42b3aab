//! `bapw sweep`: runs a sweep's grid, one ordinary run folder per point, as child `bapw train`
//! processes (one LibTorch per process, so `--jobs` runs share nothing but the device).
//! Running it again continues: finished runs are skipped, stopped or killed ones resumed from
//! their last checkpoint.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::folder::{log_path, resolve_sweep, run_dir, status, Plan, RunStatus};
use super::spec::{PlannedRun, SweepFile};
use crate::config::paths::write_atomic;
use crate::config::preset::Preset;
use crate::train::DeviceChoice;

#[derive(clap::Args, Debug, Clone)]
pub struct SweepArgs {
    /// A sweep file (TOML), or the folder (or name) of a sweep started before: continues it.
    pub target: PathBuf,
    /// Sweep folder (default: <data dir>/sweeps/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs at the same time; each gets its share of the CPU threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Start at most this many runs, then stop (the rest wait for the next `bapw sweep`).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print the planned runs and their overrides; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// `bapw watch SWEEP_DIR --headless`: each run's state, then the report so far.
pub fn print_status(dir: &Path) -> Result<()> {
    let plan = Plan::load(dir)?;
    for (i, r) in plan.runs.iter().enumerate() {
        let st = status(&run_dir(dir, &r.id));
        println!(
            "[{:>3}/{}] {:<11} {}",
            i + 1,
            plan.runs.len(),
            st.label(),
            r.id
        );
    }
    let results = super::report::collect(dir, &plan)?;
    let report = super::report::aggregate(&plan, &results);
    println!();
    print!("{}", super::report::markdown(&report, "report"));
    Ok(())
}

/// Creates or reopens the sweep folder: `sweep.toml` (the file as given), `base.toml` (the
/// base preset frozen when the sweep started, so later edits to it do not mix into a
/// half-done sweep) and `plan.json`.
pub fn prepare(args: &SweepArgs) -> Result<(PathBuf, Plan)> {
    let target = if args.target.exists() {
        args.target.clone()
    } else {
        resolve_sweep(&args.target).unwrap_or_else(|| args.target.clone())
    };
    let (file, dir) = if target.is_dir() {
        let dir = target.clone();
        if !dir.join("sweep.toml").exists() {
            bail!("{} is a folder without sweep.toml", dir.display());
        }
        (dir.join("sweep.toml"), Some(dir))
    } else {
        (target.clone(), args.out.clone())
    };
    let sweep = SweepFile::load(&file)?;
    let dir = match dir {
        Some(d) => d,
        None => crate::config::paths::data_dir()?
            .join("sweeps")
            .join(&sweep.name),
    };
    let text = std::fs::read_to_string(&file)?;
    let copy = dir.join("sweep.toml");
    if copy.exists() && copy != file {
        let before = std::fs::read_to_string(&copy)?;
        if before != text {
            bail!(
                "{} holds a different sweep (its sweep.toml differs from {}): continue it with `bapw sweep {}`, or choose another --out",
                dir.display(),
                file.display(),
                dir.display()
            );
        }
    }
    let base_file = dir.join("base.toml");
    let base = if base_file.exists() {
        Preset::load(&base_file.display().to_string())?
    } else {
        Preset::load(&resolve_base(&sweep.base, &file))?
    };
    let runs = sweep.expand();
    sweep.validate_runs(&base, &runs)?;
    let plan = Plan {
        name: sweep.name.clone(),
        description: sweep.description.clone(),
        base: sweep.base.clone(),
        report: sweep.report.clone(),
        runs,
    };
    if !args.dry_run {
        if copy != file {
            write_atomic(&copy, text.as_bytes())?;
        }
        if !base_file.exists() {
            write_atomic(&base_file, base.to_toml().as_bytes())?;
        }
        write_atomic(
            &dir.join("plan.json"),
            serde_json::to_string_pretty(&plan)?.as_bytes(),
        )?;
    }
    Ok((dir, plan))
}

/// A base that looks like a path is relative to the sweep file; otherwise a preset name.
fn resolve_base(base: &str, sweep_file: &Path) -> String {
    if base.ends_with(".toml") || base.contains('/') {
        let p = Path::new(base);
        if p.is_relative() {
            if let Some(parent) = sweep_file.parent() {
                return parent.join(p).display().to_string();
            }
        }
    }
    base.to_string()
}

/// What to do with one planned run this time.
enum Work {
    Train,
    Resume,
}

pub fn run(args: &SweepArgs) -> Result<ExitCode> {
    let (dir, plan) = prepare(args)?;
    let total = plan.runs.len();
    if args.dry_run {
        for (i, r) in plan.runs.iter().enumerate() {
            println!("[{:>3}/{total}] {}  {}", i + 1, r.id, r.sets.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut queue = VecDeque::new();
    let mut done = 0;
    for (i, r) in plan.runs.iter().enumerate() {
        let rd = run_dir(&dir, &r.id);
        match status(&rd) {
            RunStatus::Finished => done += 1,
            RunStatus::Failed => println!(
                "[{:>3}/{total}] skip    {} failed before: see {} (delete its folder to retry)",
                i + 1,
                r.id,
                log_path(&dir, &r.id).display()
            ),
            RunStatus::Running => println!(
                "[{:>3}/{total}] skip    {} is running in another process",
                i + 1,
                r.id
            ),
            RunStatus::Interrupted(true) => queue.push_back((i, Work::Resume)),
            RunStatus::Interrupted(false) | RunStatus::Pending => {
                // Killed before its first checkpoint (or before its first event): nothing
                // to keep, and `bapw train` wants a fresh folder.
                if rd.exists() {
                    std::fs::remove_dir_all(&rd)
                        .with_context(|| format!("removing {}", rd.display()))?;
                }
                queue.push_back((i, Work::Train));
            }
        }
    }
    println!(
        "sweep {} in {}: {total} runs, {done} finished, {} to run{}",
        plan.name,
        dir.display(),
        queue.len(),
        if args.jobs > 1 {
            format!(", {} at a time", args.jobs)
        } else {
            String::new()
        }
    );
    if let Some(limit) = args.limit {
        queue.truncate(limit);
    }
    let base_threads = Preset::load(&dir.join("base.toml").display().to_string())?
        .train
        .threads;
    let outcome = execute(args, base_threads, &dir, &plan, queue)?;
    let finished = plan
        .runs
        .iter()
        .filter(|r| status(&run_dir(&dir, &r.id)) == RunStatus::Finished)
        .count();
    if outcome.interrupted {
        println!(
            "sweep interrupted: {finished} of {total} runs finished; `bapw sweep {}` continues it",
            dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    if finished == total {
        let written = super::publish::write(&dir, &dir.join("report"))?;
        println!(
            "sweep finished: report in {}",
            written
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    } else {
        println!(
            "{finished} of {total} runs finished; `bapw sweep {}` runs the rest, `bapw report {}` reports what is done",
            dir.display(),
            dir.display()
        );
    }
    Ok(if outcome.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

struct Outcome {
    failed: usize,
    interrupted: bool,
}

/// Runs the queue with at most `jobs` children at a time. SIGINT/SIGTERM stop launching new
/// runs and ask the running ones to stop (they checkpoint and can be resumed); SIGHUP is
/// ignored so a dropped SSH session does not end the sweep.
fn execute(
    args: &SweepArgs,
    base_threads: i32,
    dir: &Path,
    plan: &Plan,
    mut queue: VecDeque<(usize, Work)>,
) -> Result<Outcome> {
    use tokio::signal::unix::{signal, SignalKind};
    let exe = std::env::current_exe().context("locating the bapw executable")?;
    // Parallel runs split the cores; a base preset that asks for fewer keeps its number.
    let threads = (args.jobs > 1).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let share = (cores / args.jobs as usize).max(1);
        match usize::try_from(base_threads) {
            Ok(t) if t > 0 => t.min(share),
            _ => share,
        }
    });
    std::fs::create_dir_all(dir.join("logs"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut running = tokio::task::JoinSet::new();
        let mut pids = std::collections::BTreeMap::new();
        let mut out = Outcome {
            failed: 0,
            interrupted: false,
        };
        let total = plan.runs.len();
        loop {
            while !out.interrupted && running.len() < args.jobs as usize {
                let Some((i, work)) = queue.pop_front() else {
                    break;
                };
                let r = &plan.runs[i];
                let mut cmd = child_command(&exe, dir, r, &work, args.device, threads);
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_path(dir, &r.id))?;
                cmd.stdout(log.try_clone()?)
                    .stderr(log)
                    .stdin(Stdio::null());
                let mut child = cmd
                    .spawn()
                    .with_context(|| format!("starting {}", exe.display()))?;
                let verb = match work {
                    Work::Train => "start ",
                    Work::Resume => "resume",
                };
                println!("[{:>3}/{total}] {verb}  {}", i + 1, r.id);
                if let Some(pid) = child.id() {
                    pids.insert(i, pid);
                }
                let started = Instant::now();
                running.spawn(async move {
                    let st = child.wait().await;
                    (i, st, started.elapsed())
                });
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                Some(res) = running.join_next() => {
                    let (i, st, took) = res?;
                    pids.remove(&i);
                    let r = &plan.runs[i];
                    let ok = st.as_ref().is_ok_and(|s| s.success());
                    let rd = run_dir(dir, &r.id);
                    if ok && status(&rd) == RunStatus::Finished {
                        let row = crate::runs::summarize(&rd).ok();
                        let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
                        println!(
                            "[{:>3}/{total}] done    {}  acc {}  auc {}  ({:.0} s)",
                            i + 1, r.id,
                            f(row.as_ref().and_then(|r| r.test_acc)),
                            f(row.as_ref().and_then(|r| r.auc)),
                            took.as_secs_f64()
                        );
                    } else if out.interrupted {
                        println!("[{:>3}/{total}] stopped {}", i + 1, r.id);
                    } else {
                        out.failed += 1;
                        println!(
                            "[{:>3}/{total}] FAILED  {} ({}): see {}",
                            i + 1, r.id,
                            st.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                            log_path(dir, &r.id).display()
                        );
                    }
                }
                _ = int.recv() => stop_all(&mut out, &pids),
                _ = term.recv() => stop_all(&mut out, &pids),
                _ = hup.recv() => {}
            }
        }
        anyhow::Ok(out)
    })
}

/// The children stop the way `bapw train --headless` does on SIGTERM: checkpoint, mark the
/// run stopped, exit.
fn stop_all(out: &mut Outcome, pids: &std::collections::BTreeMap<usize, u32>) {
    if !out.interrupted {
        println!("stopping: the running runs checkpoint and stop; nothing new starts");
    }
    out.interrupted = true;
    for &pid in pids.values() {
        // SAFETY: kill(2) with a pid of our own child; no memory is involved.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}

fn child_command(
    exe: &Path,
    dir: &Path,
    r: &PlannedRun,
    work: &Work,
    device: DeviceChoice,
    threads: Option<usize>,
) -> tokio::process::Command {
    use clap::ValueEnum;
    let mut cmd = tokio::process::Command::new(exe);
    let device = device
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| "auto".into());
    match work {
        Work::Train => {
            cmd.arg("train")
                .arg("--headless")
                .arg("--preset")
                .arg(dir.join("base.toml"))
                .arg("--runs-dir")
                .arg(dir.join("runs"))
                .arg("--name")
                .arg(&r.id)
                .arg("--device")
                .arg(&device);
            for s in &r.sets {
                cmd.arg("--set").arg(s);
            }
            if let Some(t) = threads {
                if !r.sets.iter().any(|s| s.starts_with("train.threads")) {
                    cmd.arg("--set").arg(format!("train.threads={t}"));
                }
            }
        }
        Work::Resume => {
            cmd.arg("resume")
                .arg("--headless")
                .arg(run_dir(dir, &r.id))
                .arg("--device")
                .arg(&device);
        }
    }
    cmd
}
