//! `bapw export`: tables and plots computed from a run's events.
mod common;

use common::{run_bapw, stderr, stdout};

#[test]
fn export_writes_csv_json_and_svg_plots() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let r = runs.to_str().unwrap();
    let out = common::train_smoke(home.path(), "e", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plots = home.path().join("plots");
    let out = run_bapw(
        home.path(),
        &[
            "export",
            "e",
            "--runs-dir",
            r,
            "--plots",
            plots.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("steps.csv"));
    let steps = std::fs::read_to_string(runs.join("e/export/steps.csv")).unwrap();
    let lines: Vec<&str> = steps.lines().collect();
    assert_eq!(
        lines[0],
        "step,epoch,loss,clean_loss,adv_loss,train_acc,target_sparsity,sparsity,samples_per_s"
    );
    assert_eq!(lines.len(), 1 + 48);
    let epochs = std::fs::read_to_string(runs.join("e/export/epochs.csv")).unwrap();
    assert_eq!(epochs.lines().count(), 1 + 3);
    let svg = std::fs::read_to_string(plots.join("loss_sparsity.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("sparsity"),
        "{}",
        &svg[..200]
    );

    let out = run_bapw(
        home.path(),
        &["export", "e", "--runs-dir", r, "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("e/export/run.json")).unwrap())
            .unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 48);
    assert_eq!(v["steps"][0]["step"], 0.0);
    assert!(v["steps"][0]["adv_loss"].is_null());

    let out = run_bapw(
        home.path(),
        &["export", "e", "--runs-dir", r, "--format", "xml"],
    );
    assert_eq!(out.status.code(), Some(2), "bad input");
    assert!(stderr(&out).contains("xml"));
}
