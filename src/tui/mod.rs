//! The terminal face of the engine. One current-thread tokio loop selects over terminal input,
//! engine events, signals and a frame tick; the engine trains on its own thread and is only
//! ever talked to through its command channel, so the UI never waits on a training step.
//!
//! Frames are drawn at most every 50 ms after a key and every 100 ms for engine events. Engine
//! events are drained on the 50 ms tick and folded in as a batch: a fast run sends thousands
//! a second, each costs a few series pushes (tens of nanoseconds), and a frame costs well
//! under a millisecond.
pub mod app;
mod control;
pub mod fields;
pub mod history;
mod input;
pub mod keymap;
pub mod panes;
pub mod popups;
mod state;
pub mod store;
mod style;
mod terminal;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::error::TryRecvError;

use crate::config::paths;
use crate::config::preset::{Preset, DEFAULT_PRESET};
use crate::train::engine::{self, DeviceChoice, EngineHandle, RunSpec};
use crate::train::events::Event;

pub use app::{App, Request};
pub use store::Store;

/// How the TUI was asked to look.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// `--theme NAME`: wins over the remembered theme.
    pub theme: Option<String>,
}

/// Draws the whole screen for `app`. Public so tests and `bapw watch` draw the same screen.
pub fn draw(frame: &mut ratatui::Frame, app: &App) {
    panes::render(frame, app);
}

const INPUT_FRAME: Duration = Duration::from_millis(50);
const ENGINE_FRAME: Duration = Duration::from_millis(100);
/// Most engine events folded in per tick before input gets another look (a tick's worth
/// at tens of thousands of steps a second).
const EVENT_BATCH: usize = 65_536;
/// How long a signal waits for the engine to write its checkpoint.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn store() -> Store {
    match paths::config_dir() {
        Ok(d) => Store::at(d),
        Err(_) => Store::ephemeral(),
    }
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
    let store = store();
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
    let spec = RunSpec {
        log_every: preset.train.log_every,
        preset,
        preset_label: label,
        runs_dir: paths::default_runs_dir()?,
        run_name: None,
        device: DeviceChoice::Auto,
        autostart: false,
        resume: None,
        interactive: true,
    };
    run_with(spec, opts, store, note)
}

/// `bapw train` on a terminal: opens the workbench on `spec` and, with `spec.autostart`,
/// starts the run at once.
pub fn run(spec: RunSpec, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    run_with(spec, opts, store(), None)
}

fn run_with(
    spec: RunSpec,
    opts: TuiOptions,
    store: Store,
    note: Option<String>,
) -> Result<ExitCode> {
    let mut app = App::new(
        spec.preset.clone(),
        &spec.preset_label,
        store,
        opts.theme.as_deref(),
    );
    app.set_monochrome(std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()));
    if let Some(n) = note {
        app.note(app::Level::Warn, n);
    }
    if spec.autostart {
        app.handle(keymap::Action::Start);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the UI runtime")?;
    let mut term = terminal::Guard::enter()?;
    let result = rt.block_on(Runtime::new(spec).run(&mut app, &mut term));
    // Leave the alternate screen before anything is printed about how it ended.
    drop(term);
    result
}

/// The loop's own state: the engine (if one runs) and what the next run starts from.
struct Runtime {
    template: RunSpec,
    engine: Option<EngineHandle>,
}

enum Exit {
    Quit,
    Signal(i32),
    /// The terminal went away (hang-up, closed pty).
    Lost,
}

impl Runtime {
    fn new(template: RunSpec) -> Runtime {
        Runtime {
            template,
            engine: None,
        }
    }

    async fn run(mut self, app: &mut App, term: &mut terminal::Guard) -> Result<ExitCode> {
        let mut input = EventStream::new();
        let mut tick = tokio::time::interval(INPUT_FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut last_draw: Option<Instant> = None;
        // Which kind of change is waiting to be drawn: input wants a faster frame.
        let (mut input_dirty, mut engine_dirty) = (true, false);
        let exit = loop {
            if self.serve_requests(app) {
                break Exit::Quit;
            }
            let since = last_draw.map(|t| t.elapsed()).unwrap_or(Duration::MAX);
            if (input_dirty && since >= INPUT_FRAME) || (engine_dirty && since >= ENGINE_FRAME) {
                if term.draw(app).is_err() {
                    break Exit::Lost;
                }
                last_draw = Some(Instant::now());
                input_dirty = false;
                engine_dirty = false;
            }
            tokio::select! {
                key = input.next() => match key {
                    Some(Ok(TermEvent::Key(k))) => {
                        app.on_key(k);
                        input_dirty = true;
                    }
                    Some(Ok(TermEvent::Resize(..))) => input_dirty = true,
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break Exit::Lost,
                },
                _ = tick.tick() => match self.drain(app) {
                    Drained::Nothing => {}
                    Drained::Events => engine_dirty = true,
                    Drained::Closed => {
                        self.engine_ended(app);
                        engine_dirty = true;
                    }
                },
                _ = sigterm.recv() => break Exit::Signal(libc::SIGTERM),
                _ = sighup.recv() => break Exit::Signal(libc::SIGHUP),
                _ = sigint.recv() => break Exit::Signal(libc::SIGINT),
            }
        };
        let code = match exit {
            Exit::Quit => {
                if app.state.is_active() {
                    // Forced quit while stopping: the process exit ends the engine thread.
                    return Ok(ExitCode::from(1));
                }
                if app.state == app::RunState::Failed {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Exit::Signal(sig) => {
                self.stop_and_wait(app).await;
                ExitCode::from(128 + sig as u8)
            }
            Exit::Lost => {
                self.stop_and_wait(app).await;
                ExitCode::from(128 + libc::SIGHUP as u8)
            }
        };
        if let Some(h) = self.engine.take() {
            if !app.state.is_active() {
                let _ = h.thread.join();
            }
        }
        Ok(code)
    }

    /// Carries out what the app asked for; true when it asked to quit.
    fn serve_requests(&mut self, app: &mut App) -> bool {
        for r in app.take_requests() {
            match r {
                Request::Quit => return true,
                Request::Engine(cmd) => {
                    let sent = self
                        .engine
                        .as_ref()
                        .is_some_and(|e| e.commands.send(cmd.clone()).is_ok());
                    if !sent {
                        app.note(
                            app::Level::Warn,
                            format!("the engine is not running ({cmd:?} dropped)"),
                        );
                    }
                }
                Request::StartRun => self.start(app),
            }
        }
        false
    }

    fn start(&mut self, app: &mut App) {
        if self.engine.is_some() {
            app.start_failed("the previous run is still shutting down; try again in a moment");
            return;
        }
        let label = if app.preset_edited {
            format!("{} (edited)", app.preset_label)
        } else {
            app.preset_label.clone()
        };
        let spec = RunSpec {
            preset: app.preset.clone(),
            preset_label: label,
            runs_dir: self.template.runs_dir.clone(),
            // A chosen name and a resume apply to the first run only.
            run_name: self.template.run_name.take(),
            device: self.template.device,
            autostart: true,
            resume: self.template.resume.take(),
            log_every: app.preset.train.log_every,
            // The user can act on a pause, so a NaN loss pauses instead of failing.
            interactive: true,
        };
        match engine::spawn(spec) {
            Ok(h) => self.engine = Some(h),
            Err(e) => app.start_failed(&format!("{e:#}")),
        }
    }

    /// Folds in everything the engine has queued since the last tick. The loop polls on its
    /// tick instead of awaiting the channel: with no receiver parked on it, the engine's
    /// sends never have to wake this thread, and thousands of events a second cost the UI
    /// twenty wake-ups.
    fn drain(&mut self, app: &mut App) -> Drained {
        let Some(e) = self.engine.as_mut() else {
            return Drained::Nothing;
        };
        let mut got = false;
        for _ in 0..EVENT_BATCH {
            match e.events.try_recv() {
                Ok(ev) => {
                    app.apply(&ev);
                    got = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Drained::Closed,
            }
        }
        if got {
            Drained::Events
        } else {
            Drained::Nothing
        }
    }

    /// The engine's channel closed: its thread has ended.
    fn engine_ended(&mut self, app: &mut App) {
        if let Some(h) = self.engine.take() {
            let _ = h.thread.join();
        }
        if app.state.is_active() {
            // The engine reports every ending itself; this is the thread vanishing.
            let step = app.progress.steps_done;
            app.apply(&Event::Error {
                step,
                message: "the engine thread ended without reporting why".into(),
            });
            app.apply(&Event::Finished {
                step,
                state: crate::train::events::EndState::Failed,
                sparsity: f64::NAN,
                test_acc: f64::NAN,
                seconds: 0.0,
            });
        }
    }

    /// On a signal or a lost terminal: stop the run so it checkpoints, for a bounded time.
    async fn stop_and_wait(&mut self, app: &mut App) {
        let Some(e) = self.engine.as_mut() else {
            return;
        };
        if app.state.is_active() {
            let _ = e.commands.send(crate::train::Command::Stop);
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, e.events.recv()).await {
            app.apply(&ev);
        }
    }
}

enum Drained {
    Nothing,
    Events,
    /// The channel is empty and closed: the engine thread has ended.
    Closed,
}
