//! Long runs stay flat in memory: 11,200 steps of the smoke preset, resident size sampled at
//! step 1,000 and near the end. The event log grows linearly (one line per step plus a few).
//! The workbench, through 16,000 steps, stays as flat and answers a key as fast at step
//! 10,000 as at step 1,000.
mod common;

use common::tmux::*;

use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn memory_is_flat_over_ten_thousand_steps() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let mut child = common::bapw()
        .args([
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--name",
            "long",
            "--runs-dir",
        ])
        .arg(&runs)
        .args([
            "--set",
            "train.epochs=700",
            "--set",
            "checkpoint.every=2000",
            "--set",
            "eval.every=0",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = runs.join("long/events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(300);
    let (mut at_1000, mut at_10000) = (None, None);
    while at_10000.is_none() {
        assert!(Instant::now() < deadline, "too slow");
        let step = common::last_step(&std::fs::read_to_string(&log).unwrap_or_default());
        if step >= 1000 && at_1000.is_none() {
            at_1000 = common::rss_kib(child.id());
        }
        if step >= 10_000 {
            at_10000 = common::rss_kib(child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success());
    let (a, b) = (at_1000.unwrap(), at_10000.unwrap());
    eprintln!("RSS at step 1000: {a} KiB, at step 10000: {b} KiB");
    assert!(
        b <= a + a / 20,
        "resident size grew from {a} KiB to {b} KiB"
    );
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(
        lines > 11_200 && lines < 11_200 + 700 + 100,
        "{lines} event lines for 11,200 steps in 700 epochs"
    );
}

/// How long the workbench takes to show its help after `?` (and to close it again).
fn key_response(tmux: &Tmux) -> Duration {
    let t0 = Instant::now();
    tmux.keys(&["?"]);
    while !tmux.screen().contains("focus the next pane") {
        assert!(t0.elapsed() < WAIT, "no help after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t0.elapsed();
    tmux.keys(&["Escape"]);
    tmux.wait_until("the help to close", |s| !s.contains("focus the next pane"));
    took
}

#[test]
fn the_workbench_stays_flat_and_responsive_over_ten_thousand_steps() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(&format!(
        "{} train --preset smoke --set train.epochs=1000 --set checkpoint.every=2000 \
         --set eval.every=0 --name long; echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data.path(), config.path())
    ));
    let pid = tmux.bapw_pid();
    let mut at = Vec::new();
    for step in [1_000, 10_000] {
        tmux.wait_until(&format!("step {step}"), |s| {
            step_of(s).is_some_and(|n| n >= step)
        });
        at.push((common::rss_kib(pid as u32).unwrap(), key_response(&tmux)));
    }
    let [(rss_a, key_a), (rss_b, key_b)] = at[..] else {
        unreachable!()
    };
    eprintln!(
        "workbench RSS {rss_a} KiB at step 1000, {rss_b} KiB at step 10000; \
         help shown after {key_a:?} and {key_b:?}"
    );
    assert!(
        rss_b <= rss_a + rss_a / 20,
        "resident size grew from {rss_a} KiB to {rss_b} KiB"
    );
    // A frame comes at most every 50 ms after a key; a second is a loaded machine's margin.
    for took in [key_a, key_b] {
        assert!(took < Duration::from_secs(1), "a key took {took:?}");
    }
    tmux.wait_for("● finished");
    tmux.keys(&["q"]);
    let s = tmux.wait_for(&format!("{EXIT_MARKER}0"));
    assert!(!s.contains("panicked"), "{s}");
}
