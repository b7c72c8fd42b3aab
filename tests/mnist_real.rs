//! The real thing: LeNet-5 on full MNIST for 2 epochs with cubic pruning to 90% reaches 98%
//! test accuracy, and its checkpoint loads into PyTorch with the same accuracy.
mod common;

use bapw::events::{read_events, Event, Finished};
use common::{epoch_test_accs, mnist_dir, run_bapw, stderr, torch_python};

#[test]
fn lenet5_two_epochs_reaches_98_percent_and_loads_in_pytorch() {
    let Some(mnist) = mnist_dir() else { return };
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let data_path = format!("data.path=\"{}\"", mnist.display());
    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "mnist-quick",
            "--headless",
            "--name",
            "m",
            "--runs-dir",
            runs.to_str().unwrap(),
            "--set",
            &data_path,
            "--set",
            "train.epochs=2",
            "--set",
            "prune.end_epoch=1.5",
            "--set",
            "eval.every=0",
            "--set",
            "eval.subset=100",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = runs.join("m");
    let events = read_events(&dir.join("events.jsonl")).unwrap();
    let accs = epoch_test_accs(&events);
    assert_eq!(accs.len(), 2);
    assert!(accs[1] >= 0.98, "test accuracy after 2 epochs: {accs:?}");
    let Some(Event::Finished(Finished {
        sparsity, test_acc, ..
    })) = events.last()
    else {
        panic!()
    };
    assert!((sparsity - 0.9).abs() < 1e-3, "{sparsity}");

    let Some(py) = torch_python() else { return };
    let ckpt = dir.join("checkpoints/step-0000938.safetensors");
    let out = std::process::Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/eval_checkpoint.py"
        ))
        .arg(&ckpt)
        .arg(&mnist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let torch_acc = v["test_acc"].as_f64().unwrap();
    // Same weights, same images: at most one image may flip on float differences.
    assert!(
        (torch_acc - test_acc).abs() <= 1e-4 + 1e-9,
        "pytorch {torch_acc} vs bapw {test_acc}"
    );
    assert!((v["sparsity"].as_f64().unwrap() - 0.9).abs() < 1e-3);
}
