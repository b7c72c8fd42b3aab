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
