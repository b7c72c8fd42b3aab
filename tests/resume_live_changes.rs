//! A resumed run trains on the live changes made before its checkpoint. They reach the engine
//! as `Set` commands and are logged as `param_changed` events, never written to
//! `preset.toml`; the workbench's "keep running in the background" (stop, then a detached
//! `bapw resume`) must still continue exactly where the run was.
use bapw::events::{read_events, EndState, Event, Finished, Step};
use std::path::{Path, PathBuf};

use bapw::config::preset::Preset;
use bapw::device::DeviceChoice;
use bapw::train::{spawn, Command, EngineHandle, RunSpec};

fn spec(runs: &Path, name: &str, resume: Option<PathBuf>) -> RunSpec {
    let sets = [
        "train.epochs=40",
        "checkpoint.every=0",
        "eval.every=0",
        "train.log_every=1000",
    ]
    .map(String::from);
    let preset = Preset::load_with("smoke", &sets).expect("smoke loads");
    let spec = RunSpec::new(preset, "smoke", runs.to_path_buf())
        .named(Some(name.into()))
        .on(DeviceChoice::Cpu);
    match resume {
        Some(dir) => RunSpec {
            resume: Some(dir),
            ..spec
        },
        // Waits for Start, so the changes below apply from step 0 in both runs.
        None => spec.waiting(),
    }
}

/// Starts a run with two live changes sent before its first step.
fn start_changed(runs: &Path, name: &str) -> EngineHandle {
    let h = spawn(spec(runs, name, None)).expect("engine starts");
    for (key, value) in [("train.lr", "0.01"), ("prune.final_sparsity", "0.5")] {
        h.commands
            .send(Command::Set {
                key: key.into(),
                value: value.into(),
            })
            .unwrap();
    }
    h.commands.send(Command::Start).unwrap();
    h
}

/// Receives events until the engine ends; `on_step` may send commands.
fn drain(mut h: EngineHandle, mut on_step: impl FnMut(usize, &EngineHandle)) -> EndState {
    let mut end = None;
    while let Some(ev) = h.events.blocking_recv() {
        match ev {
            Event::Step(Step { step, .. }) => on_step(step, &h),
            Event::Finished(Finished { state, .. }) => end = Some(state),
            _ => {}
        }
    }
    h.thread.join().unwrap();
    end.expect("a finished event")
}

fn step_losses(dir: &Path) -> Vec<(usize, u64)> {
    read_events(&dir.join("events.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Step(Step { step, loss, .. }) => Some((step, loss.to_bits())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_resume_keeps_the_live_changes_made_before_its_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");

    let straight = drain(start_changed(&runs, "straight"), |_, _| {});
    assert_eq!(straight, EndState::Finished);

    let mut sent = false;
    let stopped = drain(start_changed(&runs, "stopped"), |step, h| {
        if step >= 100 && !sent {
            h.commands.send(Command::Stop).unwrap();
            sent = true;
        }
    });
    assert_eq!(stopped, EndState::Stopped, "stopped before the end");
    let dir = runs.join("stopped");
    let resumed = drain(
        spawn(spec(&runs, "stopped", Some(dir.clone()))).unwrap(),
        |_, _| {},
    );
    assert_eq!(resumed, EndState::Finished);

    let (a, b) = (step_losses(&runs.join("straight")), step_losses(&dir));
    assert_eq!(a.len(), 640);
    let first_difference = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        a == b,
        "every step's loss is bit-identical after the resume: first difference at step \
         {first_difference:?} ({} and {} steps)",
        a.len(),
        b.len()
    );
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    let last_sparsity = events.iter().rev().find_map(|e| match e {
        Event::Step(Step { sparsity, .. }) => Some(*sparsity),
        _ => None,
    });
    assert!(
        (last_sparsity.unwrap() - 0.5).abs() < 0.01,
        "the final sparsity of the change, not of preset.toml: {last_sparsity:?}"
    );
}
