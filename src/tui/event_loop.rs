//! The window's event loop: one current-thread tokio loop selects over terminal input, engine
//! events, signals and a frame tick; the engine trains on its own thread and is only ever
//! talked to through its command channel, so the UI never waits on a training step.
//!
//! Frames are drawn at most every 50 ms after a key and every 100 ms for engine events. Engine
//! events are drained on the 50 ms tick and folded in as a batch: a fast run sends thousands
//! a second, each costs a few series pushes (tens of nanoseconds), and a frame costs well
//! under a millisecond.
//!
//! A window either owns its run (the engine thread) or watches one another process writes
//! (`bapw watch`, or Enter in the run list): then its `events.jsonl` is followed on the same
//! tick and folded in through the same `App::apply`. The loop carries out the app's
//! [`Request`]s: engine commands, starting, watching or resuming a run, file jobs, quitting,
//! and the hand-over of a run to a background process.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::error::TryRecvError;

use super::app::{App, Request};
use super::detach;
use super::file_jobs::Jobs;
use super::model::{Level, RunState};
use super::monitor_feed::MonitorFeed;
use super::run_folder;
use super::terminal;
use crate::config::preset::Preset;
use crate::events::{EndState, ErrorReport, Event, Finished};
use crate::run::follow::{Follower, Update};
use crate::train::{spawn, EngineHandle, RunSpec};

const INPUT_FRAME: Duration = Duration::from_millis(50);
const ENGINE_FRAME: Duration = Duration::from_millis(100);
/// Most engine events folded in per tick before input gets another look (a tick's worth
/// at tens of thousands of steps a second).
const EVENT_BATCH: usize = 65_536;
/// How long a signal waits for the engine to write its checkpoint.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often a watched run that has gone quiet is checked for a live writer.
const WRITER_CHECK: Duration = Duration::from_secs(1);

/// The settings a run in `dir` started with, and the name to show for them.
pub fn run_preset(dir: &Path) -> Result<(Preset, String)> {
    let preset = run_folder::preset(dir)?;
    let label = if preset.name.is_empty() {
        "run".to_string()
    } else {
        preset.name.clone()
    };
    Ok((preset, label))
}

/// A run another process writes, followed through its log.
pub struct Watch {
    dir: PathBuf,
    follower: Follower,
    /// `preset.toml`: a replay from the top starts from it again.
    preset: Preset,
    label: String,
    last_writer_check: Instant,
}

impl Watch {
    pub fn new(dir: PathBuf, preset: Preset, label: String) -> Watch {
        Watch {
            follower: run_folder::follow(&dir),
            dir,
            preset,
            label,
            last_writer_check: Instant::now(),
        }
    }

    pub fn name(&self) -> String {
        run_folder::name(&self.dir)
    }
}

/// A run compared with itself says nothing: unpin it when it becomes the run on screen.
fn drop_self_compare(app: &mut App, dir: &Path) {
    if app
        .compare
        .as_ref()
        .is_some_and(|c| c.label == run_folder::name(dir))
    {
        app.compare = None;
    }
}

/// The loop's own state: the engine (if one runs), the watched run (if one is followed),
/// file jobs in flight, and what the next run starts from.
pub struct EventLoop {
    template: RunSpec,
    engine: Option<EngineHandle>,
    watch: Option<Watch>,
    jobs: Jobs,
    /// The GPU strip's sampler.
    monitor: MonitorFeed,
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
/// LibTorch's destructors: see `tui::leave_now`).
pub struct Ending {
    pub code: u8,
    pub farewell: Option<String>,
    pub engine_left_running: bool,
}

impl From<u8> for Ending {
    fn from(code: u8) -> Ending {
        Ending {
            code,
            farewell: None,
            engine_left_running: false,
        }
    }
}

impl EventLoop {
    /// A loop whose window owns its runs, started from `template`.
    pub fn new(template: RunSpec) -> EventLoop {
        EventLoop {
            template,
            engine: None,
            watch: None,
            jobs: Jobs::default(),
            monitor: MonitorFeed::default(),
        }
    }

    /// A loop whose window follows the run another process writes (`watch`).
    pub fn watching(template: RunSpec, watch: Watch) -> EventLoop {
        EventLoop {
            watch: Some(watch),
            ..EventLoop::new(template)
        }
    }

    /// What the next run of this window starts from.
    pub fn template(&self) -> &RunSpec {
        &self.template
    }

    /// The name of the run followed, if this window watches one.
    pub fn watched(&self) -> Option<String> {
        self.watch.as_ref().map(Watch::name)
    }

    /// Runs the window until it closes: keys, engine events, the watched log, finished file
    /// jobs and signals, with a frame drawn when something changed.
    pub async fn run(mut self, app: &mut App, term: &mut terminal::Guard) -> Result<Ending> {
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
                if term.draw_with(|f| app.draw(f)).is_err() {
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
                    engine_dirty |= self.monitor.poll(&mut app.ui.gpu);
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
                if app.run.state.is_active() {
                    // Ctrl-C again while the run was stopping: leave at once.
                    return Ok(self.left_at_once(app));
                }
                if app.run.state == RunState::Failed {
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
                if self.engine.is_some() && app.run.state.is_active() && !app.stop_requested {
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
        let mut outcome = Ending::from(code);
        if let Some(h) = self.engine.take() {
            if app.run.state.is_active() {
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
    fn left_at_once(&mut self, app: &App) -> Ending {
        let running = self.engine.take().is_some_and(|h| !h.thread.is_finished());
        let farewell = app.run.started.as_ref().map(|r| {
            let dir = PathBuf::from(&r.run_dir);
            let arg = run_folder::cli_arg(&dir);
            let step = app.run.progress.steps_done;
            // From the folder, not from the events drawn so far: the newest checkpoint may
            // have been written a moment before the window would have seen it.
            match run_folder::last_checkpoint(&dir).or(app.run.progress.last_checkpoint) {
                Some(c) => format!(
                    "bapw: left at once while {} was stopping at step {step}; its last \
                     checkpoint is at step {c}: `bapw resume {arg}` continues from there",
                    run_folder::name(&dir)
                ),
                None => format!(
                    "bapw: left at once while {} was stopping at step {step}, before its first \
                     checkpoint: start it again with `bapw train`",
                    run_folder::name(&dir)
                ),
            }
        });
        Ending {
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
                            Level::Warn,
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
        let label = app.run.label.clone();
        // A chosen name applies to the first run only.
        let name = if resume.is_some() {
            None
        } else {
            self.template.run_name.take()
        };
        let spec = RunSpec {
            resume,
            ..RunSpec::new(
                app.run.preset.clone(),
                label,
                self.template.runs_dir.clone(),
            )
        }
        .named(name)
        .edited(app.run.preset_edited)
        .on(self.template.device)
        // The user can act on a pause, so a NaN loss pauses instead of failing.
        .interactive(true);
        match spawn(spec) {
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
        let (preset, label) = match run_preset(&dir) {
            Ok(p) => p,
            Err(e) => return app.note(Level::Error, format!("cannot watch: {e:#}")),
        };
        self.end_engine();
        app.open_run(preset.clone(), &label, true);
        drop_self_compare(app, &dir);
        let w = Watch::new(dir, preset, label);
        app.note(
            Level::Info,
            format!(
                "watching {}: read-only, q leaves (the run is not affected)",
                w.name()
            ),
        );
        self.watch = Some(w);
    }

    /// Continues the stopped run in `dir` in this window.
    fn resume_run(&mut self, app: &mut App, dir: PathBuf) {
        let (preset, label) = match run_preset(&dir) {
            Ok(p) => p,
            Err(e) => return app.note(Level::Error, format!("cannot resume: {e:#}")),
        };
        self.watch = None;
        app.open_run(preset, &label, false);
        drop_self_compare(app, &dir);
        app.note(Level::Info, format!("resuming {}", run_folder::name(&dir)));
        app.run.state = RunState::Starting;
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
                if !app.run.state.is_active() || w.last_writer_check.elapsed() < WRITER_CHECK {
                    return false;
                }
                w.last_writer_check = Instant::now();
                if run_folder::writer_alive(&w.dir) {
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
                    Level::Info,
                    format!("{} was resumed: replaying its log", w.name()),
                );
                for ev in &events {
                    app.apply(ev);
                }
                true
            }
            Err(e) => {
                app.note(
                    Level::Error,
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
    async fn hand_over(&mut self, app: &mut App, handed: u8) -> Ending {
        // The engine has reported `finished`; its thread releases the run's lock as it ends.
        if let Some(h) = self.engine.take() {
            let _ = h.thread.join();
        }
        let Some(dir) = app.run.started.as_ref().map(|r| PathBuf::from(&r.run_dir)) else {
            return Ending {
                code: 1,
                farewell: Some("bapw: no run to continue in the background".into()),
                engine_left_running: false,
            };
        };
        let name = run_folder::name(&dir);
        let step = app.run.progress.steps_done;
        let started = detach::spawn_resume(&dir, self.template.device);
        let result = match started {
            Ok(mut child) => detach::taken_over(&mut child, &dir)
                .await
                .map(|()| child.id()),
            Err(e) => Err(e),
        };
        let arg = run_folder::cli_arg(&dir);
        match result {
            Ok(pid) => Ending {
                code: handed,
                farewell: Some(detach::farewell(
                    &name,
                    &arg,
                    pid,
                    &run_folder::headless_log(&dir),
                )),
                engine_left_running: false,
            },
            Err(e) => Ending {
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
        if app.run.state.is_active() {
            // The engine reports every ending itself; this is the thread vanishing.
            let step = app.run.progress.steps_done;
            app.apply(&Event::Error(ErrorReport {
                step,
                message: "the engine thread ended without reporting why".into(),
            }));
            app.apply(&Event::Finished(Finished {
                step,
                state: EndState::Failed,
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
        if app.run.state.is_active() {
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
