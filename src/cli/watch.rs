//! `bapw watch`: follow a run another process writes (or look at an ended one), or a sweep.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::events::Event;
use crate::headless::Printer;
use crate::run::follow::{Follower, Update};
use crate::run::RunDir;
use crate::tui::TuiOptions;

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Run name (under the runs folder) or path, or a sweep folder.
    pub run: String,
    /// No TUI: print progress lines (also chosen when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
}

pub fn run(a: WatchArgs, tui: TuiOptions) -> Result<ExitCode> {
    let headless = a.headless || !std::io::stdout().is_terminal();
    let as_path = Path::new(&a.run);
    if let Some(dir) =
        crate::sweep::folder::resolve_sweep(as_path).filter(|_| !RunDir::is_run(as_path))
    {
        return if headless {
            crate::sweep::cli::print_status(&dir).map(|_| ExitCode::SUCCESS)
        } else {
            crate::tui::watch_sweep(&dir, tui)
        };
    }
    let runs_dir = crate::config::paths::runs_dir_or_default(a.runs_dir)?;
    let run = RunDir::resolve(&runs_dir, &a.run)?;
    if headless {
        watch_headless(&run)
    } else {
        crate::tui::watch(run.path().to_path_buf(), runs_dir, tui)
    }
}

/// Replays a run's events through the headless printer, then follows the log until the run
/// finishes or its writer goes away.
fn watch_headless(run: &RunDir) -> Result<ExitCode> {
    use std::io::Write;
    let log_every = run.read_preset().map(|p| p.train.log_every).unwrap_or(50);
    let mut printer = Printer::new(log_every);
    let mut follower = Follower::new(&run.events_path());
    let mut out = std::io::stdout();
    loop {
        let events = match follower.poll()? {
            Update::Events(e) => e,
            Update::Reset(e) => {
                printer = Printer::new(log_every);
                let _ = writeln!(out, "-- the run was resumed; replaying from the start --");
                e
            }
        };
        let mut done = false;
        for ev in &events {
            done |= matches!(ev, Event::Finished(_));
            if let Some(line) = printer.on_event(ev) {
                let _ = writeln!(out, "{line}");
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        if events.is_empty() && !run.is_running() {
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
