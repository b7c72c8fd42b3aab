//! `bapw sweep`: plans a sweep's folder and runs its grid, one ordinary run folder per point,
//! as child `bapw train` processes (one LibTorch per process, so `--jobs` runs share nothing
//! but the device). Running it again continues: finished runs are skipped, stopped or killed
//! ones resumed from their last checkpoint. The Slurm backend's tasks train their point
//! through the same `execute`, so both backends train bit-identically.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::folder::{log_path, resolve_sweep, run_dir, status, Plan, RunStatus};
use super::spec::{PlannedRun, SweepFile};
use crate::config::paths::write_atomic;
use crate::config::preset::Preset;
use crate::device::DeviceChoice;

/// A sweep folder about to be created or reopened: the sweep file read and its grid checked
/// against the base preset, nothing written yet.
pub struct Prepared {
    pub dir: PathBuf,
    pub plan: Plan,
    pub sweep: SweepFile,
    file: PathBuf,
    text: String,
    base: Preset,
}

/// Reads the sweep file (`target`, or the `sweep.toml` of the sweep folder or name `target`)
/// and plans its grid into `out` (default `<data dir>/sweeps/<name>`).
pub fn prepare(target: &Path, out: Option<&Path>) -> Result<Prepared> {
    let target = if target.exists() {
        target.to_path_buf()
    } else {
        resolve_sweep(target).unwrap_or_else(|| target.to_path_buf())
    };
    let (file, dir) = if target.is_dir() {
        let dir = target.clone();
        if !dir.join("sweep.toml").exists() {
            bail!("{} is a folder without sweep.toml", dir.display());
        }
        (dir.join("sweep.toml"), Some(dir))
    } else {
        (target.clone(), out.map(Path::to_path_buf))
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
    Ok(Prepared {
        dir,
        plan,
        sweep,
        file,
        text,
        base,
    })
}

impl Prepared {
    /// Creates or reopens the sweep folder: `sweep.toml` (the file as given), `base.toml` (the
    /// base preset frozen when the sweep started, so later edits to it do not mix into a
    /// half-done sweep) and `plan.json`.
    pub fn save(&self) -> Result<()> {
        let copy = self.dir.join("sweep.toml");
        if copy != self.file {
            write_atomic(&copy, self.text.as_bytes())?;
        }
        let base_file = self.dir.join("base.toml");
        if !base_file.exists() {
            write_atomic(&base_file, self.base.to_toml().as_bytes())?;
        }
        write_atomic(
            &self.dir.join("plan.json"),
            serde_json::to_string_pretty(&self.plan)?.as_bytes(),
        )
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Train,
    Resume,
}

/// Where a planned run stands before a backend runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Finished,
    /// Failed before: left alone until its folder is deleted.
    Failed,
    /// Another process holds it.
    Running,
    Run(Work),
}

/// Decides what to do with the planned run `r` of the sweep in `dir`. A run killed before its
/// first checkpoint (or before its first event) has nothing to keep, and `bapw train` wants a
/// fresh folder: its folder is removed here.
pub fn next_step(dir: &Path, r: &PlannedRun) -> Result<Next> {
    let rd = run_dir(dir, &r.id);
    Ok(match status(&rd) {
        RunStatus::Finished => Next::Finished,
        RunStatus::Failed => Next::Failed,
        RunStatus::Running => Next::Running,
        RunStatus::Interrupted(true) => Next::Run(Work::Resume),
        RunStatus::Interrupted(false) | RunStatus::Pending => {
            if rd.exists() {
                std::fs::remove_dir_all(&rd)
                    .with_context(|| format!("removing {}", rd.display()))?;
            }
            Next::Run(Work::Train)
        }
    })
}

/// How the grid points train: `jobs` at a time, each with `threads` LibTorch threads (None:
/// the base preset's).
pub struct Exec {
    pub jobs: u32,
    pub device: DeviceChoice,
    /// The CUDA devices visible here: with more than one, `auto`/`cuda` runs are spread over
    /// them (see [`device_for_slot`]).
    pub gpus: usize,
    pub threads: Option<usize>,
    /// SIGUSR1 (Slurm's warning before a time limit) stops the runs like SIGTERM and is
    /// reported in `Outcome::warned`.
    pub stop_on_usr1: bool,
}

/// The `[n/total] ...` prefix of every line about planned run `i`.
pub fn tag(i: usize, total: usize) -> String {
    format!("[{:>3}/{total}]", i + 1)
}

/// The local backend: the sweep's unfinished runs as child processes here, `jobs` at a time.
pub fn run_local(
    p: &Prepared,
    jobs: u32,
    limit: Option<usize>,
    device: DeviceChoice,
) -> Result<ExitCode> {
    let (dir, plan) = (&p.dir, &p.plan);
    let total = plan.runs.len();
    let mut queue = VecDeque::new();
    let mut done = 0;
    for (i, r) in plan.runs.iter().enumerate() {
        match next_step(dir, r)? {
            Next::Finished => done += 1,
            Next::Failed => println!(
                "{} skip    {} failed before: see {} (delete its folder to retry)",
                tag(i, total),
                r.id,
                log_path(dir, &r.id).display()
            ),
            Next::Running => println!(
                "{} skip    {} is running in another process",
                tag(i, total),
                r.id
            ),
            Next::Run(work) => queue.push_back((i, work)),
        }
    }
    println!(
        "sweep {} in {}: {total} runs, {done} finished, {} to run{}",
        plan.name,
        dir.display(),
        queue.len(),
        if jobs > 1 {
            format!(", {jobs} at a time")
        } else {
            String::new()
        }
    );
    if let Some(limit) = limit {
        queue.truncate(limit);
    }
    let base_threads = Preset::load(&dir.join("base.toml").display().to_string())?
        .train
        .threads;
    // Parallel runs split the cores; a base preset that asks for fewer keeps its number.
    let threads = (jobs > 1).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        threads_within(base_threads, (cores / jobs as usize).max(1))
    });
    let gpus = match device {
        DeviceChoice::Cpu => 0,
        _ => crate::device::cuda_devices(),
    };
    let exec = Exec {
        jobs,
        device,
        gpus,
        threads,
        stop_on_usr1: false,
    };
    let outcome = execute(&exec, dir, plan, queue)?;
    let finished = plan
        .runs
        .iter()
        .filter(|r| status(&run_dir(dir, &r.id)) == RunStatus::Finished)
        .count();
    if outcome.interrupted {
        println!(
            "sweep interrupted: {finished} of {total} runs finished; `bapw sweep {}` continues it",
            dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    if finished == total {
        let written = super::publish::write(dir, &dir.join("report"))?;
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

/// The threads of a run given `cores`: the base preset's number when it asks for fewer.
pub fn threads_within(base_threads: i32, cores: usize) -> usize {
    match usize::try_from(base_threads) {
        Ok(t) if t > 0 => t.min(cores),
        _ => cores,
    }
}

pub struct Outcome {
    pub failed: usize,
    pub interrupted: bool,
    /// Stopped by SIGUSR1 (with `Exec::stop_on_usr1`).
    pub warned: bool,
}

/// Runs the queue with at most `jobs` children at a time. SIGINT/SIGTERM stop launching new
/// runs and ask the running ones to stop (they checkpoint and can be resumed); SIGHUP is
/// ignored so a dropped SSH session does not end the sweep.
pub fn execute(
    exec: &Exec,
    dir: &Path,
    plan: &Plan,
    mut queue: VecDeque<(usize, Work)>,
) -> Result<Outcome> {
    use tokio::signal::unix::{signal, SignalKind};
    let exe = std::env::current_exe().context("locating the bapw executable")?;
    std::fs::create_dir_all(dir.join("logs"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut usr1 = exec
            .stop_on_usr1
            .then(|| signal(SignalKind::user_defined1()))
            .transpose()?;
        let mut running = tokio::task::JoinSet::new();
        let mut pids = std::collections::BTreeMap::new();
        // Which of the `jobs` places each running child holds (its GPU, with several).
        let mut slots = std::collections::BTreeMap::new();
        let mut out = Outcome {
            failed: 0,
            interrupted: false,
            warned: false,
        };
        let total = plan.runs.len();
        loop {
            while !out.interrupted && running.len() < exec.jobs as usize {
                let Some((i, work)) = queue.pop_front() else {
                    break;
                };
                let r = &plan.runs[i];
                let slot = (0..).find(|s| !slots.values().any(|v| v == s)).unwrap_or(0);
                slots.insert(i, slot);
                let device = device_for_slot(exec.device, exec.gpus, slot);
                let mut cmd = child_command(&exe, dir, r, &work, device, exec.threads);
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
                let on = if exec.gpus > 1 {
                    format!(" on {device}")
                } else {
                    String::new()
                };
                println!("{} {verb}  {}{on}", tag(i, total), r.id);
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
            let usr1_recv = async {
                match usr1.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(res) = running.join_next() => {
                    let (i, st, took) = res?;
                    pids.remove(&i);
                    slots.remove(&i);
                    let r = &plan.runs[i];
                    let ok = st.as_ref().is_ok_and(|s| s.success());
                    let rd = run_dir(dir, &r.id);
                    if ok && status(&rd) == RunStatus::Finished {
                        let row = crate::run::RunDir::open(&rd)
                            .and_then(|run| crate::run::list::summarize(&run))
                            .ok();
                        let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
                        println!(
                            "{} done    {}  acc {}  auc {}  ({:.0} s)",
                            tag(i, total), r.id,
                            f(row.as_ref().and_then(|r| r.test_acc)),
                            f(row.as_ref().and_then(|r| r.auc)),
                            took.as_secs_f64()
                        );
                    } else if out.interrupted {
                        println!("{} stopped {}", tag(i, total), r.id);
                    } else {
                        out.failed += 1;
                        println!(
                            "{} FAILED  {} ({}): see {}",
                            tag(i, total), r.id,
                            st.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                            log_path(dir, &r.id).display()
                        );
                    }
                }
                _ = int.recv() => stop_all(&mut out, &pids),
                _ = term.recv() => stop_all(&mut out, &pids),
                _ = usr1_recv => {
                    out.warned = true;
                    stop_all(&mut out, &pids);
                }
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

/// The device of the child in place `slot` of `jobs`: with several GPUs visible, `auto` and
/// `cuda` go round them (slot 0 on cuda:0, slot 1 on cuda:1, ...); a CPU or a numbered device
/// stays as asked.
pub fn device_for_slot(choice: DeviceChoice, gpus: usize, slot: usize) -> DeviceChoice {
    match choice {
        DeviceChoice::Auto | DeviceChoice::Cuda(None) if gpus > 1 => {
            DeviceChoice::Cuda(Some(slot % gpus))
        }
        other => other,
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
    let mut cmd = tokio::process::Command::new(exe);
    let device = device.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_runs_go_round_the_visible_gpus() {
        let auto = DeviceChoice::Auto;
        let on: Vec<String> = (0..5)
            .map(|slot| device_for_slot(auto, 2, slot).to_string())
            .collect();
        assert_eq!(on, ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]);
        assert_eq!(
            device_for_slot(DeviceChoice::Cuda(None), 4, 6),
            DeviceChoice::Cuda(Some(2))
        );
        // One GPU or none, the CPU, or a device the user named: as asked.
        assert_eq!(device_for_slot(auto, 1, 3), auto);
        assert_eq!(device_for_slot(auto, 0, 3), auto);
        assert_eq!(device_for_slot(DeviceChoice::Cpu, 4, 3), DeviceChoice::Cpu);
        let named = DeviceChoice::Cuda(Some(3));
        assert_eq!(device_for_slot(named, 4, 1), named);
    }
}
