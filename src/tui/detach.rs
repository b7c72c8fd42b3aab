//! "Keep running in the background": the engine is a thread of the TUI process, so the run
//! cannot simply outlive it. Instead the run stops at a checkpoint and a detached
//! `bapw resume <run> --headless` continues it from there, bit-identically (a resume replays
//! the same seeds, batches and live changes). The child gets its own session (`setsid`), so
//! closing the terminal sends it no SIGHUP, and its output goes to `<run>/headless.log`.
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::run_folder;
use crate::device::DeviceChoice;

/// How long the background process may take to lock the run before it counts as failed.
const TAKE_OVER: Duration = Duration::from_secs(30);

/// Starts `bapw resume <run_dir> --headless` detached from this terminal.
pub fn spawn_resume(run_dir: &Path, device: DeviceChoice) -> Result<Child> {
    let exe = std::env::current_exe().context("finding the bapw executable")?;
    let log_file = run_folder::headless_log(run_dir);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .with_context(|| format!("opening {}", log_file.display()))?;
    let device = device.to_string();
    let mut cmd = Command::new(exe);
    cmd.arg("resume")
        .arg(run_dir)
        .arg("--headless")
        .arg("--device")
        .arg(device)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; setsid is one.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("starting `bapw resume --headless`")
}

/// Waits until `child` holds the run's lock, i.e. has taken the run over. Fails when it exits
/// first (with the end of its log) or does not get there in time.
pub async fn taken_over(child: &mut Child, run_dir: &Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + TAKE_OVER;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                // It took over and already finished what was left.
                return Ok(());
            }
            bail!(
                "the background process exited at once ({status}): {}",
                log_tail(run_dir)
            );
        }
        if run_folder::writer_alive(run_dir) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the background process (pid {}) has not taken the run over after {}s; see {}",
                child.id(),
                TAKE_OVER.as_secs(),
                run_folder::headless_log(run_dir).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last non-empty line of the background log.
fn log_tail(run_dir: &Path) -> String {
    std::fs::read_to_string(run_folder::headless_log(run_dir))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no output".into())
}

/// What to print once the terminal is back after a hand-over: where the run went and the
/// two commands that find it again.
pub fn farewell(name: &str, arg: &str, pid: u32, log: &Path) -> String {
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
