//! Presets: every shipped one is valid; mistakes are reported with file, line and key.
use bapw::config::preset::{Preset, SHIPPED};

#[test]
fn every_shipped_preset_is_valid_and_documented() {
    for (name, text) in SHIPPED {
        let p = Preset::from_toml_str(name, text, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.description.is_empty(), "{name} has no description");
        assert!(
            text.starts_with('#'),
            "{name} lacks a comment block at its top"
        );
        let on_disk = std::fs::read_to_string(format!("presets/{name}.toml")).unwrap();
        assert_eq!(&on_disk, text);
    }
}

#[test]
fn mnist_natural_is_the_paper_setup() {
    let p = Preset::load("mnist-natural").unwrap();
    assert_eq!((p.train.epochs, p.train.batch_size), (70, 128));
    assert_eq!((p.train.lr, p.train.label_smoothing), (1e-3, 0.1));
    // 469 steps per epoch on 60k images: pruning over steps 0..14070, every 100.
    let s = p.schedule(p.steps_per_epoch(60_000));
    assert_eq!((s.begin_step, s.end_step, s.frequency), (0, 14_070, 100));
    assert_eq!(s.final_sparsity, 0.9);
}

#[test]
fn inherit_sets_only_what_differs() {
    let p = Preset::load("mnist-bap-quick").unwrap();
    let base = Preset::load("mnist-bap").unwrap();
    assert_eq!(p.train.mode, base.train.mode);
    assert_eq!(p.adv.deepfool_iters, base.adv.deepfool_iters);
    assert_eq!(p.train.epochs, 2);
}

fn problems(text: &str) -> String {
    Preset::from_toml_str("bad.toml", text, &[])
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn unknown_key_suggests_the_closest_name() {
    let e = problems("schema_version = 1\n[prune]\nfinal_sparsty = 0.5\n");
    assert!(
        e.contains("bad.toml:3") && e.contains("final_sparsty") && e.contains("final_sparsity"),
        "{e}"
    );
}

#[test]
fn out_of_range_values_are_all_reported_with_lines() {
    let e = problems(
        "schema_version = 1\n[prune]\nfinal_sparsity = 1.0\nbegin_step = 50\nend_step = 10\n[adv]\neps = -0.1\nrho = 0\n",
    );
    for want in [
        "bad.toml:3: prune.final_sparsity",
        "prune.end_step: end is not after begin",
        "bad.toml:7: adv.eps",
        "bad.toml:8: adv.rho",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn malformed_toml_wrong_types_and_unknown_names() {
    let e = problems("schema_version = 1\n[train\nepochs = 2\n");
    assert!(e.starts_with("bad.toml:2"), "{e}");
    let e = problems("schema_version = 1\n[train]\nepochs = \"many\"\n");
    assert!(e.contains("bad.toml") && e.contains("epochs"), "{e}");
    let e = problems("schema_version = 1\n[data]\ndataset = \"mnst\"\n[model]\narch = \"lenet\"\n");
    assert!(
        e.contains("did you mean \"mnist\"") && e.contains("did you mean \"lenet5\""),
        "{e}"
    );
    let e = problems("");
    assert!(e.contains("bad.toml") && e.contains("empty"), "{e}");
    let e = problems("[train]\nepochs = 2\n");
    assert!(e.contains("schema_version") && e.contains("missing"), "{e}");
}

#[test]
fn set_overrides_apply_and_are_validated() {
    let p = Preset::load_with(
        "smoke",
        &["prune.final_sparsity=0.5".into(), "model.hidden=[8]".into()],
    )
    .unwrap();
    assert_eq!(p.prune.final_sparsity, 0.5);
    assert_eq!(p.model.hidden, vec![8]);
    let e = Preset::load_with("smoke", &["prune.final_sparsity=2".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("prune.final_sparsity") && e.contains("outside [0, 1)"),
        "{e}"
    );
    let e = Preset::load_with("smoke", &["nonsense".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("key=value"), "{e}");
}

#[test]
fn unknown_preset_name_lists_shipped_ones() {
    let e = Preset::load("smok").err().unwrap().to_string();
    assert!(
        e.contains("did you mean `smoke`") && e.contains("mnist-quick"),
        "{e}"
    );
}

#[test]
fn diff_lists_changed_keys() {
    let a = Preset::load("mnist-bap").unwrap();
    let b = Preset::load("mnist-bap-quick").unwrap();
    let d = bapw::config::preset::diff(&a, &b);
    let keys: Vec<&str> = d.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(
        keys.contains(&"train.epochs") && keys.contains(&"data.train_subset"),
        "{keys:?}"
    );
    assert!(!keys.contains(&"train.mode"));
    let epochs = d.iter().find(|(k, _, _)| k == "train.epochs").unwrap();
    assert_eq!((epochs.1.as_str(), epochs.2.as_str()), ("70", "2"));
}

#[test]
fn save_refuses_shipped_names_and_overwrites_only_with_force() {
    let home = tempfile::tempdir().unwrap();
    let src = home.path().join("preset.toml");
    std::fs::write(&src, Preset::load("smoke").unwrap().to_toml()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bapw"))
            .args(args)
            .env("BAPW_CONFIG_DIR", home.path().join("config"))
            .output()
            .unwrap()
    };
    let dir = home.path().to_str().unwrap();
    std::fs::write(home.path().join("events.jsonl"), "").unwrap();
    let out = run(&["presets", "save", "smoke", "--from", dir]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shipped"));
    let out = run(&["presets", "save", "mine", "--from", dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["presets", "save", "mine", "--from", dir]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(run(&["presets", "save", "mine", "--from", dir, "--force"])
        .status
        .success());
    let out = run(&["presets", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("mine") && l.contains("user")),
        "{text}"
    );
    let out = run(&["presets", "save", "../x", "--from", dir]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid preset name"));
}

#[test]
fn released_bap_is_plain_deepfool_training_and_mnist_bap_the_papers() {
    let released = Preset::load("mnist-bap-released").unwrap();
    let paper = Preset::load("mnist-bap").unwrap();
    // A fixed cut-off at RMS 1.0: no perturbation of [0, 1] images is longer, so none is cut.
    assert_eq!(released.adv.cutoff, bapw::config::preset::Cutoff::Fixed);
    assert_eq!(released.adv.delta, 1.0);
    assert_eq!(paper.adv.cutoff, bapw::config::preset::Cutoff::BatchMean);
    let differs: Vec<String> = bapw::config::preset::diff(&released, &paper)
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(
        differs,
        ["adv.cutoff", "adv.delta", "description", "inherit", "name"]
    );
}
