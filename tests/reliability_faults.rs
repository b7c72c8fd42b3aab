//! Faults during a run: a NaN/Inf loss stops a headless run with a message naming the step,
//! the weights are never updated with it and the last good checkpoint is kept.
mod common;

use bapw::train::events::{read_events, Event};
use common::stdout;

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
            if let Event::Error { step, .. } = e {
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
