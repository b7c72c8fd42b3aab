//! Long runs stay flat in memory: 11,200 steps of the smoke preset, resident size sampled at
//! step 1,000 and near the end. The event log grows linearly (one line per step plus a few).
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use bapw::train::events::parse_events;

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn last_step(text: &str) -> usize {
    // Only the tail matters; parse the last complete lines.
    let tail = &text[text.len().saturating_sub(4096)..];
    let start = tail.find('\n').map(|i| i + 1).unwrap_or(0);
    parse_events(&tail[start..])
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            if let bapw::train::Event::Step { step, .. } = e {
                Some(*step)
            } else {
                None
            }
        })
        .max()
        .unwrap_or(0)
}

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
        let step = last_step(&std::fs::read_to_string(&log).unwrap_or_default());
        if step >= 1000 && at_1000.is_none() {
            at_1000 = rss_kib(child.id());
        }
        if step >= 10_000 {
            at_10000 = rss_kib(child.id());
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
