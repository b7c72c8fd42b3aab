//! End-to-end headless runs of the real binary on the `smoke` preset: the run folder, the event
//! log, the sparsity schedule followed exactly, checkpoints, replay (bad input: `reliability_*`).
mod common;

use bapw::config::preset::Preset;
use bapw::events::{read_events, EndState, Event, Finished, MaskUpdate, RunStarted, Step};
use bapw::prune::kept_count;
use common::{epoch_test_accs, run_bapw, stderr, stdout};

#[test]
fn smoke_run_produces_a_complete_run_folder() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let out = common::train_smoke(home.path(), "r1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("mode natural") && text.contains("finished at step 48"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("step ")), "{text}");

    let dir = runs.join("r1");
    for f in ["preset.toml", "events.jsonl", "summary.json"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // The effective preset is a valid preset that reproduces the run.
    let saved = std::fs::read_to_string(dir.join("preset.toml")).unwrap();
    assert_eq!(
        Preset::from_toml_str("preset.toml", &saved, &[]).unwrap(),
        Preset::load("smoke").unwrap()
    );

    let events = read_events(&dir.join("events.jsonl")).unwrap();
    let Event::RunStarted(RunStarted {
        schedule,
        layers,
        total_steps,
        ..
    }) = &events[0]
    else {
        panic!("first event is {:?}", events[0].kind())
    };
    assert_eq!(*total_steps, 48);
    let Some(Event::Finished(Finished {
        state,
        step,
        sparsity,
        ..
    })) = events.last()
    else {
        panic!()
    };
    assert_eq!((*state, *step), (EndState::Finished, 48));

    // Every step's measured sparsity is exactly the layer-wise TF-MOT mask at the schedule's
    // last update: 1 - sum_l max(1, round(n_l (1 - s))) / sum_l n_l.
    let total: i64 = layers.iter().map(|l| l.numel).sum();
    let mut steps = 0;
    for ev in &events {
        if let Event::Step(Step {
            step,
            sparsity,
            target_sparsity,
            ..
        }) = ev
        {
            let s = schedule.mask_sparsity_at(*step);
            let kept: i64 = layers
                .iter()
                .map(|l| {
                    if s == 0.0 {
                        l.numel
                    } else {
                        kept_count(l.numel, s)
                    }
                })
                .sum();
            let want = 1.0 - kept as f64 / total as f64;
            assert!(
                (sparsity - want).abs() < 1e-9,
                "step {step}: {sparsity} vs {want}"
            );
            assert!((target_sparsity - schedule.sparsity_at(*step)).abs() < 1e-12);
            steps += 1;
        }
    }
    assert_eq!(steps, 48);
    assert!((sparsity - 0.8).abs() < 0.002, "{sparsity}");
    // Mask updates at 0, 4, ..., 32 (end_epoch 2 = step 32, frequency 4).
    let updates: Vec<usize> = events
        .iter()
        .filter_map(|e| {
            if let Event::MaskUpdate(MaskUpdate { step, .. }) = e {
                Some(*step)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(updates, (0..=32).step_by(4).collect::<Vec<_>>());

    // Test accuracy climbs over the epochs.
    let accs = epoch_test_accs(&events);
    assert_eq!(accs.len(), 3);
    assert!(accs[2] > accs[0] && accs[2] > 0.8, "{accs:?}");

    // Checkpoints: weights + masks (PyTorch names), optimiser moments, state; the last K kept.
    let ck = dir.join("checkpoints");
    let mut names: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "best.json",
            "best.safetensors",
            "step-0000032.json",
            "step-0000032.optim.safetensors",
            "step-0000032.safetensors",
            "step-0000048.json",
            "step-0000048.optim.safetensors",
            "step-0000048.safetensors"
        ]
    );
    let tensors = tch::Tensor::read_safetensors(ck.join("step-0000048.safetensors")).unwrap();
    let mut keys: Vec<&str> = tensors.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "fc1.bias",
            "fc1.weight",
            "fc1.weight_mask",
            "fc2.bias",
            "fc2.weight",
            "fc2.weight_mask",
            "fc3.bias",
            "fc3.weight",
            "fc3.weight_mask"
        ]
    );
    // Pruned weights are exactly zero where the mask is zero.
    let w = &tensors.iter().find(|(k, _)| k == "fc1.weight").unwrap().1;
    let m = &tensors
        .iter()
        .find(|(k, _)| k == "fc1.weight_mask")
        .unwrap()
        .1;
    let pruned: tch::Tensor = w * (m.ones_like() - m);
    assert_eq!(pruned.abs().sum(tch::Kind::Float).double_value(&[]), 0.0);

    // The best checkpoint holds the epoch with the highest test accuracy.
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("best.json")).unwrap()).unwrap();
    let top = accs.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(best["metric"], "test_acc");
    assert_eq!(best["value"].as_f64().unwrap(), top);
    let top_epoch = accs.iter().position(|a| *a == top).unwrap();
    assert_eq!(
        best["step"].as_u64().unwrap() as usize,
        (top_epoch + 1) * 16
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["state"], "finished");
    assert_eq!(summary["step"], 48);
}

#[test]
fn same_seed_same_run() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    for name in ["a", "b"] {
        let out = common::train_smoke(home.path(), name, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let losses = |name: &str| -> Vec<f64> {
        read_events(&runs.join(name).join("events.jsonl"))
            .unwrap()
            .into_iter()
            .filter_map(|e| {
                if let Event::Step(Step { loss, .. }) = e {
                    Some(loss)
                } else {
                    None
                }
            })
            .collect()
    };
    assert_eq!(losses("a"), losses("b"));
}

#[test]
fn watch_of_a_finished_run_prints_what_the_live_run_printed() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let live = common::train_smoke(home.path(), "w", &[]);
    assert!(live.status.success());
    let watched = run_bapw(
        home.path(),
        &[
            "watch",
            "w",
            "--headless",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
    );
    assert!(watched.status.success(), "{}", stderr(&watched));
    assert_eq!(stdout(&watched), stdout(&live));
}

/// `bapw resume` of a run that trained every step has nothing to do: it says so, names the
/// commands that show the run, exits 0 and leaves the run as it was (it used to print an
/// error, then "run failed at step 0", and exit 1).
#[test]
fn resuming_a_finished_run_says_it_is_finished() {
    let home = tempfile::tempdir().unwrap();
    let out = common::train_smoke(home.path(), "done", &["train.epochs=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = home.path().join("runs/done/events.jsonl");
    let before = std::fs::read(&log).unwrap();
    let runs = home.path().join("runs");
    let out = run_bapw(
        home.path(),
        &[
            "resume",
            "done",
            "--headless",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("done is finished (all 16 steps): nothing to resume")
            && text.contains("`bapw watch done`"),
        "{text}"
    );
    assert!(!text.contains("failed"), "{text}");
    assert_eq!(std::fs::read(&log).unwrap(), before, "the log is untouched");
}

/// `bapw completions SHELL` prints a completion script that knows the subcommands and their
/// flags.
#[test]
fn completion_scripts_know_the_commands_and_flags() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _bapw"),
        ("zsh", "#compdef bapw"),
        ("fish", "complete -c bapw"),
    ] {
        let out = run_bapw(home.path(), &["completions", shell]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        // fish names a long option `-l NAME`; bash and zsh write `--NAME`.
        let flag = |name: &str| match shell {
            "fish" => format!("-l {name}"),
            _ => format!("--{name}"),
        };
        for word in [
            "train".into(),
            "resume".into(),
            "sweep".into(),
            flag("preset"),
            flag("from"),
        ] {
            assert!(text.contains(&word), "{shell} lacks {word}");
        }
    }
    let out = run_bapw(home.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `--device cuda:N` is taken (and falls back to the CPU with a note where no GPU is visible),
/// a device that is not one is bad input, and the first event names the device's model and
/// memory.
#[test]
fn devices_are_named_and_fall_back_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let r = runs.to_str().unwrap();
    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--runs-dir",
            r,
            "--name",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events = read_events(&runs.join("d/events.jsonl")).unwrap();
    let Event::RunStarted(started) = &events[0] else {
        panic!("{:?}", events[0].kind());
    };
    assert!(started.device_model.as_ref().is_some_and(|m| !m.is_empty()));
    assert!(started.device_memory.is_some_and(|b| b > 1 << 20));
    assert!(stdout(&out).contains(" GiB, "), "{}", stdout(&out));

    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--device",
            "gpu",
            "--runs-dir",
            r,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("use auto, cpu, cuda or cuda:N"),
        "{}",
        stderr(&out)
    );

    if bapw::device::cuda_devices() == 0 {
        let out = run_bapw(
            home.path(),
            &[
                "train",
                "--preset",
                "smoke",
                "--headless",
                "--device",
                "cuda:7",
                "--runs-dir",
                r,
                "--name",
                "c",
                "--set",
                "train.epochs=1",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("cuda:7 was requested but no CUDA device is available"),
            "{}",
            stdout(&out)
        );
    }
}
