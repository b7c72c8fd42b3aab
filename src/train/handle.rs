//! A face's side of a running engine: [`spawn`] starts the engine thread on a run folder and
//! gives back its command channel and its event stream. It knows nothing of terminals;
//! LibTorch calls block, so they run on that thread, never on a UI's async runtime.
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::alerts::StallClock;
pub use super::engine::Command;
use super::engine::Engine;
use super::oom::{self, OutOfMemory};
use super::sink::Sink;
use super::spec::RunSpec;
use crate::device::{device_name, resolve_device};
use crate::events::{Alert, EndState, ErrorReport, Event, Finished};
use crate::run::{self, RunDir};

/// The UI's side of a running engine.
pub struct EngineHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: UnboundedReceiver<Event>,
    pub run_dir: PathBuf,
    pub thread: JoinHandle<()>,
}

/// Creates the run folder and starts the engine thread.
pub fn spawn(spec: RunSpec) -> Result<EngineHandle> {
    let run = match &spec.resume {
        Some(dir) => RunDir::open(dir)?,
        None => {
            let mut saved = spec.preset.clone();
            if spec.edited {
                // What the folder keeps says the settings are not the named preset's.
                saved.name = format!("{}{}", saved.name, super::spec::EDITED);
            }
            let name = spec
                .run_name
                .clone()
                .unwrap_or_else(|| run::default_name(&saved.name));
            RunDir::create(&spec.runs_dir, &name, &saved)?
        }
    };
    let lock = run.lock()?;
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (ev_tx, ev_rx) = unbounded_channel();
    let sink = Sink::new(run.open_log()?, ev_tx);
    let run_dir = run.path().to_path_buf();
    let device = device_name(resolve_device(spec.device).0);
    let clock = Arc::new(StallClock::new(0.0));
    let (alive_tx, alive_rx) = mpsc::channel::<()>();
    watchdog(
        clock.clone(),
        sink.clone(),
        cmd_tx.clone(),
        alive_rx,
        spec.interactive,
    )?;
    let thread = std::thread::Builder::new()
        .name("bapw-engine".into())
        .spawn(move || {
            // Held until the engine thread ends: one writer per run folder.
            let _lock = lock;
            // Dropped when the thread ends, which ends the watchdog.
            let _alive = alive_tx;
            // An allocation failure is caught below and reported as a message.
            oom::report_on_this_thread();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Engine::run(spec, run, cmd_rx, &sink, clock)
            }));
            let err = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) if e.is::<OutOfMemory>() => Some(e.to_string()),
                Ok(Err(e)) => Some(failure_message(&device, format!("{e:#}"))),
                Err(p) => Some(failure_message(
                    &device,
                    format!(
                        "internal error (LibTorch or engine panic): {}",
                        oom::panic_text(&*p)
                    ),
                )),
            };
            if let Some(message) = err {
                tracing::error!("run failed: {message}");
                let step = sink.step();
                sink.emit(ErrorReport { step, message });
                sink.emit(Finished {
                    step,
                    state: EndState::Failed,
                    sparsity: f64::NAN,
                    test_acc: f64::NAN,
                    seconds: 0.0,
                });
            }
        })?;
    Ok(EngineHandle {
        commands: cmd_tx,
        events: ev_rx,
        run_dir,
        thread,
    })
}

/// How often the watchdog looks at the stall clock.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// A thread that reports a step running longer than `alerts.stall_seconds`: an engine stuck in
/// a step cannot report it itself. It writes the `alert` event at once, then asks for a pause
/// (workbench) or a stop (headless), which the engine carries out when the step ends. It ends
/// with the engine thread (`alive` disconnects).
fn watchdog(
    clock: Arc<StallClock>,
    sink: Sink,
    commands: mpsc::Sender<Command>,
    alive: mpsc::Receiver<()>,
    interactive: bool,
) -> Result<()> {
    std::thread::Builder::new()
        .name("bapw-watchdog".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = alive.recv_timeout(WATCH_EVERY) {
                let Some(fired) = clock.check() else {
                    continue;
                };
                sink.emit(Alert {
                    step: sink.step(),
                    rule: fired.rule.into(),
                    message: fired.message,
                });
                let _ = commands.send(if interactive {
                    Command::Pause
                } else {
                    Command::Stop
                });
            }
        })?;
    Ok(())
}

/// A run's failure as the user reads it: an allocation that failed outside the guarded
/// batch-sized work (building the model, loading the data, the test pass) is still an
/// out-of-memory message, not LibTorch's backtrace.
fn failure_message(device: &str, text: String) -> String {
    if oom::is_out_of_memory(&text) {
        oom::advice(device, None, &text)
    } else {
        text
    }
}
