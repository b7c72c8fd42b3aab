//! `bapw train` and `bapw resume`: a run in the workbench on a terminal, or headless with one
//! progress line per `train.log_every` steps (also when stdout is not a terminal).
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::preset::{Preset, DEFAULT_PRESET};
use crate::config::{paths, BadInput};
use crate::device::DeviceChoice;
use crate::events::{EndState, Event};
use crate::headless::Printer;
use crate::run::RunDir;
use crate::train::{self, Command, RunSpec};
use crate::tui::TuiOptions;

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Preset name (shipped or user) or path to a TOML file.
    #[arg(long, default_value = DEFAULT_PRESET)]
    pub preset: String,
    /// Override a preset key, e.g. --set prune.final_sparsity=0.95 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// No TUI: print progress lines (also chosen when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Where run folders go (default: <data dir>/runs).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Run folder name (default: <preset>-<timestamp>).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ResumeArgs {
    /// Run name (under the runs folder) or path.
    pub run: String,
    /// No TUI: print progress lines (also chosen when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Continue from the checkpoint of this step instead of the newest (see `ls
    /// RUN/checkpoints`); the newer checkpoints are dropped.
    #[arg(long, value_name = "STEP")]
    pub from: Option<usize>,
    /// Change a setting that may change mid-run as the run goes on, e.g. --set train.lr=1e-4
    /// after a diverged loss (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

pub fn train(a: TrainArgs, tui: TuiOptions) -> Result<ExitCode> {
    let preset = Preset::load_with(&a.preset, &a.sets)?;
    let runs_dir = paths::runs_dir_or_default(a.runs_dir)?;
    let spec = RunSpec::new(preset, a.preset.clone(), runs_dir)
        .named(a.name)
        .on(a.device);
    train_in(spec, a.headless, tui)
}

pub fn resume(a: ResumeArgs, tui: TuiOptions) -> Result<ExitCode> {
    let runs_dir = crate::config::paths::runs_dir_or_default(a.runs_dir)?;
    let run = RunDir::resolve(&runs_dir, &a.run)?;
    if let Some(step) = a.from {
        let steps = run.checkpoints().steps();
        if !steps.contains(&step) {
            let have: Vec<String> = steps.iter().map(usize::to_string).collect();
            return Err(BadInput(format!(
                "--from {step}: {} has no checkpoint of step {step} (it has: {})",
                run.name(),
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ))
            .into());
        }
    } else if let Some(note) = finished_note(&run, &a.run) {
        println!("{note}");
        return Ok(ExitCode::SUCCESS);
    }
    // Checked here, before the run is touched: only what may change mid-run, with a value
    // the run's settings accept.
    let settings = run.read_preset()?;
    for s in &a.sets {
        let (key, value) = s.split_once('=').unwrap_or((s.as_str(), ""));
        let key = key.trim();
        if let Some(why) = crate::config::edit::live_refusal(key) {
            return Err(BadInput(format!("--set {s}: {why}; a new run takes it")).into());
        }
        if let Err(p) = settings.with(key, value) {
            return Err(BadInput(format!("--set {s}: {}: {}", p.key, p.message)).into());
        }
    }
    let spec = RunSpec {
        resume_step: a.from,
        resume_sets: a.sets.clone(),
        ..RunSpec::resume(&run, runs_dir)?
    }
    .on(a.device);
    train_in(spec, a.headless, tui)
}

/// The run in the workbench on a terminal, else (or with `--headless`) with progress lines.
fn train_in(spec: RunSpec, headless: bool, tui: TuiOptions) -> Result<ExitCode> {
    if headless || !std::io::stdout().is_terminal() {
        run_headless(spec.interactive(false))
    } else {
        crate::tui::run(spec.interactive(true), tui)
    }
}

/// A run whose newest checkpoint is the one after its last step has nothing to resume: say
/// so and how to look at it.
fn finished_note(run: &RunDir, arg: &str) -> Option<String> {
    let checkpoints = run.checkpoints();
    let state = checkpoints.state(checkpoints.latest()?).ok()?;
    let epochs = run.read_preset().ok()?.train.epochs;
    (state.epoch >= epochs).then(|| {
        format!(
            "{} is finished (all {} steps): nothing to resume. `bapw watch {arg}` shows it, \
             `bapw export {arg}` writes its tables",
            run.name(),
            state.step
        )
    })
}

/// Runs the engine and prints progress lines. SIGINT and SIGTERM stop the run cleanly (a
/// checkpoint is written, the run is marked stopped and can be resumed); SIGHUP (a dropped SSH
/// connection) is ignored so the run goes on.
pub fn run_headless(spec: RunSpec) -> Result<ExitCode> {
    use std::io::Write;
    use tokio::signal::unix::{signal, SignalKind};
    let mut printer = match spec.resume {
        Some(_) => Printer::resuming(spec.log_every),
        None => Printer::new(spec.log_every),
    };
    let mut handle = train::spawn(spec)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (failed, alerted) = rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (mut failed, mut alerted) = (false, false);
        let mut out = std::io::stdout();
        // After a stall alert the engine stops when its step ends; if that step never ends
        // the process leaves it (see `give_up`).
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let give_up = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = handle.events.recv() => {
                    let Some(ev) = ev else { break };
                    match &ev {
                        Event::Finished(f) => failed = f.state == EndState::Failed,
                        Event::Alert(a) => {
                            alerted = true;
                            if a.rule == "stall" && deadline.is_none() {
                                deadline = Some(tokio::time::Instant::now() + STALL_GRACE);
                            }
                        }
                        _ => {}
                    }
                    if let Some(line) = printer.on_event(&ev) {
                        // A vanished terminal must not kill the run.
                        let _ = writeln!(out, "{line}");
                    }
                }
                _ = int.recv() => { let _ = handle.commands.send(Command::Stop); }
                _ = term.recv() => { let _ = handle.commands.send(Command::Stop); }
                _ = hup.recv() => {}
                _ = give_up => {
                    let _ = writeln!(
                        out,
                        "the stalled step did not end within {} s: leaving the run as it is \
                         (`bapw resume` continues from its last checkpoint)",
                        STALL_GRACE.as_secs()
                    );
                    // The engine thread is inside LibTorch: end without its destructors.
                    let _ = out.flush();
                    // SAFETY: `_exit` only ends the process.
                    unsafe { libc::_exit(3) }
                }
            }
        }
        anyhow::Ok((failed, alerted))
    })?;
    let _ = handle.thread.join();
    Ok(if failed {
        ExitCode::from(1)
    } else if alerted {
        // Stopped by a run-health rule, with a checkpoint.
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// How long a headless run waits for a stalled step to end once the stall alert fired.
const STALL_GRACE: std::time::Duration = std::time::Duration::from_secs(120);
