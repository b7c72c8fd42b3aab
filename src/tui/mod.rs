//! The terminal face of the engine: the workbench (`bapw`, `bapw train`, `bapw resume`,
//! `bapw watch RUN` on a terminal) and the sweep view (`bapw watch SWEEP`). This file holds the
//! entry points; the layout of the rest (the run model, the panes and popups, the event loop)
//! is in `docs/architecture.md`, section "The TUI".
pub mod app;
pub mod chart;
mod detach;
mod event_loop;
pub mod file_jobs;
pub mod keymap;
pub mod model;
#[cfg(test)]
mod module_graph;
mod monitor_feed;
pub mod panes;
pub mod popups;
pub mod prefs;
pub mod run_folder;
pub mod style;
pub mod sweep_view;
mod terminal;
pub mod text;
pub mod text_input;
pub mod widgets;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::config::paths;
use crate::config::preset::{Preset, DEFAULT_PRESET};
use crate::config::store::Store;
use crate::config::theme::Theme;
use crate::train::RunSpec;
use event_loop::{run_preset, EventLoop, Watch};
use keymap::Action;
use model::Level;
use sweep_view::{SweepView, ViewAction};

pub use app::{App, Request};

/// How the TUI was asked to look.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// `--theme NAME`: wins over the remembered theme.
    pub theme: Option<String>,
    /// `--charts STYLE`: wins over the remembered choice, and is remembered.
    pub charts: Option<crate::config::settings::ChartStyle>,
}

/// Draws the whole screen for `app`, on any ratatui backend (tests draw on a `TestBackend`).
pub fn draw(frame: &mut ratatui::Frame, app: &App) {
    app.draw(frame);
}

/// The theme a secondary view (the sweep view) draws with: `--theme`, else the remembered
/// one, else the default; `NO_COLOR` wins over all.
fn theme_for(name: Option<&str>) -> Theme {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return Theme::monochrome();
    }
    let store = Store::user();
    let wanted = name.map(str::to_string).or(store.settings().0.theme);
    let (themes, _) = store.themes();
    wanted
        .and_then(|n| themes.iter().find(|t| t.name == n).cloned())
        .or_else(|| themes.first().cloned())
        .unwrap_or_else(Theme::default_theme)
}

fn require_terminal() -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the workbench needs a terminal; use `bapw train --headless` for a plain log");
    }
    Ok(())
}

/// `bapw` with no arguments: the last used preset (or the default), run not started.
pub fn open(opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    let store = Store::user();
    let (settings, _) = store.settings();
    let mut note = None;
    let (preset, label) =
        match settings.last_preset {
            Some(name) => match Preset::load(&name) {
                Ok(p) => (p, name),
                Err(e) => {
                    note =
                        Some(format!(
                    "the last used preset {name} does not load ({}); opened {DEFAULT_PRESET}",
                    e.problems.first().map(|p| p.message.as_str()).unwrap_or("invalid")
                ));
                    (Preset::load(DEFAULT_PRESET)?, DEFAULT_PRESET.to_string())
                }
            },
            None => (Preset::load(DEFAULT_PRESET)?, DEFAULT_PRESET.to_string()),
        };
    let spec = RunSpec::new(preset, label, paths::default_runs_dir()?)
        .interactive(true)
        .waiting();
    run_with(EventLoop::new(spec), opts, store, note)
}

/// `bapw train` on a terminal: opens the workbench on `spec` and, with `spec.autostart`,
/// starts the run at once. `bapw resume` on a terminal comes here too, with `spec.resume`.
pub fn run(spec: RunSpec, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    run_with(EventLoop::new(spec), opts, Store::user(), None)
}

/// `bapw watch` on a terminal: replays the run in `run_dir`, then follows it as its writer
/// (another process) appends to it. `runs_dir` is what the run list shows.
pub fn watch(run_dir: PathBuf, runs_dir: PathBuf, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    let (preset, label) = run_preset(&run_dir)?;
    let template = RunSpec::new(preset.clone(), label.clone(), runs_dir)
        .interactive(true)
        .waiting();
    let event_loop = EventLoop::watching(template, Watch::new(run_dir, preset, label));
    run_with(event_loop, opts, Store::user(), None)
}

/// `bapw watch SWEEP_DIR` on a terminal: the sweep view (see `sweep_view`). Enter on a run
/// opens it in the read-only workbench as `bapw watch RUN` does; q there comes back.
pub fn watch_sweep(dir: &Path, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    let mut view = SweepView::load(dir)?;
    let theme = theme_for(opts.theme.as_deref());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the UI runtime")?;
    loop {
        let mut term = terminal::Guard::enter()?;
        let action = rt.block_on(sweep_view::run_loop(&mut view, &mut term, &theme))?;
        drop(term);
        match action {
            ViewAction::Watch(run) => {
                watch(run, dir.join("runs"), opts.clone())?;
                view.refresh()?;
            }
            _ => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Opens the window and runs `event_loop` in it until it closes.
fn run_with(
    event_loop: EventLoop,
    opts: TuiOptions,
    store: Store,
    note: Option<String>,
) -> Result<ExitCode> {
    let spec = event_loop.template();
    let mut app = App::new(
        spec.preset.clone(),
        &spec.preset_label,
        store,
        opts.theme.as_deref(),
    );
    app.set_monochrome(std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()));
    if let Some(c) = opts.charts {
        app.set_charts(c);
    }
    if let Some(n) = note {
        app.note(Level::Warn, n);
    }
    if let Some(name) = event_loop.watched() {
        app.watching = true;
        app.note(
            Level::Info,
            format!("watching {name}: read-only, q leaves (the run is not affected)"),
        );
    } else if spec.autostart {
        if spec.resume.is_some() {
            app.resume_here();
        } else {
            app.handle(Action::Start);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the UI runtime")?;
    let mut term = terminal::Guard::enter()?;
    let result = rt.block_on(event_loop.run(&mut app, &mut term));
    // Leave the alternate screen before anything is printed about how it ended.
    drop(term);
    let ending = result?;
    if let Some(text) = &ending.farewell {
        // The terminal may be gone (a hang-up during a hand-over): never panic on it.
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{text}");
    }
    if ending.engine_left_running {
        leave_now(ending.code);
    }
    Ok(ExitCode::from(ending.code))
}

/// Ends the process while the engine thread may still be inside LibTorch. A normal exit runs
/// the C++ static destructors (LibTorch's operator registry among them) under that thread's
/// feet: a segmentation fault or a "Invalid (backend, op) pair" panic. `_exit` skips them;
/// what the run wrote is safe, since every checkpoint file is written to a temporary name and
/// renamed, and a half-written last line of `events.jsonl` is skipped by every reader.
fn leave_now(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; nothing after it runs.
    unsafe { libc::_exit(i32::from(code)) }
}
