//! The terminal face of the engine. One current-thread tokio loop selects over terminal input,
//! engine events, signals and a frame tick; the engine trains on its own thread and is only
//! ever talked to through its command channel, so the UI never waits on a training step.
//!
//! Frames are drawn at most every 50 ms after a key and every 100 ms for engine events. Engine
//! events are drained on the 50 ms tick and folded in as a batch: a fast run sends thousands
//! a second, each costs a few series pushes (tens of nanoseconds), and a frame costs well
//! under a millisecond.
//!
//! A window either owns its run (the engine thread) or watches one another process writes
//! (`bapw watch`, or Enter in the run list): then its `events.jsonl` is followed on the same
//! tick and folded in through the same `App::apply`.
pub mod app;
pub mod compare;
mod control;
mod detach;
pub mod fields;
pub mod history;
mod input;
pub mod jobs;
pub mod keymap;
mod manage;
pub mod panes;
pub mod popups;
pub mod runlist;
mod state;
pub mod store;
pub mod style;
pub mod sweep_view;
mod terminal;

use crate::events::{ErrorReport, Event, Finished};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::error::TryRecvError;

use crate::config::paths;
use crate::config::preset::{Preset, DEFAULT_PRESET};
use crate::config::theme::Theme;
use crate::device::DeviceChoice;
use crate::run::follow::{Follower, Update};
use crate::run::RunLock;
use crate::train::handle::{self as engine, EngineHandle};
use crate::train::RunSpec;

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
/// How often a watched run that has gone quiet is checked for a live writer.
const WRITER_CHECK: Duration = Duration::from_secs(1);

/// The theme a secondary view (the sweep view) draws with: `--theme`, else the remembered
/// one, else the default; `NO_COLOR` wins over all.
fn theme_for(name: Option<&str>) -> Theme {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return Theme::monochrome();
    }
    let store = store();
    let wanted = name.map(str::to_string).or(store.settings().0.theme);
    let (themes, _) = store.themes();
    wanted
        .and_then(|n| themes.iter().find(|t| t.name == n).cloned())
        .or_else(|| themes.first().cloned())
        .unwrap_or_else(Theme::default_theme)
}

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
        resume_step: None,
        resume_sets: Vec::new(),
        interactive: true,
    };
    run_with(Runtime::new(spec), opts, store, note)
}

/// `bapw train` on a terminal: opens the workbench on `spec` and, with `spec.autostart`,
/// starts the run at once. `bapw resume` on a terminal comes here too, with `spec.resume`.
pub fn run(spec: RunSpec, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    run_with(Runtime::new(spec), opts, store(), None)
}

/// `bapw watch` on a terminal: replays the run in `run_dir`, then follows it as its writer
/// (another process) appends to it. `runs_dir` is what the run list shows.
pub fn watch(run_dir: PathBuf, runs_dir: PathBuf, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    let (preset, label) = watched_preset(&run_dir)?;
    let template = RunSpec {
        log_every: preset.train.log_every,
        preset: preset.clone(),
        preset_label: label.clone(),
        runs_dir,
        run_name: None,
        device: DeviceChoice::Auto,
        autostart: false,
        resume: None,
        resume_step: None,
        resume_sets: Vec::new(),
        interactive: true,
    };
    let mut rt = Runtime::new(template);
    rt.watch = Some(Watch::new(run_dir, preset, label));
    run_with(rt, opts, store(), None)
}

/// `bapw watch SWEEP_DIR` on a terminal: the sweep view (see `sweep_view`).
pub fn watch_sweep(dir: &Path, opts: TuiOptions) -> Result<ExitCode> {
    require_terminal()?;
    sweep_view::open(dir, opts)
}

/// The settings a watched run started with, and the name to show for them.
fn watched_preset(run_dir: &Path) -> Result<(Preset, String)> {
    let preset = jobs::run_preset(run_dir)?;
    let label = if preset.name.is_empty() {
        "run".to_string()
    } else {
        preset.name.clone()
    };
    Ok((preset, label))
}

fn run_with(
    runtime: Runtime,
    opts: TuiOptions,
    store: Store,
    note: Option<String>,
) -> Result<ExitCode> {
    let spec = &runtime.template;
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
    if let Some(w) = &runtime.watch {
        app.watching = true;
        let name = w.name();
        app.note(
            app::Level::Info,
            format!("watching {name}: read-only, q leaves (the run is not affected)"),
        );
    } else if spec.autostart {
        if spec.resume.is_some() {
            app.resume_here();
        } else {
            app.handle(keymap::Action::Start);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the UI runtime")?;
    let mut term = terminal::Guard::enter()?;
    let result = rt.block_on(runtime.run(&mut app, &mut term));
    // Leave the alternate screen before anything is printed about how it ended.
    drop(term);
    let outcome = result?;
    if let Some(text) = &outcome.farewell {
        // The terminal may be gone (a hang-up during a hand-over): never panic on it.
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{text}");
    }
    if outcome.engine_left_running {
        leave_now(outcome.code);
    }
    Ok(ExitCode::from(outcome.code))
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

/// A run another process writes, followed through its log.
struct Watch {
    dir: PathBuf,
    follower: Follower,
    /// `preset.toml`: a replay from the top starts from it again.
    preset: Preset,
    label: String,
    last_writer_check: Instant,
}

impl Watch {
    fn new(dir: PathBuf, preset: Preset, label: String) -> Watch {
        Watch {
            follower: Follower::new(&dir.join("events.jsonl")),
            dir,
            preset,
            label,
            last_writer_check: Instant::now(),
        }
    }

    fn name(&self) -> String {
        run_name(&self.dir)
    }
}

/// A run compared with itself says nothing: unpin it when it becomes the run on screen.
fn drop_self_compare(app: &mut App, dir: &Path) {
    if app
        .compare
        .as_ref()
        .is_some_and(|c| c.name == run_name(dir))
    {
        app.compare = None;
    }
}

/// How `bapw watch` / `bapw resume` name the run in `dir`: by name in the default runs
/// folder, by path elsewhere.
fn resume_arg(dir: &Path) -> String {
    if paths::default_runs_dir().ok().as_deref() == dir.parent() {
        run_name(dir)
    } else {
        dir.display().to_string()
    }
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The loop's own state: the engine (if one runs), the watched run (if one is followed),
/// file jobs in flight, and what the next run starts from.
struct Runtime {
    template: RunSpec,
    engine: Option<EngineHandle>,
    watch: Option<Watch>,
    jobs: jobs::Jobs,
}

enum Exit {
    Quit,
    Signal(i32),
    /// The terminal went away (hang-up, closed pty).
    Lost,
    /// The run has stopped to be continued by a detached process.
    Background,
}

/// How the window ended: the exit code, what to print once the terminal is back, and
/// whether the engine thread was left running (the process must then end without running
/// LibTorch's destructors: see [`leave_now`]).
struct Outcome {
    code: u8,
    farewell: Option<String>,
    engine_left_running: bool,
}

impl From<u8> for Outcome {
    fn from(code: u8) -> Outcome {
        Outcome {
            code,
            farewell: None,
            engine_left_running: false,
        }
    }
}

impl Runtime {
    fn new(template: RunSpec) -> Runtime {
        Runtime {
            template,
            engine: None,
            watch: None,
            jobs: jobs::Jobs::default(),
        }
    }

    async fn run(mut self, app: &mut App, term: &mut terminal::Guard) -> Result<Outcome> {
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
            if let Some(exit) = self.serve_requests(app) {
                break exit;
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
                _ = tick.tick() => {
                    match self.drain(app) {
                        Drained::Nothing => {}
                        Drained::Events => engine_dirty = true,
                        Drained::Closed => {
                            self.engine_ended(app);
                            engine_dirty = true;
                        }
                    }
                    engine_dirty |= self.follow(app);
                    for done in self.jobs.finished() {
                        done.apply(app);
                        input_dirty = true;
                    }
                }
                _ = sigterm.recv() => break Exit::Signal(libc::SIGTERM),
                _ = sighup.recv() => break Exit::Signal(libc::SIGHUP),
                _ = sigint.recv() => break Exit::Signal(libc::SIGINT),
            }
        };
        let code: u8 = match exit {
            Exit::Background => return Ok(self.hand_over(app, 0).await),
            // Leaving a watched run says nothing about how that run went.
            Exit::Quit if app.watching => 0,
            Exit::Quit => {
                if app.state.is_active() {
                    // Ctrl-C again while the run was stopping: leave at once.
                    return Ok(self.left_at_once(app));
                }
                if app.state == app::RunState::Failed {
                    1
                } else {
                    0
                }
            }
            // The terminal is gone (a dropped SSH connection, a closed window): nobody is
            // left to answer the workbench, so a run in progress goes on in a detached process,
            // as a headless run goes on through SIGHUP. Its checkpoint is written first.
            Exit::Signal(libc::SIGHUP) | Exit::Lost => {
                let hang_up = 128 + libc::SIGHUP as u8;
                // A stop the user already asked for stays a stop.
                if self.engine.is_some() && app.state.is_active() && !app.stop_requested {
                    app.keep_in_background();
                }
                self.stop_and_wait(app).await;
                if app.take_requests().contains(&Request::Background) {
                    return Ok(self.hand_over(app, hang_up).await);
                }
                hang_up
            }
            Exit::Signal(sig) => {
                self.stop_and_wait(app).await;
                if app.take_requests().contains(&Request::Background) {
                    // Quitting to the background was under way: the run still goes on.
                    return Ok(self.hand_over(app, 0).await);
                }
                128 + sig as u8
            }
        };
        let mut outcome = Outcome::from(code);
        if let Some(h) = self.engine.take() {
            if app.state.is_active() {
                // The engine did not stop within the grace period (a long step or
                // evaluation): the process ends without waiting for it.
                outcome.engine_left_running = !h.thread.is_finished();
                outcome.farewell = self.left_at_once(app).farewell;
            } else {
                let _ = h.thread.join();
            }
        }
        Ok(outcome)
    }

    /// The window closes while the engine is still stopping. The run keeps what its last
    /// checkpoint holds; `bapw resume` continues from there.
    fn left_at_once(&mut self, app: &App) -> Outcome {
        let running = self.engine.take().is_some_and(|h| !h.thread.is_finished());
        let farewell = app.run.as_ref().map(|r| {
            let dir = PathBuf::from(&r.run_dir);
            let arg = resume_arg(&dir);
            let step = app.progress.steps_done;
            match app.progress.last_checkpoint {
                Some(c) => format!(
                    "bapw: left at once while {} was stopping at step {step}; its last \
                     checkpoint is at step {c}: `bapw resume {arg}` continues from there",
                    run_name(&dir)
                ),
                None => format!(
                    "bapw: left at once while {} was stopping at step {step}, before its first \
                     checkpoint: start it again with `bapw train`",
                    run_name(&dir)
                ),
            }
        });
        Outcome {
            code: 130,
            farewell,
            engine_left_running: running,
        }
    }

    /// Carries out what the app asked for; `Some` when the window is to close.
    fn serve_requests(&mut self, app: &mut App) -> Option<Exit> {
        for r in app.take_requests() {
            match r {
                Request::Quit => return Some(Exit::Quit),
                Request::Background => return Some(Exit::Background),
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
                Request::StartRun => {
                    // A resume applies to the first run only.
                    let resume = self.template.resume.take();
                    self.start(app, resume)
                }
                Request::ListRuns => self.jobs.list_runs(self.template.runs_dir.clone()),
                Request::Watch(name) => {
                    let dir = self.template.runs_dir.join(name);
                    self.watch_run(app, dir)
                }
                Request::Resume(name) => {
                    let dir = self.template.runs_dir.join(name);
                    self.resume_run(app, dir)
                }
                Request::Compare(name) => {
                    self.jobs.compare(self.template.runs_dir.join(name));
                }
                Request::Export { pane, run_dir } => {
                    // A watched run's log may name its folder relative to another directory.
                    let run_dir = self.watch.as_ref().map_or(run_dir, |w| w.dir.clone());
                    self.jobs.export(pane, run_dir)
                }
            }
        }
        None
    }

    /// Spawns an engine on the app's settings, or on the run in `resume`.
    fn start(&mut self, app: &mut App, resume: Option<PathBuf>) {
        self.end_engine();
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
            // A chosen name applies to the first run only.
            run_name: if resume.is_some() {
                None
            } else {
                self.template.run_name.take()
            },
            device: self.template.device,
            autostart: true,
            resume,
            resume_step: None,
            resume_sets: Vec::new(),
            log_every: app.preset.train.log_every,
            // The user can act on a pause, so a NaN loss pauses instead of failing.
            interactive: true,
        };
        match engine::spawn(spec) {
            Ok(h) => self.engine = Some(h),
            Err(e) => app.start_failed(&format!("{e:#}")),
        }
    }

    /// Lets go of an engine whose run has ended (its thread is ending or has ended).
    fn end_engine(&mut self) {
        if self.engine.as_ref().is_some_and(|e| e.thread.is_finished()) {
            if let Some(h) = self.engine.take() {
                let _ = h.thread.join();
            }
        }
    }

    /// Switches the window to following the run in `dir`.
    fn watch_run(&mut self, app: &mut App, dir: PathBuf) {
        let (preset, label) = match watched_preset(&dir) {
            Ok(p) => p,
            Err(e) => return app.note(app::Level::Error, format!("cannot watch: {e:#}")),
        };
        self.end_engine();
        app.open_run(preset.clone(), &label, true);
        drop_self_compare(app, &dir);
        let w = Watch::new(dir, preset, label);
        app.note(
            app::Level::Info,
            format!(
                "watching {}: read-only, q leaves (the run is not affected)",
                w.name()
            ),
        );
        self.watch = Some(w);
    }

    /// Continues the stopped run in `dir` in this window.
    fn resume_run(&mut self, app: &mut App, dir: PathBuf) {
        let (preset, label) = match watched_preset(&dir) {
            Ok(p) => p,
            Err(e) => return app.note(app::Level::Error, format!("cannot resume: {e:#}")),
        };
        self.watch = None;
        app.open_run(preset, &label, false);
        drop_self_compare(app, &dir);
        app.note(app::Level::Info, format!("resuming {}", run_name(&dir)));
        app.state = app::RunState::Starting;
        self.start(app, Some(dir));
    }

    /// Folds in what the watched run's writer has appended; true when the app changed.
    fn follow(&mut self, app: &mut App) -> bool {
        let Some(w) = self.watch.as_mut() else {
            return false;
        };
        match w.follower.poll() {
            Ok(Update::Events(events)) if events.is_empty() => {
                // Quiet: a paused run, or a writer that died without a `finished` event.
                if !app.state.is_active() || w.last_writer_check.elapsed() < WRITER_CHECK {
                    return false;
                }
                w.last_writer_check = Instant::now();
                if RunLock::is_held(&w.dir) {
                    return false;
                }
                app.writer_gone();
                true
            }
            Ok(Update::Events(events)) => {
                w.last_writer_check = Instant::now();
                for ev in &events {
                    app.apply(ev);
                }
                true
            }
            Ok(Update::Reset(events)) => {
                // Another process resumed the run and cut its log back to a checkpoint.
                app.open_run(w.preset.clone(), &w.label, true);
                app.note(
                    app::Level::Info,
                    format!("{} was resumed: replaying its log", w.name()),
                );
                for ev in &events {
                    app.apply(ev);
                }
                true
            }
            Err(e) => {
                app.note(
                    app::Level::Error,
                    format!("stopped following {}: {e:#}", w.name()),
                );
                self.watch = None;
                true
            }
        }
    }

    /// The run has stopped at a checkpoint: start the detached process that continues it,
    /// wait until it holds the run, and say how to find it again. `handed` is the exit code
    /// once it does (a signal's 128 + n when a signal closed the window).
    async fn hand_over(&mut self, app: &mut App, handed: u8) -> Outcome {
        // The engine has reported `finished`; its thread releases the run's lock as it ends.
        if let Some(h) = self.engine.take() {
            let _ = h.thread.join();
        }
        let Some(dir) = app.run.as_ref().map(|r| PathBuf::from(&r.run_dir)) else {
            return Outcome {
                code: 1,
                farewell: Some("bapw: no run to continue in the background".into()),
                engine_left_running: false,
            };
        };
        let name = run_name(&dir);
        let step = app.progress.steps_done;
        let started = detach::spawn_resume(&dir, self.template.device);
        let result = match started {
            Ok(mut child) => detach::taken_over(&mut child, &dir)
                .await
                .map(|()| child.id()),
            Err(e) => Err(e),
        };
        let arg = resume_arg(&dir);
        match result {
            Ok(pid) => Outcome {
                code: handed,
                farewell: Some(farewell(&name, &arg, pid, &detach::log_path(&dir))),
                engine_left_running: false,
            },
            Err(e) => Outcome {
                code: 1,
                engine_left_running: false,
                farewell: Some(format!(
                    "bapw: could not continue {name} in the background: {e:#}\n  \
                     it is stopped at step {step} with a checkpoint: `bapw resume {arg}` goes on"
                )),
            },
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
            app.apply(&Event::Error(ErrorReport {
                step,
                message: "the engine thread ended without reporting why".into(),
            }));
            app.apply(&Event::Finished(Finished {
                step,
                state: crate::events::EndState::Failed,
                sparsity: f64::NAN,
                test_acc: f64::NAN,
                seconds: 0.0,
            }));
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

/// What to print once the terminal is back after a hand-over: where the run went and the
/// two commands that find it again.
fn farewell(name: &str, arg: &str, pid: u32, log: &Path) -> String {
    let watch = format!("bapw watch {arg}");
    let kill = format!("kill {pid}");
    let w = watch.len().max(kill.len()) + 2;
    format!(
        "bapw: run {name} continues in the background (pid {pid}; output in {})\n  \
         {watch:<w$}reattach the workbench\n  \
         {kill:<w$}stop it (a checkpoint is written; `bapw resume {arg}` goes on)",
        log.display()
    )
}

enum Drained {
    Nothing,
    Events,
    /// The channel is empty and closed: the engine thread has ended.
    Closed,
}
