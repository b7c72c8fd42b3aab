//! Sweeps: expansion of sweep files (shipped and constructed) into runs, the errors a bad
//! sweep file gets, and a sweep on synthetic data interrupted, continued and reported.
mod common;

use bapw::events::{Finished, Message, RunStarted};
use std::path::Path;

use bapw::sweep::spec::SweepFile;
use common::*;

fn shipped(name: &str) -> SweepFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("presets/sweeps/{name}.toml"));
    SweepFile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn quick_sweep_expands_to_forty_eight_valid_runs() {
    let s = shipped("quick-mnist");
    let runs = s.expand();
    assert_eq!(
        runs.len(),
        48,
        "4 methods x 2 sparsities x 2 processes x 3 seeds"
    );
    let methods: std::collections::BTreeSet<_> = runs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["bap", "fgsm eps=0.1", "fgsm eps=0.3", "natural"]
    );
    let ids: std::collections::BTreeSet<_> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), runs.len(), "run ids are unique");
    // Seed-major, then sparsity: the first 16 runs are seed 1, their first half 0.5.
    assert!(runs[..16].iter().all(|r| r.seed == 1));
    assert!(runs[..8].iter().all(|r| r.sparsity == 0.5));
    let r = runs
        .iter()
        .find(|r| r.id == "fgsm-eps0.3-s0.9-early-seed1")
        .unwrap();
    assert_eq!(
        r.sets,
        [
            "eval.every=0",
            "eval.subset=300",
            "eval.attacks=[\"fgsm\", \"pgd\", \"apgd\", \"deepfool\"]",
            "eval.eps=[0.0, 0.1, 0.2, 0.3]",
            "eval.apgd_steps=10",
            "adv.budget_every=20",
            "adv.deepfool_iters=3",
            "adv.candidates=4",
            "alerts.collapse_drop=1.0",
            "train.epochs=2",
            "prune.end_epoch=0.5",
            "prune.frequency=10",
            "train.mode=\"adversarial\"",
            "adv.attack=\"fgsm\"",
            "adv.eps=0.3",
            "prune.final_sparsity=0.9",
            "train.seed=1",
        ]
    );
    // Every run is a valid preset, and carries the axis values into it.
    let base = bapw::config::preset::Preset::load(&s.base).unwrap();
    s.validate_runs(&base, &runs).unwrap();
    let p = bapw::config::preset::Preset::from_toml_str("base", &base.to_toml(), &r.sets).unwrap();
    assert_eq!(p.adv.eps, 0.3);
    assert_eq!(p.prune.final_sparsity, 0.9);
    assert_eq!(p.prune.end_epoch, Some(0.5));
    assert_eq!(p.train.mode.as_str(), "adversarial");
    assert_eq!(p.eval.attacks, ["fgsm", "pgd", "apgd", "deepfool"]);
    assert_eq!(p.eval.apgd_steps, 10);
}

#[test]
fn paper_sweep_covers_the_grid_and_both_processes() {
    let s = shipped("paper-mnist");
    let runs = s.expand();
    // natural + FGSM at three eps + BAP, 16 sparsities, 2 processes.
    assert_eq!(runs.len(), 5 * 16 * 2);
    let processes: std::collections::BTreeSet<_> =
        runs.iter().map(|r| r.process.as_str()).collect();
    assert_eq!(
        processes.into_iter().collect::<Vec<_>>(),
        ["p20of50", "p30of70"]
    );
    let r = runs
        .iter()
        .find(|r| r.id == "bap-s0.999-p20of50-seed1")
        .unwrap();
    assert!(r.sets.contains(&"train.epochs=50".to_string()));
    assert!(r.sets.contains(&"prune.end_epoch=20.0".to_string()));
    let base = bapw::config::preset::Preset::load(&s.base).unwrap();
    s.validate_runs(&base, &runs).unwrap();
}

#[test]
fn seeds_and_bap_deltas_multiply_the_grid() {
    let s = SweepFile::parse(
        "t.toml",
        r#"
schema_version = 1
name = "t"
base = "smoke"
sparsity = [0.5]
seeds = [1, 2, 3]
[[method]]
name = "bap"
mode = "bap"
delta = [0.05, 0.1]
rho = [0.5, 1.0]
"#,
    )
    .unwrap();
    let runs = s.expand();
    assert_eq!(runs.len(), 3 * 2 * 2);
    assert_eq!(runs[0].id, "bap-delta0.05-rho0.5-s0.5-base-seed1");
    assert_eq!(runs[0].method, "bap delta=0.05 rho=0.5");
    assert!(runs[0].sets.contains(&"adv.cutoff=\"fixed\"".to_string()));
    assert_eq!(runs[11].seed, 3);
}

fn sweep_error(text: &str) -> String {
    SweepFile::parse("bad.toml", text).unwrap_err().to_string()
}

#[test]
fn bad_sweep_files_name_the_file_and_key() {
    let head = "schema_version = 1\nname = \"t\"\nbase = \"smoke\"\nsparsity = [0.5]\n";
    let e = sweep_error(&format!(
        "{head}sparsty = [1]\n[[method]]\nname=\"n\"\nmode=\"natural\"\n"
    ));
    assert!(e.contains("bad.toml") && e.contains("sparsty"), "{e}");
    let e = sweep_error(&format!(
        "{head}[[method]]\nname=\"n\"\nmode=\"natural\"\neps=[0.1]\n"
    ));
    assert!(
        e.contains("method[0].eps") && e.contains("adversarial"),
        "{e}"
    );
    let e = sweep_error(&format!("{head}[[method]]\nname=\"n\"\nmode=\"natral\"\n"));
    assert!(e.contains("method[0].mode") && e.contains("natral"), "{e}");
    let e = sweep_error("schema_version = 1\nname = \"t\"\nbase = \"smoke\"\nsparsity = [1.5]\n[[method]]\nname=\"n\"\nmode=\"natural\"\n");
    assert!(e.contains("sparsity") && e.contains("1.5"), "{e}");
    let e = sweep_error(&format!(
        "{head}[[method]]\nname=\"../x\"\nmode=\"natural\"\n"
    ));
    assert!(e.contains("method[0].name"), "{e}");
}

#[test]
fn a_typo_in_an_override_fails_before_any_run_starts() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("s.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"t\"\nbase = \"smoke\"\nset = [\"train.epoks=2\"]\nsparsity = [0.5]\n[[method]]\nname=\"n\"\nmode=\"natural\"\n",
    )
    .unwrap();
    let out_dir = home.path().join("sweep");
    let o = run_bapw(
        home.path(),
        &[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("n-s0.5-base-seed1") && e.contains("epoks"),
        "{e}"
    );
    assert!(!out_dir.join("runs").exists(), "nothing ran");
}

const SMALL_SWEEP: &str = r#"
schema_version = 1
name = "small"
base = "smoke"
set = ["eval.every=0", "eval.subset=64", "checkpoint.every=64", "train.log_every=1000"]
sparsity = [0.5]

[[process]]
name = "short"
epochs = 2
end_epoch = 1.0

[[process]]
name = "long"
epochs = 600
end_epoch = 1.0

[[method]]
name = "natural"
mode = "natural"

[[method]]
name = "fgsm"
mode = "adversarial"
attack = "fgsm"
eps = [0.1]
"#;

fn events_of(dir: &Path) -> Vec<bapw::train::Event> {
    bapw::events::read_events(&dir.join("events.jsonl")).unwrap()
}

/// A sweep started with `--limit`, then interrupted (SIGTERM) while a long run trains, then
/// continued: finished runs are not touched, the interrupted run resumes from its checkpoint,
/// the untouched one starts, and the report comes out at the end.
#[test]
fn an_interrupted_sweep_continues_where_it_stopped() {
    use bapw::train::Event;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("small.toml");
    std::fs::write(&file, SMALL_SWEEP).unwrap();
    let dir = home.path().join("sweep");
    let d = dir.to_str().unwrap();

    // 1. Two runs, at the same time.
    let o = run_bapw(
        home.path(),
        &[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            d,
            "--limit",
            "2",
            "--jobs",
            "2",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let runs = dir.join("runs");
    let first = ["natural-s0.5-short-seed1", "fgsm-s0.5-short-seed1"];
    let mut before = Vec::new();
    for id in first {
        let ev = events_of(&runs.join(id));
        assert!(
            matches!(ev.last(), Some(Event::Finished(Finished { .. }))),
            "{id}"
        );
        // --jobs 2 gives each run at most half the cores, and never more than smoke's one.
        assert!(ev
            .iter()
            .any(|e| matches!(e, Event::RunStarted(RunStarted { threads: 1, .. }))));
        before.push(std::fs::read(runs.join(id).join("events.jsonl")).unwrap());
    }
    assert!(
        stdout(&o).contains("2 of 4 runs finished"),
        "{}",
        stdout(&o)
    );

    // 2. Continue from the folder; stop it with SIGTERM once the long run has a checkpoint.
    let child = bapw()
        .args(["sweep", d])
        .env("BAPW_DATA_DIR", home.path().join("data"))
        .env("BAPW_CONFIG_DIR", home.path().join("config"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let long = runs.join("natural-s0.5-long-seed1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !long.join("checkpoints/step-0000064.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of the long run"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(130), "{text}");
    assert!(
        text.contains("sweep interrupted: 2 of 4 runs finished"),
        "{text}"
    );
    let ev = events_of(&long);
    assert!(
        matches!(
            ev.last(),
            Some(Event::Finished(Finished {
                state: bapw::events::EndState::Stopped,
                ..
            }))
        ),
        "the long run stopped cleanly: {:?}",
        ev.last()
    );
    assert!(
        !runs.join("fgsm-s0.5-long-seed1").exists(),
        "nothing new started"
    );

    // 3. Continue again: the stopped run resumes, the last one starts, the report appears.
    let o = run_bapw(home.path(), &["sweep", d]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("resume  natural-s0.5-long-seed1"), "{text}");
    assert!(text.contains("start   fgsm-s0.5-long-seed1"), "{text}");
    assert!(
        !text.contains("natural-s0.5-short"),
        "finished runs are not redone: {text}"
    );
    for (id, bytes) in first.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(runs.join(id).join("events.jsonl")).unwrap(),
            bytes,
            "{id}"
        );
    }
    let ev = events_of(&long);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Message(Message { text, .. }) if text.starts_with("resumed from"))),
        "the long run was resumed, not restarted"
    );
    assert!(
        matches!(ev.last(), Some(Event::Finished(Finished { state: bapw::events::EndState::Finished, step, .. })) if *step == 600 * 16)
    );
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(md.contains("4 of 4 runs finished"), "{md}");
    for f in [
        "report.csv",
        "runs.csv",
        "auc-vs-sparsity.svg",
        "robustness-s0.5.svg",
    ] {
        assert!(dir.join("report").join(f).exists(), "{f}");
    }
    // The headless sweep watcher lists every run as finished.
    let o = run_bapw(home.path(), &["watch", d, "--headless"]);
    assert_eq!(stdout(&o).matches("finished ").count(), 4, "{}", stdout(&o));
}

#[test]
fn a_sweep_folder_refuses_a_different_sweep_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("small.toml");
    std::fs::write(&file, SMALL_SWEEP).unwrap();
    let dir = home.path().join("sweep");
    let (f, d) = (file.to_str().unwrap(), dir.to_str().unwrap());
    // --limit 0 sets the folder up and starts nothing.
    let o = run_bapw(home.path(), &["sweep", f, "--out", d, "--limit", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0 of 4 runs finished"),
        "{}",
        stdout(&o)
    );
    let plan = bapw::sweep::Plan::load(&dir).unwrap();
    assert_eq!(plan.runs.len(), 4);
    assert!(dir.join("base.toml").exists() && dir.join("sweep.toml").exists());
    std::fs::write(&file, SMALL_SWEEP.replace("[0.5]", "[0.6]")).unwrap();
    let o = run_bapw(home.path(), &["sweep", f, "--out", d]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds a different sweep"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("runs").exists(), "nothing ran");
}
