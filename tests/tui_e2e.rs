//! End to end: the real binary in a detached tmux session (120x40), driven with keys and read
//! back with `capture-pane`, as a user would see it (helpers in `common/tmux.rs`: every wait
//! polls the screen, never a fixed sleep).
mod common;

use bapw::events::{EpochEnd, Finished, Message, Step};
use std::path::Path;
use std::process::Command;

use common::tmux::*;

#[test]
fn train_interactively_in_tmux() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    // Long enough to interact with; no periodic checkpoints or evaluations to slow it down.
    let command = format!(
        "{} train --preset smoke \
         --set train.epochs=100000 --set checkpoint.every=0 --set eval.every=0 --name e2e; \
         echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data.path(), config.path()),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("● running");
    tmux.wait_for("1 Schedule");

    // Schedule pane, third field: final sparsity. A refused value first.
    tmux.keys(&["1", "j", "j", "Enter", "C-u"]);
    tmux.type_text("1.5");
    tmux.wait_for("✗ 1.5 is outside [0, 1)");
    tmux.keys(&["Enter"]);
    tmux.wait_for("✗ 1.5 is outside [0, 1)");
    tmux.keys(&["C-u"]);
    tmux.type_text("0.5");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("prune.final_sparsity 0.8 → 0.5");
    assert!(
        s.lines()
            .any(|l| l.contains("final sparsity") && l.contains("0.5")),
        "the field shows the new value:\n{s}"
    );
    tmux.wait_until("the schedule legend to show the new final sparsity", |s| {
        s.contains("0 → 0.5")
    });

    tmux.keys(&["p"]);
    tmux.wait_for("● paused");
    tmux.keys(&["e"]);
    // The evaluation itself can finish (and its result replace the message line) before the
    // screen is read, so look for the request in the message log, which keeps every message.
    tmux.keys(&["!"]);
    tmux.wait_for("evaluation requested");
    // Esc and a key in one read are Alt+key, in any terminal: let the log close first.
    tmux.keys(&["Escape"]);
    tmux.wait_until("the message log to close", |s| !s.contains("Esc closes"));
    tmux.keys(&["p"]);
    tmux.wait_for("● running");

    tmux.keys(&["q"]);
    tmux.wait_for("Stop the run and quit");
    tmux.keys(&["y"]);
    let s = tmux.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "clean exit:\n{s}");
    // Back on the normal screen: the TUI is gone and the shell's output is visible.
    let alt = tmux.run(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    assert!(
        !s.contains("1 Schedule"),
        "the TUI is still on screen:\n{s}"
    );

    // The run folder has what the screen showed.
    let events = std::fs::read_to_string(data.path().join("runs/e2e/events.jsonl")).unwrap();
    for kind in ["param_changed", "paused", "resumed", "finished"] {
        assert!(
            events.contains(&format!("\"kind\":\"{kind}\"")),
            "{kind} missing"
        );
    }
    assert!(events.contains("\"state\":\"stopped\""));
    let settings = std::fs::read_to_string(config.path().join("settings.toml")).unwrap();
    assert!(settings.contains("last_preset = \"smoke\""), "{settings}");
}

/// `bapw` alone reopens the last used preset (a user preset here) without starting; `s`
/// starts it; SIGTERM stops the run cleanly (checkpoint, `finished`) and gives the terminal
/// back.
#[test]
fn reopens_the_last_preset_and_survives_sigterm() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("presets")).unwrap();
    std::fs::write(
        config.path().join("presets/long-smoke.toml"),
        "schema_version = 1\ninherit = \"smoke\"\nname = \"long-smoke\"\n\n[train]\nepochs = 100000\n\n\
         [eval]\nevery = 0\n\n[checkpoint]\nevery = 0\n",
    )
    .unwrap();
    std::fs::write(
        config.path().join("settings.toml"),
        "last_preset = \"long-smoke\"\ntheme = \"ansi16\"\n",
    )
    .unwrap();
    let command = format!(
        "env BAPW_DATA_DIR={} BAPW_CONFIG_DIR={} {}; echo {EXIT_MARKER}$?; exec sleep 600",
        quote(data.path()),
        quote(config.path()),
        quote(Path::new(env!("CARGO_BIN_EXE_bapw"))),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("● idle");
    tmux.wait_for("preset long-smoke");
    assert!(
        !data.path().join("runs").exists(),
        "no run folder before the run starts"
    );
    tmux.keys(&["s"]);
    tmux.wait_for("● running");
    let shell = tmux.run(&["display-message", "-p", "-t", "e2e", "#{pane_pid}"]);
    let shell: i32 = String::from_utf8_lossy(&shell.stdout)
        .trim()
        .parse()
        .unwrap();
    let pid = child_named(shell, "bapw").expect("bapw runs under the pane's shell");
    // SAFETY: sending a signal to a process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let s = tmux.wait_for(EXIT_MARKER);
    assert!(
        s.contains(&format!("{EXIT_MARKER}143")),
        "128 + SIGTERM:\n{s}"
    );
    let alt = tmux.run(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    let runs: Vec<_> = std::fs::read_dir(data.path().join("runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let events = std::fs::read_to_string(runs[0].path().join("events.jsonl")).unwrap();
    assert!(events.contains("\"state\":\"stopped\""), "stopped cleanly");
    assert!(runs[0].path().join("summary.json").exists());
}

/// The part of the screen inside the pane titled `title`: from its top border to its bottom
/// one, from its left border to the right edge (the panes compared here are on the right).
fn pane_text(screen: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let (top, col) = rows
        .iter()
        .enumerate()
        .find_map(|(r, row)| {
            let line: String = row.iter().collect();
            let byte = line.find(title)?;
            Some((r, line[..byte].chars().count() - 2))
        })
        .unwrap_or_else(|| panic!("no pane {title:?} on the screen:\n{screen}"));
    let mut out = String::new();
    for row in &rows[top..] {
        let part: String = row.iter().skip(col).collect();
        out.push_str(&part);
        out.push('\n');
        if matches!(row.get(col), Some('╰' | '┗')) {
            break;
        }
    }
    out
}

/// `bapw watch` on a finished run rebuilds the screen the live run ended with.
#[test]
fn watching_a_finished_run_shows_what_the_live_run_ended_with() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let bapw = env_prefix(data.path(), config.path());
    let live = Tmux::start(&format!(
        "{bapw} train --preset smoke --name done; echo {EXIT_MARKER}$?; exec sleep 600"
    ));
    let ended = live.wait_settled("the live run to finish", |s| {
        s.contains("● finished") && s.contains("run finished after")
    });
    live.keys(&["q"]);
    let s = live.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "clean exit:\n{s}");
    drop(live);

    let watch = Tmux::start(&format!(
        "{bapw} watch done; echo {EXIT_MARKER}$?; exec sleep 600"
    ));
    let watched = watch.wait_settled("the replayed run", |s| {
        s.contains("watching") && s.contains("● finished") && s.contains("run finished after")
    });
    assert_eq!(
        pane_text(&watched, "2 Loss & sparsity"),
        pane_text(&ended, "2 Loss & sparsity"),
        "the Loss pane of the watched run differs from the live one's"
    );
    let events = bapw::events::read_events(&data.path().join("runs/done/events.jsonl")).unwrap();
    let evaluated = events.iter().any(|e| e.kind() == "eval");
    let (live_rob, watched_rob) = (
        pane_text(&ended, "4 Robustness"),
        pane_text(&watched, "4 Robustness"),
    );
    if evaluated {
        assert_eq!(watched_rob, live_rob, "the Robustness pane differs");
    } else {
        assert!(
            live_rob.contains("no evaluation yet") && watched_rob.contains("no evaluation yet")
        );
    }
    // The numbers are the log's.
    let fmt = bapw::tui::text::fmt_num;
    let test_acc = events.iter().rev().find_map(|e| match e {
        bapw::train::Event::EpochEnd(EpochEnd { test_acc, .. }) => Some(*test_acc),
        _ => None,
    });
    let clean_loss = events.iter().rev().find_map(|e| match e {
        bapw::train::Event::Step(Step { clean_loss, .. }) => Some(*clean_loss),
        _ => None,
    });
    for text in [
        format!("test acc {}", fmt(test_acc.unwrap())),
        format!("clean loss {}", fmt(clean_loss.unwrap())),
        "step 48/48".to_string(),
    ] {
        assert!(watched.contains(&text), "{text:?} missing:\n{watched}");
    }
    watch.keys(&["q"]);
    let s = watch.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "q leaves:\n{s}");
}

fn bapw_runs(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bapw"))
        .arg("runs")
        .env("BAPW_DATA_DIR", data)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_state(data: &Path, name: &str) -> String {
    bapw_runs(data)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default()
}

/// `bapw watch` reattaches read-only, and SIGTERM stops it cleanly with the steps unbroken.
#[test]
fn a_run_kept_in_the_background_outlives_its_terminal() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let bapw = env_prefix(data.path(), config.path());
    let dir = data.path().join("runs/bg");
    let tmux = Tmux::start(&format!(
        "{bapw} train --preset smoke --set train.epochs=100000 --set checkpoint.every=0 \
         --set eval.every=0 --name bg; echo {EXIT_MARKER}$?; exec sleep 600"
    ));
    tmux.wait_for("● running");
    tmux.keys(&["q"]);
    tmux.wait_for("Keep running in the background");
    tmux.keys(&["b"]);
    let s = tmux.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "clean exit:\n{s}");
    assert!(s.contains("run bg continues in the background"), "{s}");
    assert!(s.contains("bapw watch bg"), "how to reattach:\n{s}");
    let alt = tmux.run(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(
        String::from_utf8_lossy(&alt.stdout).trim(),
        "0",
        "the shell is back"
    );

    // The hand-over waits until the new process holds the run.
    assert!(bapw::run::RunLock::is_held(&dir));
    assert_eq!(run_state(data.path(), "bg"), "running");
    let pid: i32 = std::fs::read_to_string(dir.join("lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _stop = StopOnDrop(pid);
    // SAFETY: getsid only reads another process's session id.
    assert_eq!(unsafe { libc::getsid(pid) }, pid, "its own session");
    let before = log_len(&dir);
    poll("the background run to train on", || log_len(&dir) > before);

    // Closing the terminal (the tmux server and its shell go) does not reach it.
    drop(tmux);
    let before = log_len(&dir);
    poll("training after the terminal closed", || {
        log_len(&dir) > before
    });
    assert!(alive(pid), "the background process survived the hang-up");

    // Reattach read-only; leaving does not touch the run.
    let watch = Tmux::start(&format!(
        "{bapw} watch bg; echo {EXIT_MARKER}$?; exec sleep 600"
    ));
    let s = watch.wait_until("the watched run", |s| {
        s.contains("watching") && s.contains("● running") && step_of(s).is_some()
    });
    let first = step_of(&s).unwrap();
    watch.wait_until("the watched run to move on", |s| {
        step_of(s).is_some_and(|n| n > first)
    });
    watch.keys(&["p"]);
    watch.wait_for("pause and resume belongs to");
    watch.keys(&["q"]);
    let s = watch.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "q leaves:\n{s}");
    assert!(alive(pid) && bapw::run::RunLock::is_held(&dir));

    // SIGTERM stops it as `bapw resume` does: a checkpoint, `finished` stopped.
    // SAFETY: signalling the background process this test's run started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    poll("the background run to let go", || {
        !bapw::run::RunLock::is_held(&dir)
    });
    let events = bapw::events::read_events(&dir.join("events.jsonl")).unwrap();
    assert!(
        matches!(
            events.last(),
            Some(bapw::train::Event::Finished(Finished {
                state: bapw::events::EndState::Stopped,
                ..
            }))
        ),
        "last event {:?}",
        events.last()
    );
    assert!(dir.join("summary.json").exists());
    assert_eq!(run_state(data.path(), "bg"), "stopped");
    // One unbroken run: every step once, in order, across the hand-over.
    let steps: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            bapw::train::Event::Step(Step { step, .. }) => Some(*step),
            _ => None,
        })
        .collect();
    assert!(steps.len() > 100, "{} steps", steps.len());
    assert!(
        steps.iter().enumerate().all(|(i, s)| i == *s),
        "steps skip or repeat"
    );
    let resumed = events.iter().any(|e| {
        matches!(e, bapw::train::Event::Message(Message { text, .. }) if text.starts_with("resumed from"))
    });
    assert!(
        resumed,
        "the background process resumed from the checkpoint"
    );
    let log = std::fs::read_to_string(dir.join("headless.log")).unwrap();
    assert!(log.contains("stopped at step"), "{log}");
}

/// A diverging run in the workbench, drawn with `--charts ascii`: the run pauses with the
/// banner naming the rule and its numbers; the strip under the progress bar shows this
/// process's CPU (no GPU here) until `g` hides it; both choices are remembered.
#[test]
fn an_alert_pauses_the_workbench_run_and_the_strip_and_charts_follow_their_settings() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let command = format!(
        "{} train --preset smoke \
         --charts ascii --set train.lr=1.0 --set alerts.warmup_steps=0 \
         --set alerts.diverge_steps=3 --set eval.every=0 --name diverges; \
         echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data.path(), config.path()),
    );
    let tmux = Tmux::start(&command);
    let s = tmux.wait_for("⚠ alert (diverging): loss diverging: 3 steps in a row above 4 x");
    assert!(s.contains("● paused"), "{s}");
    assert!(s.contains("p resumes, x stops"), "{s}");
    // The strip: this process's CPU, threads and resident memory.
    let s = tmux.wait_until("the CPU strip", |s| {
        s.lines()
            .any(|l| l.starts_with(" cpu  bapw") && l.contains("threads") && l.contains("resident"))
    });
    // ASCII charts: no braille anywhere on the screen.
    assert!(
        !s.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
        "{s}"
    );
    tmux.keys(&["g"]);
    tmux.wait_until("the strip to go", |s| !s.contains("threads"));
    tmux.keys(&["q"]);
    tmux.wait_for("Stop the run and quit");
    tmux.keys(&["y"]);
    let s = tmux.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "{s}");
    let settings = std::fs::read_to_string(config.path().join("settings.toml")).unwrap();
    assert!(settings.contains("charts = \"ascii\""), "{settings}");
    assert!(settings.contains("gpu_strip = false"), "{settings}");
    let events = std::fs::read_to_string(data.path().join("runs/diverges/events.jsonl")).unwrap();
    assert!(events.contains("\"rule\":\"diverging\""));
}

/// `--charts` takes braille, block or ascii on every command that opens the workbench; any
/// other value is a usage error (exit 2) that lists the three.
#[test]
fn charts_refuses_an_unknown_style() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["train"][..], &["resume", "x"], &["watch", "x"]] {
        let cmd = args[0];
        let mut args = args.to_vec();
        args.extend(["--charts", "dots"]);
        let out = common::run_bapw(home.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = common::stderr(&out);
        assert!(
            err.contains("invalid value 'dots' for '--charts <STYLE>'")
                && err.contains("[possible values: braille, block, ascii]"),
            "{cmd}: {err}"
        );
    }
}
