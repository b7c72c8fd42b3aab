//! Broken checkpoints (truncated, missing tensors, another model's shapes) give errors that
//! name the file, never a panic, from `bapw eval` and from `bapw resume`.
mod common;

use std::path::Path;

use common::{run_bapw, stderr, train_smoke};

fn eval(home: &Path, target: &Path) -> std::process::Output {
    run_bapw(
        home,
        &[
            "eval",
            target.to_str().unwrap(),
            "--attack",
            "fgsm",
            "--subset",
            "16",
        ],
    )
}

fn assert_clean_error(out: &std::process::Output, wants: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let e = stderr(out);
    assert!(!e.contains("panicked"), "{e}");
    for w in wants {
        assert!(e.contains(w), "missing {w:?} in {e}");
    }
}

#[test]
fn broken_checkpoints_are_named_errors() {
    let home = tempfile::tempdir().unwrap();
    assert!(train_smoke(home.path(), "c", &["eval.every=0"])
        .status
        .success());
    let run = home.path().join("runs/c");
    let ck = run.join("checkpoints/step-0000048.safetensors");
    assert!(
        eval(home.path(), &ck).status.success(),
        "a good checkpoint evaluates"
    );
    let good = std::fs::read(&ck).unwrap();

    // Truncated (killed mid-copy).
    std::fs::write(&ck, &good[..good.len() / 2]).unwrap();
    assert_clean_error(&eval(home.path(), &ck), &["step-0000048.safetensors"]);

    // Missing tensors.
    let some: Vec<(String, tch::Tensor)> =
        tch::Tensor::read_safetensors(run.join("checkpoints/step-0000032.safetensors"))
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k != "fc2.bias")
            .collect();
    tch::Tensor::write_safetensors(&some, &ck).unwrap();
    assert_clean_error(&eval(home.path(), &ck), &["fc2.bias"]);

    // Weights of another model (the preset now says other widths).
    std::fs::write(&ck, &good).unwrap();
    let preset = std::fs::read_to_string(run.join("preset.toml")).unwrap();
    let mut table: toml::Table = preset.parse().unwrap();
    bapw::config::preset::apply_set(&mut table, "model.hidden=[48, 32]").unwrap();
    std::fs::write(run.join("preset.toml"), toml::to_string(&table).unwrap()).unwrap();
    assert_clean_error(&eval(home.path(), &ck), &["shape"]);
    std::fs::write(run.join("preset.toml"), preset).unwrap();

    // Resume from a truncated checkpoint: the error names it.
    for f in [
        "step-0000048.json",
        "step-0000048.safetensors",
        "step-0000048.optim.safetensors",
    ] {
        std::fs::remove_file(run.join("checkpoints").join(f)).unwrap();
    }
    let ck32 = run.join("checkpoints/step-0000032.optim.safetensors");
    let bytes = std::fs::read(&ck32).unwrap();
    std::fs::write(&ck32, &bytes[..10]).unwrap();
    let out = run_bapw(
        home.path(),
        &[
            "resume",
            "c",
            "--headless",
            "--runs-dir",
            home.path().join("runs").to_str().unwrap(),
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(
        all.contains("step-0000032.optim.safetensors") && !all.contains("panicked"),
        "{all}"
    );
}
