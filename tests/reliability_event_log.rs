//! A run killed mid-write leaves half a line at the end of `events.jsonl`. Everything that
//! reads the log takes the whole lines and leaves the cut one: `bapw runs` (interrupted),
//! `bapw watch` headless and in the workbench, `bapw export`, and `bapw resume`, which goes on
//! from the last checkpoint to the very result the uninterrupted run had. (The parser itself:
//! `reliability_parsers.rs`.)
mod common;

use bapw::events::{read_events, EndState, Event, Finished, Step};
use std::path::Path;

use common::tmux::*;
use common::{run_bapw, stderr, stdout, train_smoke};

fn step_losses(events: &[Event]) -> Vec<(usize, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Step(Step { step, loss, .. }) => Some((*step, *loss)),
            _ => None,
        })
        .collect()
}

/// How a run ended, less the wall-clock time.
fn end(events: &[Event]) -> (EndState, usize, f64, f64) {
    match events.last() {
        Some(Event::Finished(Finished {
            state,
            step,
            sparsity,
            test_acc,
            ..
        })) => (*state, *step, *sparsity, *test_acc),
        other => panic!("last event {other:?}"),
    }
}

/// Rewrites the finished run in `dir` as if it had been killed while writing the event after
/// step 70: its log up to there plus half a line, no checkpoint after step 64.
fn kill_mid_write(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let mut kept = String::new();
    for line in text.lines() {
        let ev: Event = serde_json::from_str(line).unwrap();
        if matches!(ev, Event::Step(Step { step: 71, .. })) {
            // Half of the line being written when the process died.
            kept.push_str(&line[..line.len() / 2]);
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    std::fs::write(dir.join("events.jsonl"), kept).unwrap();
    let checkpoints = bapw::run::Checkpoints::new(dir.join("checkpoints"));
    for step in checkpoints.steps() {
        if step > 64 {
            let files = checkpoints.files(step);
            for f in [files.weights, files.optim, files.state] {
                std::fs::remove_file(f).unwrap();
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("summary.json"));
}

#[test]
fn a_cut_last_line_is_tolerated_by_runs_watch_export_and_resume() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let r = runs.to_str().unwrap();
    let out = train_smoke(
        home.path(),
        "cut",
        &["train.epochs=6", "eval.every=0", "checkpoint.keep=10"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = runs.join("cut");
    let uninterrupted = read_events(&dir.join("events.jsonl")).unwrap();
    kill_mid_write(&dir);

    let out = run_bapw(home.path(), &["runs", "--runs-dir", r]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("cut ") && l.contains("interrupted")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let out = run_bapw(
        home.path(),
        &["watch", "cut", "--headless", "--runs-dir", r],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("step     64/96"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("the run is not running (interrupted): `bapw resume` continues it"),
        "{text}"
    );

    let out = run_bapw(home.path(), &["export", "cut", "--runs-dir", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    let steps = std::fs::read_to_string(dir.join("export/steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 1 + 71, "a header and steps 0-70");
    assert!(steps.lines().last().unwrap().starts_with("70,"));

    let out = run_bapw(
        home.path(),
        &["resume", "cut", "--headless", "--runs-dir", r],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The replayed log prints nothing: the first line is the resume, then the new steps.
    let text = stdout(&out);
    assert!(
        text.starts_with("resuming at step 64 of 96: resumed from"),
        "{text}"
    );
    assert!(
        !text.contains("step     64/96") && text.contains("step     72/96"),
        "{text}"
    );
    let resumed = read_events(&dir.join("events.jsonl")).unwrap();
    assert_eq!(step_losses(&resumed), step_losses(&uninterrupted));
    assert_eq!(end(&resumed), end(&uninterrupted));
}

#[test]
fn the_workbench_watches_a_run_with_a_cut_last_line() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let out = bapw_train(data.path());
    assert!(out.status.success(), "{}", stderr(&out));
    kill_mid_write(&data.path().join("runs/cut"));
    let tmux = Tmux::start(&format!(
        "{} watch cut; echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data.path(), config.path())
    ));
    let s = tmux.wait_for("● interrupted");
    assert_eq!(step_of(&s), Some(71), "steps 0-70 replayed:\n{s}");
    tmux.keys(&["q"]);
    let s = tmux.wait_for(&format!("{EXIT_MARKER}0"));
    assert!(!s.contains("panicked"), "{s}");
}

/// The finished smoke run `cut` in the default runs folder of `data`.
fn bapw_train(data: &Path) -> std::process::Output {
    common::bapw()
        .args(["train", "--preset", "smoke", "--headless", "--name", "cut"])
        .args(["--set", "train.epochs=6", "--set", "eval.every=0"])
        .args(["--set", "checkpoint.keep=10"])
        .env("BAPW_DATA_DIR", data)
        .output()
        .unwrap()
}

/// `tests/fixtures/every-event.jsonl` holds every kind of event as the engine wrote it before
/// the events became named structs (a BAP smoke run, plus hand-written lines for the kinds a
/// headless run does not produce, and for `alert` and `rolled_back`, which came later). Read and written again, every line is the same bytes: the
/// log format did not change, so old runs replay, resume and export as before.
#[test]
fn every_event_kind_reads_and_writes_back_byte_for_byte() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/every-event.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let events = read_events(&path).unwrap();
    let kinds: std::collections::BTreeSet<&str> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds.len(), 15, "every kind is in the fixture: {kinds:?}");
    for (line, ev) in text.lines().zip(&events) {
        assert_eq!(serde_json::to_string(ev).unwrap(), line);
    }
    assert_eq!(text.lines().count(), events.len());
}
