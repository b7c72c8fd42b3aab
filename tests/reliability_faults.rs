//! Faults during a run. A NaN/Inf loss stops a headless run with a message naming the step,
//! the weights are never updated with it and the last good checkpoint is kept. A checkpoint
//! that cannot be written is reported and leaves no half-written file. An allocation that
//! fails (out of memory, a real one: a CPU allocation over `ulimit -v`) is a message naming
//! the device, the batch size and the setting to try: headless the run fails with it, in the
//! workbench the run pauses. Signals: `reliability_signals.rs`.
mod common;

use bapw::events::{read_events, EndState, ErrorReport, Eval, Event, Finished, Step};
use common::stdout;
use common::tmux::*;

/// A diverging learning rate, set on a resume (`--from 8 --set train.lr=1e30`): the update of
/// step 8 gives weights whose loss at step 9 is not finite. The run fails with a message naming
/// the step; the checkpoint of step 9 (written before the NaN showed, holding those weights) is
/// deleted, so the last checkpoint is the good one of step 8, whose tensors are finite; and
/// `bapw resume --set train.lr=...` from it trains to the end with finite losses only.
#[test]
fn nan_loss_stops_headless_run_and_keeps_last_good_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let runs_arg = runs.to_str().unwrap();
    let out = common::train_smoke(
        home.path(),
        "nan",
        &["train.epochs=2", "checkpoint.every=4", "checkpoint.keep=8"],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let resume = |extra: &[&str]| {
        let mut args = vec!["resume", "nan", "--headless", "--runs-dir", runs_arg];
        args.extend_from_slice(extra);
        common::run_bapw(home.path(), &args)
    };
    let out = resume(&[
        "--from",
        "8",
        "--set",
        "train.lr=1e30",
        "--set",
        "checkpoint.every=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("loss became NaN/Inf at step 9")
            && text.contains("the last good checkpoint is step 8")
            && text.contains("`bapw resume nan` continues from it")
            && text.contains("run failed"),
        "{text}"
    );
    let checkpoints = bapw::run::Checkpoints::new(runs.join("nan/checkpoints"));
    assert_eq!(
        checkpoints.steps(),
        vec![4, 8],
        "9 is gone, and so are 12 to 32"
    );
    for (name, t) in tch::Tensor::read_safetensors(checkpoints.files(8).weights).unwrap() {
        assert!(
            bool::try_from(t.isfinite().all()).unwrap(),
            "{name} is not finite"
        );
    }
    // A lower rate from the good checkpoint trains to the end.
    let out = resume(&["--set", "train.lr=0.003"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let events = read_events(&runs.join("nan/events.jsonl")).unwrap();
    let steps: Vec<(usize, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some((s.step, s.loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 32);
    assert!(steps
        .iter()
        .enumerate()
        .all(|(i, (s, l))| *s == i && l.is_finite()));
    assert!(matches!(events.last(), Some(Event::Finished(f)) if f.state == EndState::Finished));
}

/// Bad arguments to `bapw resume` are exit code 2 naming the value and what would do, before
/// anything is touched: a checkpoint step that does not exist, a setting fixed at start, a
/// value out of range.
#[test]
fn resume_refuses_a_missing_checkpoint_and_fixed_or_bad_settings() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let out = common::train_smoke(home.path(), "r", &["train.epochs=1", "checkpoint.every=8"]);
    assert!(out.status.success());
    let log = std::fs::read(runs.join("r/events.jsonl")).unwrap();
    for (args, says) in [
        (
            vec!["--from", "5"],
            "--from 5: r has no checkpoint of step 5 (it has: 8, 16)",
        ),
        (
            vec!["--from", "8", "--set", "train.epochs=9"],
            "--set train.epochs=9: train.epochs cannot change during a run",
        ),
        (
            vec!["--from", "8", "--set", "adv.rho=0"],
            "--set adv.rho=0: adv.rho: 0 must be > 0",
        ),
    ] {
        let mut all = vec![
            "resume",
            "r",
            "--headless",
            "--runs-dir",
            runs.to_str().unwrap(),
        ];
        all.extend(args);
        let out = common::run_bapw(home.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(
            common::stderr(&out).contains(says),
            "{}",
            common::stderr(&out)
        );
    }
    assert_eq!(std::fs::read(runs.join("r/events.jsonl")).unwrap(), log);
}

/// In the workbench (an interactive engine) a NaN pauses the run; resuming is refused while
/// the weights are broken; a roll-back restores the last good checkpoint with the lowered rate
/// kept, cuts the log back to it, and the run then trains to the end with finite losses.
#[test]
fn a_nan_in_the_workbench_rolls_back_to_the_last_good_checkpoint() {
    use bapw::events::RolledBack;
    use bapw::train::{spawn, Command, RunSpec};
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let sets = ["train.epochs=2", "checkpoint.every=4", "eval.every=0"].map(String::from);
    let preset = bapw::config::preset::Preset::load_with("smoke", &sets).unwrap();
    let spec = RunSpec::new(preset, "smoke", runs.clone())
        .named(Some("nan".into()))
        .on(bapw::device::DeviceChoice::Cpu)
        .interactive(true)
        .waiting();
    let mut h = spawn(spec).unwrap();
    let send = |c: Command| h.commands.send(c).unwrap();
    let set = |k: &str, v: &str| Command::Set {
        key: k.into(),
        value: v.into(),
    };
    send(Command::Start);
    let (mut bad, mut refused, mut rolled, mut end) = (None, false, None, None);
    while let Some(ev) = h.events.blocking_recv() {
        match &ev {
            // Diverge right after the checkpoint of step 8.
            Event::Checkpoint(c) if c.step == 8 && bad.is_none() && rolled.is_none() => {
                send(set("train.lr", "1e30"));
                send(set("checkpoint.every", "1"));
            }
            Event::Error(ErrorReport { step, message }) if message.contains("NaN/Inf") => {
                bad = Some(*step);
                assert!(message.contains("roll back (R)"), "{message}");
                send(Command::Resume);
            }
            Event::Error(ErrorReport { message, .. }) if message.starts_with("not resumed") => {
                refused = true;
                send(set("train.lr", "0.002"));
                send(Command::RollBack);
            }
            Event::RolledBack(RolledBack { to_step, .. }) => {
                rolled = Some(*to_step);
                send(Command::Resume);
            }
            Event::Finished(f) => end = Some(f.state),
            _ => {}
        }
    }
    h.thread.join().unwrap();
    let (bad, to) = (bad.expect("a NaN"), rolled.expect("a roll-back"));
    assert!(refused, "resuming broken weights is refused");
    assert!(to < bad, "rolled back from {bad} to {to}");
    assert_eq!(end, Some(EndState::Finished));
    let events = read_events(&runs.join("nan/events.jsonl")).unwrap();
    let steps: Vec<(usize, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some((s.step, s.loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 32, "the log was cut back at the roll-back");
    assert!(steps
        .iter()
        .enumerate()
        .all(|(i, (s, l))| *s == i && l.is_finite()));
    // The rate set since the checkpoint was logged again after the roll-back (the log lost
    // the change it came in), so a resume keeps it.
    let after = events
        .iter()
        .position(|e| matches!(e, Event::RolledBack(_)))
        .unwrap();
    assert!(events[after..].iter().any(|e| matches!(e,
        Event::ParamChanged(c) if c.key == "train.lr" && c.new == "0.002")));
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
    while bapw::run::Checkpoints::new(ck.clone()).steps().is_empty() {
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
    let step = bapw::run::Checkpoints::new(kept.clone()).latest().unwrap();
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
            state: bapw::events::EndState::Failed,
            step: 0,
            ..
        }))
    ));
    assert!(
        !events.iter().any(|e| matches!(e, Event::Step(Step { .. }))),
        "no step was taken"
    );
    assert!(bapw::run::Checkpoints::new(dir.join("checkpoints"))
        .steps()
        .is_empty());
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
    let step = bapw::run::Checkpoints::new(ck.clone())
        .latest()
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
            state: bapw::events::EndState::Failed,
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
    bapw::events::parse_events(&text)
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
            state: bapw::events::EndState::Stopped,
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
            state: bapw::events::EndState::Finished,
            step: 1,
            ..
        }))
    ));
}

/// The run-health rules of `[alerts]`, end to end on the binary: a learning rate that diverges,
/// a one-shot prune to 99.5% that collapses the accuracy, and a step that stalls (the test-only
/// `BAPW_TEST_STALL` hook makes step 20 take 4 s against a 1 s limit). Headless, each stops the
/// run with a checkpoint and exit code 3, logs one `alert` naming its rule, and the run resumes.
#[test]
fn run_health_alerts_stop_a_headless_run_with_exit_3() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let cases: [(&str, &[&str], Option<&str>, &str); 3] = [
        (
            "diverging",
            &[
                "train.lr=1.0",
                "alerts.warmup_steps=0",
                "alerts.diverge_steps=3",
            ],
            None,
            "loss diverging: 3 steps in a row above 4 x its moving average",
        ),
        (
            "collapse",
            &[
                "train.epochs=6",
                "prune.schedule=\"one_shot\"",
                "prune.final_sparsity=0.995",
                "prune.begin_step=48",
                "alerts.collapse_window=8",
            ],
            None,
            "over the 8 steps after the mask update at step 48 (sparsity 0.000 to 0.995)",
        ),
        (
            "stall",
            &["alerts.stall_seconds=1"],
            Some("20:4"),
            "stalled: step 20 has not finished after 1 s",
        ),
    ];
    for (rule, sets, stall, says) in cases {
        let mut args = vec!["train", "--preset", "smoke", "--headless", "--name", rule];
        let runs_arg = runs.to_str().unwrap().to_string();
        args.extend(["--runs-dir", &runs_arg, "--set", "eval.every=0"]);
        for s in sets {
            args.extend(["--set", s]);
        }
        let mut cmd = common::bapw();
        cmd.args(&args)
            .env("BAPW_DATA_DIR", home.path())
            .env("BAPW_CONFIG_DIR", home.path().join("config"));
        if let Some(hook) = stall {
            cmd.env("BAPW_TEST_STALL", hook);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{rule}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("alert ({rule}): ")),
            "{}",
            stdout(&out)
        );
        let events = read_events(&runs.join(rule).join("events.jsonl")).unwrap();
        let alerts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Alert(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(alerts.len(), 1, "{rule}");
        assert_eq!(alerts[0].rule, rule);
        assert!(alerts[0].message.contains(says), "{}", alerts[0].message);
        let Some(Event::Finished(f)) = events.last() else {
            panic!("{rule}: no finished event");
        };
        assert_eq!(f.state, EndState::Stopped, "{rule}");
        let checkpoints = bapw::run::Checkpoints::new(runs.join(rule).join("checkpoints"));
        assert_eq!(
            checkpoints.latest(),
            Some(f.step),
            "{rule}: a checkpoint at the stop"
        );
    }
}

/// In the workbench (an interactive engine) an alert pauses the run instead: a learning rate
/// raised mid-run diverges, the run pauses with the alert, and it goes on when resumed.
#[test]
fn an_alert_pauses_an_interactive_run() {
    use bapw::train::{spawn, Command, RunSpec};
    let home = tempfile::tempdir().unwrap();
    let sets = [
        "train.epochs=2",
        "eval.every=0",
        "alerts.warmup_steps=4",
        "alerts.diverge_steps=2",
    ]
    .map(String::from);
    let preset = bapw::config::preset::Preset::load_with("smoke", &sets).unwrap();
    let spec = RunSpec::new(preset, "smoke", home.path().join("runs"))
        .named(Some("alert".into()))
        .on(bapw::device::DeviceChoice::Cpu)
        .interactive(true)
        .waiting();
    let mut h = spawn(spec).unwrap();
    let send = |c: Command| h.commands.send(c).unwrap();
    send(Command::Start);
    let (mut raised, mut paused_after, mut end) = (false, false, None);
    while let Some(ev) = h.events.blocking_recv() {
        match &ev {
            Event::Step(s) if s.step == 8 && !raised => send(Command::Set {
                key: "train.lr".into(),
                value: "1.0".into(),
            }),
            Event::Alert(a) => {
                assert_eq!(a.rule, "diverging");
                raised = true;
            }
            Event::Paused(_) if raised => {
                paused_after = true;
                send(Command::Set {
                    key: "alerts.enabled".into(),
                    value: "false".into(),
                });
                send(Command::Resume);
            }
            Event::Finished(f) => end = Some(f.state),
            _ => {}
        }
    }
    h.thread.join().unwrap();
    assert!(raised && paused_after, "the alert paused the run");
    assert_eq!(end, Some(EndState::Finished));
}
