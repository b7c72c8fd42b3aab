//! The adversarial training modes end to end through the real binary on the `smoke` preset
//! (synthetic data, seconds): every mode and loss trains, `budget` and `eval` events are in
//! the run's log with sensible numbers, `bapw eval` on the final checkpoint reproduces the
//! run's last evaluation exactly, and BAP on a convolutional net keeps a flat resident size.
mod common;

use bapw::events::{read_events, Budget, EndState, Eval, Event, Finished, Step};
use std::path::Path;

use common::run_bapw as bapw;

/// Trains `smoke` for 2 epochs with the given overrides; returns the run's events.
fn train(home: &Path, name: &str, sets: &[&str]) -> Vec<Event> {
    let all: Vec<&str> = ["train.epochs=2", "adv.budget_every=4", "eval.subset=64"]
        .iter()
        .chain(sets)
        .copied()
        .collect();
    let out = common::train_smoke(home, name, &all);
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    read_events(&home.join("runs").join(name).join("events.jsonl")).unwrap()
}

fn check_common(name: &str, events: &[Event], mode: &str) {
    let Some(Event::Finished(Finished { state, .. })) = events.last() else {
        panic!("{name}: no finished event");
    };
    assert_eq!(*state, EndState::Finished, "{name}");
    let steps: Vec<(f64, Option<f64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(Step { loss, adv_loss, .. }) => Some((*loss, *adv_loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 32, "{name}: 2 epochs of 16 steps");
    assert!(
        steps
            .iter()
            .all(|(l, a)| l.is_finite() && a.is_some_and(f64::is_finite)),
        "{name}: every step has a finite loss and adversarial loss"
    );
    let budgets: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Budget(Budget { .. })))
        .collect();
    assert_eq!(budgets.len(), 8, "{name}: one budget event per 4 steps");
    for b in budgets {
        let Event::Budget(Budget {
            step,
            mode: m,
            flip_rate,
            budgets,
            ..
        }) = b
        else {
            unreachable!()
        };
        assert_eq!(m, mode, "{name}");
        assert_eq!((step + 1) % 4, 0, "{name}: budget events every 4th step");
        assert!((0.0..=1.0).contains(flip_rate), "{name}: {flip_rate}");
        assert_eq!(
            budgets.counts.iter().sum::<u64>(),
            64,
            "{name}: one per example"
        );
    }
    let evals = events
        .iter()
        .filter(|e| matches!(e, Event::Eval(Eval { .. })))
        .count();
    assert_eq!(evals, 2, "{name}: after epoch 1 and at the end");
}

#[test]
fn uniform_modes_train_and_report_their_budget() {
    let home = tempfile::tempdir().unwrap();
    for (name, sets) in [
        ("fgsm", vec!["train.mode=\"adversarial\"", "adv.eps=0.1"]),
        (
            "pgd-trades",
            vec![
                "train.mode=\"adversarial\"",
                "adv.attack=\"pgd\"",
                "adv.pgd_steps=3",
                "adv.eps=0.1",
                "adv.loss=\"trades\"",
                "adv.trades_beta=2.0",
            ],
        ),
    ] {
        let events = train(home.path(), name, &sets);
        check_common(name, &events, "adversarial");
        for e in &events {
            if let Event::Budget(Budget {
                budgets,
                distances,
                delta,
                cut_fraction,
                ..
            }) = e
            {
                // The constant ε is the whole distribution.
                assert!((budgets.p5 - 0.1).abs() < 1e-12 && budgets.std < 1e-12);
                assert!(distances.is_none() && delta.is_none() && *cut_fraction == 0.0);
            }
        }
    }
}

#[test]
fn bap_trains_with_nonuniform_budgets_and_eval_reproduces_from_the_checkpoint() {
    let home = tempfile::tempdir().unwrap();
    let events = train(home.path(), "bap", &["train.mode=\"bap\"", "adv.rho=0.9"]);
    check_common("bap", &events, "bap");
    for e in &events {
        if let Event::Budget(Budget {
            budgets,
            distances,
            delta,
            rho,
            cut_fraction,
            ..
        }) = e
        {
            let d = distances.as_ref().expect("BAP reports DeepFool distances");
            let delta = delta.expect("batch-mean cut-off");
            assert!((d.mean - delta).abs() < 1e-4, "δ is the batch mean of d_i");
            // eps_i = rho * min(d_i, δ): never above rho * δ, and cut where d_i > δ.
            assert!(budgets.p95 <= rho * delta + 1e-5 && budgets.std > 0.0);
            assert!((0.0..1.0).contains(cut_fraction) && *cut_fraction > 0.0);
            assert!(budgets.mean < d.mean, "the cut only shrinks budgets");
        }
    }
    // TRADES on the BAP examples and a fixed cut-off also train.
    let trades = train(
        home.path(),
        "bap-trades",
        &[
            "train.mode=\"bap\"",
            "adv.loss=\"trades\"",
            "adv.cutoff=\"fixed\"",
            "adv.delta=0.05",
        ],
    );
    check_common("bap-trades", &trades, "bap");
    assert!(
        trades.iter().any(|e| matches!(e,
        Event::Budget(Budget { delta: Some(d), budgets, .. }) if *d == 0.05 && budgets.p95 <= 0.05 + 1e-6))
    );

    // `bapw eval RUN --json` on the last checkpoint gives the run's final evaluation.
    let Some(Event::Eval(Eval {
        clean_acc, curves, ..
    })) = events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::Eval(Eval { .. })))
    else {
        panic!("no eval event")
    };
    let run = home.path().join("runs/bap");
    let out = bapw(home.path(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["clean_accuracy"].as_f64().unwrap(), *clean_acc);
    assert_eq!(v["examples"].as_u64().unwrap(), 64);
    let got: Vec<bapw::events::AttackCurve> = serde_json::from_value(v["attacks"].clone()).unwrap();
    assert_eq!(
        &got, curves,
        "same checkpoint, images and seed: same curves"
    );

    // A checkpoint file with other options prints a table.
    let ckpt = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".safetensors") && !n.ends_with(".optim.safetensors")
        })
        .unwrap();
    let out = bapw(
        home.path(),
        &[
            "eval",
            ckpt.to_str().unwrap(),
            "--attack",
            "fgsm,deepfool",
            "--eps",
            "0,0.1",
            "--subset",
            "32",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("32 test images") && text.contains("AUC"),
        "{text}"
    );
    assert!(text.contains("fgsm") && text.contains("deepfool") && !text.contains("pgd"));

    // Mistakes are errors that name the problem.
    let out = bapw(home.path(), &["eval", "/nonexistent/step-1.safetensors"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = bapw(
        home.path(),
        &["eval", run.to_str().unwrap(), "--attack", "cw"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown attack"));
}

#[test]
fn bap_on_a_convolutional_net_keeps_its_memory_flat() {
    // LeNet-5 on the smoke preset's 8x8 images: DeepFool through the convolutional input
    // gradients and the clean forward shared with the update, 2,000 steps.
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let mut child = common::bapw()
        .args(["train", "--preset", "smoke", "--headless", "--name", "long"])
        .arg("--runs-dir")
        .arg(&runs)
        .args([
            "--set",
            "train.mode=\"bap\"",
            "--set",
            "model.arch=\"lenet5\"",
        ])
        .args(["--set", "train.epochs=130", "--set", "eval.every=0"])
        .args(["--set", "checkpoint.every=5000"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = runs.join("long/events.jsonl");
    let (mut early, mut late) = (None, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    while late.is_none() {
        assert!(std::time::Instant::now() < deadline, "too slow");
        let step = common::last_step(&std::fs::read_to_string(&log).unwrap_or_default());
        if step >= 400 && early.is_none() {
            early = common::rss_kib(child.id());
        }
        if step >= 2000 {
            late = common::rss_kib(child.id());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    let (a, b) = (early.unwrap(), late.unwrap());
    eprintln!("RSS at step 400: {a} KiB, at step 2000: {b} KiB");
    assert!(
        b <= a + a / 20,
        "resident size grew from {a} KiB to {b} KiB"
    );
    let events = read_events(&log).unwrap();
    assert!(matches!(
        events.last(),
        Some(Event::Finished(Finished {
            state: EndState::Finished,
            ..
        }))
    ));
    let losses: Vec<(f64, Option<f64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(Step { loss, adv_loss, .. }) => Some((*loss, *adv_loss)),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 130 * 16);
    assert!(losses
        .iter()
        .all(|(l, a)| l.is_finite() && a.is_some_and(f64::is_finite)));
}
