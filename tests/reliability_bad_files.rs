//! Bad files never crash bapw: every kind of preset and theme mistake (one fixture file per
//! kind under `tests/fixtures/`) is refused with exit code 2 and a message naming the file,
//! line and key (a message in the workbench for themes); broken dataset files and checkpoints
//! are errors naming the file and the problem, never a panic.
mod common;

use std::path::Path;

use bapw::data::idx::encode_idx;
use bapw::data::{cifar, load_idx_dir};
use common::datasets::{cifar_records, write_mnist_like};
use common::{run_bapw, stderr, stdout, train_smoke};

/// (file, the substrings the message must hold)
const CASES: &[(&str, &[&str])] = &[
    ("malformed.toml", &["malformed.toml:2"]),
    (
        "unknown_key.toml",
        &[
            "unknown_key.toml:3",
            "final_sparsty",
            "did you mean `final_sparsity`",
        ],
    ),
    (
        "wrong_type.toml",
        &["wrong_type.toml:3", "train.epochs", "invalid type"],
    ),
    (
        "sparsity_out_of_range.toml",
        &[
            "sparsity_out_of_range.toml:3",
            "prune.final_sparsity",
            "outside [0, 1)",
        ],
    ),
    (
        "end_before_begin.toml",
        &[
            "end_before_begin.toml:4",
            "prune.end_step",
            "not after begin",
        ],
    ),
    (
        "negative_eps.toml",
        &["negative_eps.toml:3", "adv.eps", "must be >= 0"],
    ),
    (
        "rho_not_positive.toml",
        &["rho_not_positive.toml:3", "adv.rho", "must be > 0"],
    ),
    (
        "unknown_dataset.toml",
        &[
            "unknown_dataset.toml:3",
            "data.dataset",
            "did you mean \"mnist\"",
        ],
    ),
    (
        "unknown_model.toml",
        &["unknown_model.toml:3", "model.arch", "lenet5"],
    ),
    ("empty.toml", &["empty.toml", "empty"]),
    ("huge_number.toml", &["huge_number.toml:3"]),
    (
        "wrong_schema.toml",
        &["wrong_schema.toml:1", "schema_version", "not supported"],
    ),
    (
        "bad_inherit.toml",
        &["bad_inherit.toml:2", "inherit", "no-such-preset"],
    ),
    ("binary_garbage.toml", &["binary_garbage.toml"]),
];

#[test]
fn every_kind_of_preset_mistake_is_reported_with_file_line_and_key() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/presets");
    let home = tempfile::tempdir().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every fixture has expectations");
    for (file, wants) in CASES {
        let path = dir.join(file);
        let out = common::run_bapw(
            home.path(),
            &["presets", "validate", path.to_str().unwrap()],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{file}: {}",
            common::stderr(&out)
        );
        let err = common::stderr(&out);
        for w in *wants {
            assert!(err.contains(w), "{file}: missing {w:?} in\n{err}");
        }
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
    // A folder instead of a file, and an unreadable file, are errors too.
    let out = common::run_bapw(
        home.path(),
        &["presets", "validate", &format!("{}/", dir.display())],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("directory"),
        "{}",
        common::stderr(&out)
    );
    let unreadable = unreadable_file(home.path(), "unreadable.toml");
    let out = common::run_bapw(
        home.path(),
        &["presets", "validate", unreadable.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unreadable.toml"), "{}", stderr(&out));
}

/// A file that cannot be read. Permission bits do not stop root (CI runs tests as root), so
/// as root it is a symlink to itself (reading fails with ELOOP); otherwise mode 000.
fn unreadable_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    // SAFETY: geteuid only reads the process's user id.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::symlink(&path, &path).unwrap();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, "schema_version = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    assert!(
        std::fs::read(&path).is_err(),
        "{} is readable",
        path.display()
    );
    path
}

#[test]
fn bad_preset_input_exits_2_with_the_key() {
    let home = tempfile::tempdir().unwrap();
    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--set",
            "prune.final_sparsity=1.5",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("prune.final_sparsity"),
        "{}",
        stderr(&out)
    );
    let bad = home.path().join("bad.toml");
    std::fs::write(&bad, "schema_version = 1\n[train]\nepoch = 3\n").unwrap();
    let out = run_bapw(
        home.path(),
        &["train", "--preset", bad.to_str().unwrap(), "--headless"],
    );
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("bad.toml:3") && e.contains("did you mean `epochs`"),
        "{e}"
    );
}

#[test]
fn missing_dataset_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "mnist-quick",
            "--headless",
            "--runs-dir",
            home.path().join("runs").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("bapw data fetch mnist") && text.contains("run failed"),
        "{text}"
    );
}

/// (theme fixture, what the message must hold: file:line and key)
const THEME_CASES: &[(&str, &[&str])] = &[
    (
        "bad_colour.toml",
        &["bad_colour.toml:4", "palette.warn", "#rrggbb"],
    ),
    (
        "bad_inherits.toml",
        &["bad_inherits.toml", "inherits", "did you mean `dark`"],
    ),
    ("binary_garbage.toml", &["binary_garbage.toml", "UTF-8"]),
    ("empty.toml", &["empty.toml", "palette", "missing: fg"]),
    ("huge_number.toml", &["huge_number.toml:4"]),
    (
        "incomplete.toml",
        &["incomplete.toml", "palette", "missing: bg"],
    ),
    ("malformed.toml", &["malformed.toml:2"]),
    (
        "out_of_range.toml",
        &["out_of_range.toml:4", "palette.warn", "0-255"],
    ),
    (
        "unknown_key.toml",
        &["unknown_key.toml:2", "colours", "unknown key"],
    ),
    (
        "unknown_slot.toml",
        &[
            "unknown_slot.toml:4",
            "palette.accnet",
            "did you mean `accent`",
        ],
    ),
    (
        "wrong_type.toml",
        &["wrong_type.toml:2", "description", "expected a string"],
    ),
];

/// Every theme fixture in `<config>/themes/`, plus a folder and an unreadable file.
fn config_with_broken_themes(home: &Path) -> Vec<(String, Vec<String>)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/themes");
    let themes = home.join("config/themes");
    std::fs::create_dir_all(themes.join("folder.toml")).unwrap();
    unreadable_file(&themes, "unreadable.toml");
    let mut files: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let listed: Vec<&str> = THEME_CASES.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "every theme fixture has expectations");
    let mut cases: Vec<(String, Vec<String>)> = THEME_CASES
        .iter()
        .map(|(f, wants)| {
            std::fs::copy(fixtures.join(f), themes.join(f)).unwrap();
            (f.to_string(), wants.iter().map(|w| w.to_string()).collect())
        })
        .collect();
    cases.push((
        "folder.toml".into(),
        vec!["folder.toml".into(), "directory".into()],
    ));
    cases.push(("unreadable.toml".into(), vec!["unreadable.toml".into()]));
    cases
}

#[test]
fn every_kind_of_theme_mistake_exits_2_on_the_cli_and_is_a_message_in_the_workbench() {
    let home = tempfile::tempdir().unwrap();
    let cases = config_with_broken_themes(home.path());
    let runs = home.path().join("runs");
    for (file, wants) in &cases {
        let name = file.trim_end_matches(".toml");
        let out = run_bapw(
            home.path(),
            &[
                "--theme",
                name,
                "runs",
                "--runs-dir",
                runs.to_str().unwrap(),
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        for w in wants {
            assert!(err.contains(w.as_str()), "{file}: missing {w:?} in\n{err}");
        }
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
    let out = run_bapw(home.path(), &["--theme", "drak", "runs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `dark`"),
        "{}",
        stderr(&out)
    );
    // A good choice still works beside the broken files.
    let out = run_bapw(
        home.path(),
        &[
            "--theme",
            "light",
            "runs",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // The workbench opens anyway, on a shipped theme, and says what it skipped and why.
    let app = bapw::tui::App::new(
        bapw::config::Preset::load("smoke").unwrap(),
        "smoke",
        bapw::config::store::Store::at(home.path().join("config")),
        None,
    );
    let notes: Vec<String> = app.run.log.entries().map(|e| e.text.clone()).collect();
    for (file, wants) in &cases {
        let note = notes
            .iter()
            .find(|n| n.starts_with("theme skipped") && n.contains(file.as_str()))
            .unwrap_or_else(|| panic!("no message for {file} in {notes:#?}"));
        for w in wants {
            assert!(note.contains(w.as_str()), "{file}: missing {w:?} in {note}");
        }
    }
    assert_eq!(app.theme().name, "dark");
}

fn err_of(dir: &Path) -> String {
    format!("{:#}", load_idx_dir(dir, "mnist").err().expect("must fail"))
}

#[test]
fn broken_idx_files_name_file_and_problem() {
    let d = tempfile::tempdir().unwrap();
    write_mnist_like(d.path(), 12, 5, false);
    let labels = d.path().join("train-labels-idx1-ubyte");

    // Count mismatch between images and labels.
    std::fs::write(&labels, encode_idx(&[11], &[0u8; 11])).unwrap();
    let e = err_of(d.path());
    assert!(
        e.contains("12 images") && e.contains("11 labels") && e.contains("train-labels"),
        "{e}"
    );

    // Label outside the class range.
    std::fs::write(&labels, encode_idx(&[12], &[10u8; 12])).unwrap();
    let e = err_of(d.path());
    assert!(e.contains("label 10") && e.contains("train-labels"), "{e}");

    // Bad magic (an image file where labels belong).
    std::fs::write(&labels, encode_idx(&[12, 1, 1], &[0u8; 12])).unwrap();
    let e = err_of(d.path());
    assert!(e.contains("bad magic") && e.contains("train-labels"), "{e}");

    // Truncated.
    let full = encode_idx(&[12], &[1u8; 12]);
    std::fs::write(&labels, &full[..full.len() - 3]).unwrap();
    let e = err_of(d.path());
    assert!(e.contains("truncated") && e.contains("train-labels"), "{e}");

    // Missing file.
    std::fs::remove_file(&labels).unwrap();
    let e = err_of(d.path());
    assert!(e.contains("train-labels-idx1-ubyte"), "{e}");
}

#[test]
fn cifar_wrong_length_and_bad_label_are_named() {
    let d = tempfile::tempdir().unwrap();
    for f in cifar::FILES {
        std::fs::write(d.path().join(f), cifar_records(2, 1)).unwrap();
    }
    let mut short = cifar_records(2, 1);
    short.pop();
    std::fs::write(d.path().join("data_batch_3.bin"), short).unwrap();
    let e = format!("{:#}", cifar::load_dir(d.path()).err().unwrap());
    assert!(
        e.contains("data_batch_3.bin") && e.contains("whole number"),
        "{e}"
    );
    std::fs::write(d.path().join("data_batch_3.bin"), cifar_records(1, 12)).unwrap();
    let e = format!("{:#}", cifar::load_dir(d.path()).err().unwrap());
    assert!(
        e.contains("data_batch_3.bin") && e.contains("label 12"),
        "{e}"
    );
}

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
    bapw::config::keypath::apply_set(&mut table, "model.hidden=[48, 32]").unwrap();
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
