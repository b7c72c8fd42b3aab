//! Shared helpers for the integration tests: the real binary, temp folders, optional real data.
#![allow(dead_code)]
pub mod datasets;
pub mod tmux;

use bapw::events::EpochEnd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bapw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bapw"))
}

/// Runs `bapw` with private data/config folders; returns the output.
pub fn run_bapw(home: &Path, args: &[&str]) -> Output {
    bapw()
        .args(args)
        .env("BAPW_DATA_DIR", home.join("data"))
        .env("BAPW_CONFIG_DIR", home.join("config"))
        .output()
        .expect("bapw starts")
}

/// The real MNIST folder, when present. With `BAPW_REQUIRE_MNIST=1` (set by `make test`)
/// a missing MNIST is a failure, not a skip.
pub fn mnist_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BAPW_MNIST_DIR").map(PathBuf::from),
        std::env::var_os("BAPW_DATA_DIR").map(|d| PathBuf::from(d).join("datasets/mnist")),
        directories::ProjectDirs::from("", "", "bapw").map(|p| p.data_dir().join("datasets/mnist")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("t10k-labels-idx1-ubyte").exists());
    if found.is_none() {
        assert!(
            std::env::var_os("BAPW_REQUIRE_MNIST").is_none(),
            "MNIST is required (BAPW_REQUIRE_MNIST is set) but was not found: run `bapw data fetch mnist`"
        );
        eprintln!("skipping: MNIST not present (run `bapw data fetch mnist`)");
    }
    found
}

/// A Python with torch, when available. With `BAPW_REQUIRE_PYTHON=1` a missing one fails.
pub fn torch_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BAPW_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/bapw/venv-torch-2.13.0/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import torch, safetensors"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    });
    if found.is_none() {
        assert!(
            std::env::var_os("BAPW_REQUIRE_PYTHON").is_none(),
            "Python with torch is required (BAPW_REQUIRE_PYTHON is set) but was not found"
        );
        eprintln!("skipping: no Python with torch + safetensors");
    }
    found
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `bapw train --preset smoke --headless --name NAME --runs-dir <home>/runs [--set S]...`,
/// with private data/config folders under `home`.
pub fn train_smoke(home: &Path, name: &str, sets: &[&str]) -> Output {
    let runs = home.join("runs");
    let mut args = vec![
        "train",
        "--preset",
        "smoke",
        "--headless",
        "--name",
        name,
        "--runs-dir",
    ];
    let runs_str = runs.to_str().expect("utf-8 temp path").to_string();
    args.push(&runs_str);
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    run_bapw(home, &args)
}

/// The test accuracy at the end of each epoch, in order.
pub fn epoch_test_accs(events: &[bapw::train::Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| match e {
            bapw::train::Event::EpochEnd(EpochEnd { test_acc, .. }) => Some(*test_acc),
            _ => None,
        })
        .collect()
}

/// Resident size of a process, KiB (from /proc: the long-run memory tests).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The last step in a growing `events.jsonl`'s text: only its last complete lines are parsed.
pub fn last_step(text: &str) -> usize {
    let tail = &text[text.len().saturating_sub(4096)..];
    let start = tail.find('\n').map_or(0, |i| i + 1);
    bapw::events::parse_events(&tail[start..])
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e {
            bapw::events::Event::Step(s) => Some(s.step),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}
