//! The signal matrix for the workbench: a real interactive bash in tmux starts `bapw train`,
//! the test sends one signal to the bapw process (a real signal, not the Ctrl-C key), and then
//! types into the same shell to prove it is usable: `echo ok-$((40+2))` must print `ok-42`
//! and `stty -g` must equal what it printed before bapw started (cooked mode, echo).
//!
//! - SIGINT, SIGTERM: the terminal is restored, the run stops with a checkpoint at the stop
//!   step (`finished` stopped), exit code 128 + n.
//! - SIGHUP: the terminal is restored and the run is handed to a detached `bapw resume
//!   --headless`, which goes on training; exit code 129.
//! - Ctrl-C three times, quickly, while a slow step runs (the keys, not a signal): the quit
//!   dialog, its "yes" (stop with a checkpoint, then quit), and "leave at once": exit code 130
//!   with a message naming the last checkpoint, never a crash; `bapw resume` continues.
//! - The monkey: 3,000 random keys into a running workbench, then Ctrl-C three times: no
//!   crash, the terminal restored, the run resumes.
//! - SIGKILL: nothing can be restored by bapw. bash gives the tty its modes back (it restores
//!   them for a job killed by a signal), but the alternate screen stays on and the cursor
//!   hidden until `reset` / `tput rmcup`; `bapw resume` continues the run.
mod common;

use bapw::events::{
    parse_events, read_events, Checkpoint, EndState, Event, Finished, Message, Step,
};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bapw::run::RunLock;
use common::tmux::*;

/// An interactive bash in tmux, in a temp folder that holds the data and config folders.
struct Shell {
    tmux: Tmux,
    home: tempfile::TempDir,
}

impl Shell {
    fn start() -> Shell {
        let home = tempfile::tempdir().unwrap();
        // No rc files, no history file: the user's own shell setup stays out of the test.
        let tmux = Tmux::start("env PS1='test-shell$ ' HISTFILE= bash --norc --noprofile -i");
        tmux.wait_for("test-shell$");
        let shell = Shell { tmux, home };
        shell.type_line(&format!(
            "cd {}; stty -g > before.stty",
            quote(shell.home.path())
        ));
        shell.read_file("before.stty");
        shell
    }

    fn type_line(&self, line: &str) {
        self.tmux.type_text(line);
        self.tmux.keys(&["Enter"]);
    }

    /// A file the shell writes, once complete (one whole line).
    fn read_file(&self, name: &str) -> String {
        let path = self.home.path().join(name);
        let mut text = String::new();
        poll(&format!("the shell to write {name}"), || {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            text.ends_with('\n')
        });
        text
    }

    fn data(&self) -> PathBuf {
        self.home.path().join("data")
    }

    fn run_dir(&self) -> PathBuf {
        self.data().join("runs/sig")
    }

    /// Starts a long run in the workbench and waits until it trains and has checkpointed.
    fn start_run(&self) -> i32 {
        self.start_run_with("--set checkpoint.every=100")
    }

    /// `start_run` with more `--set`s.
    fn start_run_with(&self, sets: &str) -> i32 {
        self.type_line(&format!(
            "{} train --preset smoke --set train.epochs=100000 {sets} \
             --set eval.every=0 --name sig; echo {EXIT_MARKER}$?",
            env_prefix(&self.data(), &self.home.path().join("config"))
        ));
        self.tmux.wait_for("● running");
        let pid = self.tmux.bapw_pid();
        poll("a first checkpoint", || {
            last_checkpoint(&self.run_dir()) > 0
        });
        pid
    }

    /// Types a command and reads its output back: the shell takes input and runs commands.
    /// Returns `stty -g` as the shell sees it now.
    fn check_usable(&self, after: &str) -> String {
        self.type_line(&format!("echo ok-$((40+2)); stty -g > {after}"));
        self.tmux.wait_for("ok-42");
        self.read_file(after)
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // A run handed to the background by a test that failed before stopping it.
        let holder = std::fs::read_to_string(self.run_dir().join("lock"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = holder.filter(|p| alive(*p) && RunLock::is_held(&self.run_dir())) {
            // SAFETY: signalling the background process this test's run started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// The newest periodic checkpoint the log reports (the copy of the best weights is not one a
/// resume starts from).
fn last_checkpoint(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    parse_events(&text)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e {
            Event::Checkpoint(Checkpoint { step, path }) if !path.ends_with("best.safetensors") => {
                Some(*step)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Cooked mode with echo, from `stty -g` (`iflag:oflag:cflag:lflag:...` in hex).
fn cooked_with_echo(stty: &str) -> bool {
    let lflag = stty
        .trim()
        .split(':')
        .nth(3)
        .and_then(|f| u32::from_str_radix(f, 16).ok())
        .expect("stty -g output");
    lflag & libc::ICANON != 0 && lflag & libc::ECHO != 0
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: signalling the bapw process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// The terminal is back and the shell works as before bapw started.
fn assert_terminal_restored(shell: &Shell) {
    assert_eq!(shell.tmux.pane_var("alternate_on"), "0", "the main screen");
    assert_eq!(shell.tmux.pane_var("cursor_flag"), "1", "the cursor shows");
    let before = shell.read_file("before.stty");
    assert!(cooked_with_echo(&before), "{before}");
    assert_eq!(shell.check_usable("after.stty"), before, "stty settings");
}

/// SIGINT and SIGTERM: the run stops at a checkpoint and the terminal is given back.
fn stops_and_restores(sig: i32) {
    if !tmux_or_skip() {
        return;
    }
    let shell = Shell::start();
    let pid = shell.start_run();
    signal(pid, sig);
    // The typed command line holds the marker too: wait for the status after it.
    shell.tmux.wait_for(&format!("{EXIT_MARKER}{}", 128 + sig));
    assert_terminal_restored(&shell);
    let events = read_events(&shell.run_dir().join("events.jsonl")).unwrap();
    let Some(Event::Finished(Finished { state, step, .. })) = events.last() else {
        panic!("last event {:?}", events.last());
    };
    assert_eq!(*state, EndState::Stopped);
    assert_eq!(
        last_checkpoint(&shell.run_dir()),
        *step,
        "checkpoint at the stop"
    );
    assert!(shell.run_dir().join("summary.json").exists());
    assert!(!RunLock::is_held(&shell.run_dir()));
}

#[test]
fn sigint_stops_the_run_and_restores_the_terminal() {
    stops_and_restores(libc::SIGINT);
}

#[test]
fn sigterm_stops_the_run_and_restores_the_terminal() {
    stops_and_restores(libc::SIGTERM);
}

#[test]
fn sighup_restores_the_terminal_and_the_run_goes_on_in_the_background() {
    if !tmux_or_skip() {
        return;
    }
    let shell = Shell::start();
    let pid = shell.start_run();
    signal(pid, libc::SIGHUP);
    let s = shell.tmux.wait_for(&format!("{EXIT_MARKER}129"));
    assert!(s.contains("run sig continues in the background"), "{s}");
    assert_terminal_restored(&shell);

    // Another process holds the run now and trains on from the checkpoint.
    let dir = shell.run_dir();
    // The new holder writes its pid into the lock file just after taking the lock.
    let mut holder = 0;
    poll("the background process's pid in the lock file", || {
        holder = std::fs::read_to_string(dir.join("lock"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        holder != 0 && holder != pid
    });
    let _stop = StopOnDrop(holder);
    assert!(RunLock::is_held(&dir) && alive(holder));
    let handed = last_checkpoint(&dir);
    poll("the background run to train on", || {
        last_checkpoint(&dir) > handed
    });
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    assert!(events.iter().any(|e| matches!(e,
        Event::Message(Message { text, .. }) if text.starts_with("resumed from"))));
    signal(holder, libc::SIGTERM);
    poll("the background run to stop", || !RunLock::is_held(&dir));
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: EndState::Stopped,
            ..
        }))
    ));
}

#[test]
fn sigkill_leaves_a_usable_shell_reset_restores_the_screen_and_resume_continues() {
    if !tmux_or_skip() {
        return;
    }
    let shell = Shell::start();
    let pid = shell.start_run();
    let dir = shell.run_dir();
    signal(pid, libc::SIGKILL);
    shell.tmux.wait_for(&format!("{EXIT_MARKER}137"));

    // bapw could restore nothing: the last frame stays on the alternate screen, cursor hidden.
    assert_eq!(shell.tmux.pane_var("alternate_on"), "1");
    assert_eq!(shell.tmux.pane_var("cursor_flag"), "0");
    // The shell works, with its modes back: bash restores the tty settings it saved before
    // starting a job that a signal killed.
    let before = shell.read_file("before.stty");
    assert_eq!(shell.check_usable("after.stty"), before);
    // `reset` clears the leftovers and shows the cursor; under tmux the alternate screen
    // needs `tput rmcup` as well (a real xterm leaves it on reset).
    shell.type_line("reset; echo reset-$((1+1))");
    let s = shell.tmux.wait_for("reset-2");
    assert!(!s.contains("1 Schedule"), "the last frame is gone:\n{s}");
    assert_eq!(shell.tmux.pane_var("cursor_flag"), "1");
    shell.type_line("tput rmcup");
    poll("the main screen", || {
        shell.tmux.pane_var("alternate_on") == "0"
    });

    resume_continues(&shell, &dir);
}

/// `bapw resume` continues the run in `dir` from its last checkpoint: the lost steps are done
/// again, every step appears once and in order, and a SIGTERM stops it cleanly.
fn resume_continues(shell: &Shell, dir: &Path) {
    let kept = last_checkpoint(dir);
    assert!(kept > 0);
    let mut resume = common::bapw()
        .args(["resume", "sig", "--headless"])
        .env("BAPW_DATA_DIR", shell.data())
        .env("BAPW_CONFIG_DIR", shell.home.path().join("config"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _stop = StopOnDrop(resume.id() as i32);
    poll("the resumed run to pass its checkpoint", || {
        last_checkpoint(dir) > kept
    });
    signal(resume.id() as i32, libc::SIGTERM);
    assert!(resume.wait().unwrap().success());
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    assert!(events.iter().any(|e| matches!(e,
        Event::Message(Message { text, .. }) if text.starts_with("resumed from"))));
    let steps: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(Step { step, .. }) => Some(*step),
            _ => None,
        })
        .collect();
    assert!(steps.len() > kept, "{} steps", steps.len());
    assert!(
        steps.iter().enumerate().all(|(i, s)| i == *s),
        "every step once, in order"
    );
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: EndState::Stopped,
            ..
        }))
    ));
}

/// Ctrl-C, Ctrl-C, Ctrl-C in one burst while the engine is inside a step of a few hundred
/// milliseconds: the process used to end while the engine thread was still in LibTorch, whose
/// static destructors then ran under it (a segmentation fault, exit 139, or a LibTorch panic
/// printed on the shell). Now it leaves at once with exit code 130 and a message naming the
/// last checkpoint, the terminal is restored, and the run resumes from that checkpoint.
#[test]
fn three_quick_ctrl_c_leave_at_once_cleanly_and_the_run_resumes() {
    if !tmux_or_skip() {
        return;
    }
    let shell = Shell::start();
    // BAP with 50 DeepFool iterations through a wide MLP on 64x64 images: slow steps, so the
    // third Ctrl-C comes while the engine is still working on the step it must finish.
    shell.start_run_with(
        "--set checkpoint.every=1 --set train.mode=bap --set adv.deepfool_iters=50 \
         --set data.synthetic.height=64 --set data.synthetic.width=64 \
         --set train.batch_size=256 --set model.hidden=[1024,1024]",
    );
    let dir = shell.run_dir();
    shell.tmux.keys(&["C-c", "C-c", "C-c"]);
    let screen = shell.tmux.wait_for(&format!("{EXIT_MARKER}130"));
    assert!(screen.contains("bapw: left at once"), "{screen}");
    assert!(screen.contains("`bapw resume sig` continues"), "{screen}");
    assert!(!screen.contains("Segmentation") && !screen.contains("panicked"));
    assert_terminal_restored(&shell);
    // The process is gone, so its lock is free.
    assert!(!RunLock::is_held(&dir));
    resume_continues(&shell, &dir);
}

/// The monkey, end to end: a few thousand random keys (every key the workbench maps, save
/// `q` and `o`: quitting is the Ctrl-C burst at the end, and another preset could want data
/// this test has not got) into a real training run, then Ctrl-C three times. No crash, the
/// terminal is restored, and the run folder resumes.
#[test]
fn a_monkey_at_the_keyboard_breaks_nothing() {
    if !tmux_or_skip() {
        return;
    }
    let shell = Shell::start();
    shell.start_run_with("--set checkpoint.every=20");
    let dir = shell.run_dir();
    let mut keys: Vec<&str> = vec![
        "Enter", "Escape", "Tab", "BTab", "Up", "Down", "Left", "Right", "PPage", "NPage", "Home",
        "End", "BSpace", "DC", "C-u", "Space",
    ];
    let letters = "abcdefghijklmnprstuvwxyzDEPLR!?.-0123456789";
    let singles: Vec<String> = letters.chars().map(String::from).collect();
    keys.extend(singles.iter().map(String::as_str));
    // A fixed seed: a failure replays exactly.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut sent = 0;
    while sent < 3000 {
        let batch: Vec<&str> = (0..50)
            .map(|_| keys[(next() % keys.len() as u64) as usize])
            .collect();
        shell.tmux.keys(&batch);
        sent += batch.len();
        let s = shell.tmux.screen();
        assert!(!s.contains(&format!("{EXIT_MARKER}1")), "bapw ended:\n{s}");
        assert!(
            !s.contains("panicked") && !s.contains("Segmentation"),
            "{s}"
        );
    }
    // Close whatever is open (one Escape a read: Escape and a key together are Alt+key).
    for _ in 0..3 {
        shell.tmux.keys(&["Escape"]);
    }
    shell.tmux.keys(&["C-c", "C-c", "C-c"]);
    let s = shell.tmux.wait_until("bapw to end", |s| {
        s.contains(&format!("{EXIT_MARKER}0")) || s.contains(&format!("{EXIT_MARKER}130"))
    });
    assert!(
        !s.contains("panicked") && !s.contains("Segmentation"),
        "{s}"
    );
    assert_terminal_restored(&shell);
    assert!(!RunLock::is_held(&dir));
    resume_continues(&shell, &dir);
}
