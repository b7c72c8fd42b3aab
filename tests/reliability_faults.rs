//! Faults during a run. A NaN/Inf loss stops a headless run with a message naming the step,
//! the weights are never updated with it and the last good checkpoint is kept. A checkpoint
//! that cannot be written is reported and leaves no half-written file. An allocation that
//! fails (out of memory, a real one: a CPU allocation over `ulimit -v`) is a message naming
//! the device, the batch size and the setting to try: headless the run fails with it, in the
//! workbench the run pauses. Signals: `reliability_signals.rs`.
mod common;

use bapw::train::events::{read_events, ErrorReport, Eval, Event, Finished, Step};
use common::stdout;
use common::tmux::*;

#[test]
fn nan_loss_stops_headless_run_and_keeps_last_good_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let out = common::train_smoke(
        home.path(),
        "nan",
        &["train.lr=1e30", "checkpoint.every=1", "checkpoint.keep=1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("NaN/Inf at step") && text.contains("run failed"),
        "{text}"
    );
    let events = read_events(&runs.join("nan/events.jsonl")).unwrap();
    let bad_step = events
        .iter()
        .find_map(|e| {
            if let Event::Error(ErrorReport { step, .. }) = e {
                Some(*step)
            } else {
                None
            }
        })
        .unwrap();
    let ckpts = bapw::train::run::list_checkpoints(&runs.join("nan/checkpoints"));
    let (last, _) = ckpts.last().expect("a checkpoint before the NaN");
    assert_eq!(
        *last, bad_step,
        "the checkpoint written just before the bad step is kept"
    );
    let tensors = tch::Tensor::read_safetensors(
        runs.join(format!("nan/checkpoints/step-{last:07}.safetensors")),
    )
    .unwrap();
    for (name, t) in tensors {
        assert!(
            bool::try_from(t.isfinite().all()).unwrap(),
            "{name} is not finite"
        );
    }
}

#[test]
fn unwritable_checkpoint_folder_is_reported_and_keeps_the_good_checkpoints() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let child = common::bapw()
        .args([
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--name",
            "ro",
            "--runs-dir",
        ])
        .arg(&runs)
        .args([
            "--set",
            "train.epochs=400",
            "--set",
            "checkpoint.every=200",
            "--set",
            "eval.every=0",
        ])
        .env("BAPW_DATA_DIR", home.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then make the folder unwritable: replace it by a file
    // (permission bits do not stop root, a file in the way does).
    let ck = runs.join("ro/checkpoints");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while bapw::train::run::list_checkpoints(&ck).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let kept = runs.join("kept");
    std::fs::rename(&ck, &kept).unwrap();
    std::fs::write(&ck, "in the way").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("could not write the checkpoint")
            && text.contains("last good checkpoint is kept"),
        "{text}"
    );
    // The checkpoints written before are whole: they load.
    let (step, _) = bapw::train::run::list_checkpoints(&kept).pop().unwrap();
    let t =
        tch::Tensor::read_safetensors(kept.join(format!("step-{step:07}.safetensors"))).unwrap();
    assert!(!t.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(&kept)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written temp files");
}

/// Address space bapw may use in the out-of-memory tests (`ulimit -v`, KiB): far more than a
/// run needs, far less than the allocations below, so they fail at once whatever the machine
/// and its overcommit settings, without ever touching that memory.
const ADDRESS_SPACE_KIB: u64 = 2 << 20;

/// One training step on 65,536 examples through a 262,144-wide layer: LibTorch asks for
/// 64 GiB of activations (the weights are 64 MiB).
const HUGE_STEP: &[&str] = &[
    "data.synthetic.train=65536",
    "data.synthetic.test=64",
    "train.batch_size=65536",
    "model.hidden=[262144]",
    "eval.every=0",
];

/// A run that trains one small step and checkpoints, then evaluates 32,768 one-pixel images
/// in one batch through a 32,768-wide layer: 4 GiB at once (the test pass goes in batches of
/// 1,000 and fits).
const HUGE_EVAL: &[&str] = &[
    "data.synthetic.train=64",
    "data.synthetic.test=32768",
    "data.synthetic.height=1",
    "data.synthetic.width=1",
    "data.synthetic.classes=2",
    "model.hidden=[32768]",
    "train.epochs=1",
    "eval.subset=0",
    "eval.batch_size=32768",
];

/// `bapw train --preset smoke --headless` under `ulimit -v`.
fn train_bounded(home: &std::path::Path, name: &str, sets: &[&str]) -> std::process::Output {
    let runs = home.join("runs");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_bapw"))
        .args(["train", "--preset", "smoke", "--headless", "--name", name])
        .arg("--runs-dir")
        .arg(&runs);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.env("BAPW_DATA_DIR", home.join("data"))
        .env("BAPW_CONFIG_DIR", home.join("config"))
        .output()
        .unwrap()
}

fn assert_reported_not_crashed(out: &std::process::Output, advice: &str) {
    let (text, err) = (stdout(out), common::stderr(out));
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    assert!(text.contains(&format!("error: {advice}")), "{text}");
    assert!(text.contains("run failed"), "{text}");
    // A message, not a crash: no panic, no LibTorch backtrace on the terminal.
    for crash in ["panicked", "frame #", "internal error", "enforce fail"] {
        assert!(
            !text.contains(crash) && !err.contains(crash),
            "{text}\n{err}"
        );
    }
}

#[test]
fn out_of_memory_in_a_training_step_names_the_batch_size_to_try() {
    let home = tempfile::tempdir().unwrap();
    let out = train_bounded(home.path(), "oom", HUGE_STEP);
    assert_reported_not_crashed(
        &out,
        "out of memory on cpu at batch size 65536: try --set train.batch_size=32768 \
         (LibTorch could not allocate 64.0 GiB)",
    );
    let dir = home.path().join("runs/oom");
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: bapw::train::events::EndState::Failed,
            step: 0,
            ..
        }))
    ));
    assert!(
        !events.iter().any(|e| matches!(e, Event::Step(Step { .. }))),
        "no step was taken"
    );
    assert!(bapw::train::run::list_checkpoints(&dir.join("checkpoints")).is_empty());
}

#[test]
fn out_of_memory_in_an_evaluation_names_its_batch_size_and_keeps_the_checkpoints() {
    let home = tempfile::tempdir().unwrap();
    let out = train_bounded(home.path(), "oom-eval", HUGE_EVAL);
    assert_reported_not_crashed(
        &out,
        "out of memory on cpu at batch size 32768: try --set eval.batch_size=16384 \
         (LibTorch could not allocate 4.0 GiB)",
    );
    // The checkpoint written before the evaluation is whole and loads.
    let ck = home.path().join("runs/oom-eval/checkpoints");
    let (step, _) = bapw::train::run::list_checkpoints(&ck)
        .pop()
        .expect("a checkpoint");
    assert_eq!(step, 1);
    let tensors =
        tch::Tensor::read_safetensors(ck.join(format!("step-{step:07}.safetensors"))).unwrap();
    assert!(tensors.iter().any(|(n, _)| n == "fc1.weight"));
    for (name, t) in tensors {
        assert!(
            bool::try_from(t.isfinite().all()).unwrap(),
            "{name} is not finite"
        );
    }
    let events = read_events(&home.path().join("runs/oom-eval/events.jsonl")).unwrap();
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: bapw::train::events::EndState::Failed,
            step: 1,
            ..
        }))
    ));
}

/// The workbench on `sets` under `ulimit -v`, in tmux; its exit status is printed after it.
fn workbench_bounded(data: &std::path::Path, sets: &[&str]) -> Tmux {
    let config = data.join("config");
    let sets: String = sets.iter().map(|s| format!(" --set '{s}'")).collect();
    Tmux::start(&format!(
        "(ulimit -v {ADDRESS_SPACE_KIB} && exec {} train --preset smoke{sets} --name oom); \
         echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data, &config)
    ))
}

fn oom_errors(log: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    bapw::train::events::parse_events(&text)
        .unwrap_or_default()
        .iter()
        .filter(
            |e| matches!(e, Event::Error(ErrorReport { message, .. }) if message.starts_with("out of memory")),
        )
        .count()
}

/// Pauses on the out-of-memory message (shown in full in the message log), tries again on
/// `p` and pauses again, then `q` `y` ends the run and the workbench cleanly.
fn pauses_on_out_of_memory(sets: &[&str], advice: &str) -> Vec<Event> {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("runs/oom/events.jsonl");
    let tmux = workbench_bounded(data.path(), sets);
    tmux.wait_for("● paused");
    tmux.keys(&["!"]);
    tmux.wait_for(advice);
    tmux.keys(&["Escape"]);
    tmux.wait_until("the message log to close", |s| !s.contains("Esc closes"));
    assert_eq!(oom_errors(&log), 1);
    tmux.keys(&["p"]);
    poll("the retry to run out of memory again", || {
        oom_errors(&log) == 2
    });
    tmux.wait_for("● paused");
    tmux.keys(&["q"]);
    tmux.wait_for("Stop the run and quit");
    tmux.keys(&["y"]);
    let s = tmux.wait_for(&format!("{EXIT_MARKER}0"));
    assert!(!s.contains("panicked"), "{s}");
    read_events(&log).unwrap()
}

#[test]
fn out_of_memory_in_a_training_step_pauses_the_workbench() {
    if !tmux_or_skip() {
        return;
    }
    let events = pauses_on_out_of_memory(
        HUGE_STEP,
        "out of memory on cpu at batch size 65536: try --set train.batch_size=32768",
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Step(Step { .. }))));
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: bapw::train::events::EndState::Stopped,
            step: 0,
            ..
        }))
    ));
}

#[test]
fn out_of_memory_in_the_final_evaluation_pauses_the_workbench() {
    if !tmux_or_skip() {
        return;
    }
    let events = pauses_on_out_of_memory(
        HUGE_EVAL,
        "out of memory on cpu at batch size 32768: try --set eval.batch_size=16384",
    );
    // Training had finished; stopping at the evaluation ends the run without one.
    assert!(!events.iter().any(|e| matches!(e, Event::Eval(Eval { .. }))));
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: bapw::train::events::EndState::Finished,
            step: 1,
            ..
        }))
    ));
}
