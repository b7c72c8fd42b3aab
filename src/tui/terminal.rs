//! The terminal guard: raw mode, the alternate screen and a hidden cursor while it lives, and
//! the terminal given back on every way out: a normal drop, an error (drop while unwinding the
//! `?`), a panic on the UI thread (the panic hook restores before the message is printed), and
//! signals (the loop handles them and then drops the guard).
//!
//! While the screen is ours, file descriptor 2 points at a log file: LibTorch and other C++
//! code print warnings straight to stderr, which would scribble over the frame.
use std::io::{self, Stdout, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use anyhow::{Context, Result};
use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Whether the screen is currently ours (read by the panic hook).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The real stderr while it is redirected, else -1.
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);
static UI_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
static HOOK: Once = Once::new();

pub struct Guard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    pub fn enter() -> Result<Guard> {
        install_panic_hook();
        if let Ok(mut t) = UI_THREAD.lock() {
            *t = Some(std::thread::current().id());
        }
        enable_raw_mode().context("switching the terminal to raw mode")?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, Hide) {
            restore();
            return Err(e).context("entering the alternate screen");
        }
        redirect_stderr();
        let terminal = match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e).context("setting up the terminal");
            }
        };
        Ok(Guard { terminal })
    }

    /// Draws a frame with `render`.
    pub fn draw_with(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> io::Result<()> {
        self.terminal.draw(render).map(|_| ())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back. Idempotent, and safe from a panic hook: errors are ignored since
/// there is nowhere left to report them.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    restore_stderr();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = io::stdout().flush();
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_ui_thread = UI_THREAD
                .lock()
                .map(|t| *t == Some(std::thread::current().id()))
                .unwrap_or(false);
            if ACTIVE.load(Ordering::SeqCst) && !on_ui_thread {
                // The engine thread catches its panics and reports them as an error event;
                // printing here would scribble over the screen, so the log gets it instead.
                tracing::error!("panic: {info}");
                return;
            }
            restore();
            previous(info);
        }));
    });
}

fn log_path() -> Option<std::path::PathBuf> {
    let dir = crate::config::paths::data_dir().ok()?.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("stderr.log"))
}

fn redirect_stderr() {
    let Some(path) = log_path() else {
        return;
    };
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    // SAFETY: plain descriptor calls; `file` stays open for the dup2 and is closed after,
    // leaving fd 2 as the only reference to it.
    unsafe {
        let saved = libc::dup(2);
        if saved < 0 {
            return;
        }
        if libc::dup2(file.as_raw_fd(), 2) < 0 {
            libc::close(saved);
            return;
        }
        SAVED_STDERR.store(saved, Ordering::SeqCst);
    }
}

fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor dup'ed in `redirect_stderr`, owned by us.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}
