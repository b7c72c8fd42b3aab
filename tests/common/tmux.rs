//! The real binary in a detached tmux session, driven with keys and read back with
//! `capture-pane`, as a user would see it. Every wait polls the screen until the expected text
//! appears (or a generous timeout fails with the last screen), never a fixed sleep. Without
//! tmux a test is skipped with a note, unless `CI` or `BAPW_REQUIRE_TMUX` is set, where a
//! missing tmux is a failure.
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(90);
/// Printed by the pane's shell after bapw exits: `bapw-e2e-exit=<status>`.
pub const EXIT_MARKER: &str = "bapw-e2e-exit=";

pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// A fresh server on its own socket (so a test never touches the user's sessions), one
    /// 120x40 window running `shell_command`.
    pub fn start(shell_command: &str) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let t = Tmux {
            socket: format!("bapw-e2e-{}-{n}", std::process::id()),
        };
        let out = t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "120",
            "-y",
            "40",
            shell_command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "e2e"]);
        // Legends join words with no-break spaces; match them as plain spaces.
        String::from_utf8_lossy(&out.stdout).replace('\u{a0}', " ")
    }

    /// A pane variable (`#{alternate_on}`, `#{cursor_flag}`, `#{pane_pid}`...).
    pub fn pane_var(&self, name: &str) -> String {
        let out = self.run(&[
            "display-message",
            "-p",
            "-t",
            "e2e",
            &format!("#{{{name}}}"),
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?}: {out:?}");
    }

    /// Text typed literally (no key names).
    pub fn type_text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "e2e", "-l", text]);
        assert!(out.status.success(), "tmux send-keys -l {text:?}: {out:?}");
    }

    /// Polls the screen until `pred` holds; fails with the last screen after `WAIT`.
    pub fn wait_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > WAIT {
                panic!("timed out after {WAIT:?} waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |s| s.contains(text))
    }

    /// Polls until `pred` holds and the screen has stopped changing (two captures alike), so
    /// a frame is never compared half drawn.
    pub fn wait_settled(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let s = self.screen();
            if pred(&s) && s == last {
                return s;
            }
            if start.elapsed() > WAIT {
                panic!("timed out after {WAIT:?} waiting for {what}; the screen:\n{s}");
            }
            last = s;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the `bapw` the pane's shell started.
    pub fn bapw_pid(&self) -> i32 {
        let shell: i32 = self.pane_var("pane_pid").parse().expect("a pane pid");
        let mut found = None;
        poll("bapw to run under the pane's shell", || {
            found = child_named(shell, "bapw");
            found.is_some()
        });
        found.unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // A workbench still on screen (a test that failed half-way) would take kill-server's
        // hang-up for a dropped connection and hand its run to a background process that
        // outlives the test: end it first, with a signal it cannot answer.
        if let Ok(shell) = self.pane_var("pane_pid").parse::<i32>() {
            for pid in descendants(shell) {
                if comm(pid).as_deref() == Some("bapw") {
                    // SAFETY: killing a process this test started in its own tmux server.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = self.run(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// False (with a note) when the test should be skipped; panics when tmux is required.
pub fn tmux_or_skip() -> bool {
    if tmux_available() {
        return true;
    }
    let required = ["CI", "BAPW_REQUIRE_TMUX"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    assert!(
        !required,
        "tmux is required for the TUI end-to-end tests (CI or BAPW_REQUIRE_TMUX is set): \
         install it, e.g. `apt-get install tmux`"
    );
    eprintln!("skipping the TUI end-to-end test: tmux is not installed");
    false
}

/// Every process as (pid, parent pid, command name), from /proc (no procps needed).
fn processes() -> Vec<(i32, i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so split at the last ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

fn comm(pid: i32) -> Option<String> {
    processes()
        .into_iter()
        .find(|(p, _, _)| *p == pid)
        .map(|(_, _, c)| c)
}

/// The child of `parent` whose command name is `name`.
pub fn child_named(parent: i32, name: &str) -> Option<i32> {
    processes()
        .into_iter()
        .find(|(_, ppid, comm)| *ppid == parent && comm == name)
        .map(|(pid, _, _)| pid)
}

/// Children, grandchildren... of `root`.
fn descendants(root: i32) -> Vec<i32> {
    let all = processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            all.iter()
                .filter(|(_, pp, _)| *pp == parent)
                .map(|(p, _, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// A path quoted for the shell.
pub fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The prefix of the env every session gets: private data and config folders, colours on.
pub fn env_prefix(data: &Path, config: &Path) -> String {
    format!(
        "env -u NO_COLOR BAPW_DATA_DIR={} BAPW_CONFIG_DIR={} {}",
        quote(data),
        quote(config),
        quote(Path::new(env!("CARGO_BIN_EXE_bapw"))),
    )
}

/// Polls `pred` every 50 ms until it holds; fails after `WAIT`.
pub fn poll(what: &str, mut pred: impl FnMut() -> bool) {
    let start = Instant::now();
    while !pred() {
        assert!(
            start.elapsed() < WAIT,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A live process (not a zombie waiting to be reaped).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// Stops a background process should the test fail before it does.
pub struct StopOnDrop(pub i32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: signalling the background process this test's run started.
            unsafe { libc::kill(self.0, libc::SIGTERM) };
        }
    }
}

/// The step in the header line (`step 1234/5678`).
pub fn step_of(screen: &str) -> Option<usize> {
    let header = screen.lines().next()?;
    let after = header.split("step ").nth(1)?;
    after.split('/').next()?.trim().parse().ok()
}

/// Size of a run's `events.jsonl` (0 when missing).
pub fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("events.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0)
}
