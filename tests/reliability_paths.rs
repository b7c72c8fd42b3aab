//! Paths: run and preset names cannot escape their folders (`../`), every file bapw creates
//! gets the user's umask, and nothing is written outside the config, data and runs folders.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::datasets::write_mnist_like;
use common::{run_bapw, stderr};

#[test]
fn run_names_cannot_escape_the_runs_folder() {
    let home = tempfile::tempdir().unwrap();
    let out = run_bapw(
        home.path(),
        &[
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--name",
            "../evil",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("invalid run name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn names_with_slashes_or_dots_are_refused_everywhere() {
    let home = tempfile::tempdir().unwrap();
    let runs = home.path().join("runs");
    let r = runs.to_str().unwrap();
    assert!(
        common::train_smoke(home.path(), "ok", &["train.epochs=1", "eval.every=0"])
            .status
            .success()
    );
    let before = tree(home.path());
    for bad in ["../evil", "a/b", "..", ".hidden", "/tmp/evil", ""] {
        let cases: [Vec<&str>; 5] = [
            vec![
                "train",
                "--preset",
                "smoke",
                "--headless",
                "--runs-dir",
                r,
                "--name",
                bad,
            ],
            vec!["presets", "save", bad, "--from", "ok", "--runs-dir", r],
            vec!["watch", bad, "--headless", "--runs-dir", r],
            vec!["export", bad, "--runs-dir", r],
            vec!["resume", bad, "--headless", "--runs-dir", r],
        ];
        for args in cases {
            let out = run_bapw(home.path(), &args);
            assert_ne!(out.status.code(), Some(0), "{args:?} was accepted");
            let err = stderr(&out);
            assert!(
                err.contains("invalid run name") || err.contains("invalid preset name"),
                "{args:?}: {err}"
            );
        }
    }
    // Only the log of those attempts is new.
    let added: Vec<_> = tree(home.path())
        .into_iter()
        .filter(|p| !before.contains(p) && !p.starts_with("data/logs"))
        .collect();
    assert!(added.is_empty(), "written: {added:?}");
}

/// Every path under `root`, relative, sorted (folders too).
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

/// MNIST-like files to import, as a user has them (made by this test, with its umask).
fn mnist_source(home: &Path) -> PathBuf {
    let dir = home.join("mnist-src");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        write_mnist_like(&dir, 20, 10, true);
    }
    dir
}

/// A user's session with every command that writes: training (with evaluation), a stop and
/// a resume, watch, export with plots, the run list, presets (save, list, show, diff,
/// validate), importing a dataset, evaluating a checkpoint. Runs each with `setup` applied to
/// the command and returns the outputs.
fn session(home: &Path, setup: &dyn Fn(&mut Command)) -> Vec<(String, Output)> {
    let runs = home.join("runs");
    let r = runs.to_str().unwrap().to_string();
    let m = mnist_source(home).to_str().unwrap().to_string();
    let ck = runs.join("a/checkpoints/step-0000016.safetensors");
    let ck = ck.to_str().unwrap().to_string();
    let plots = runs.join("a/plots");
    let plots = plots.to_str().unwrap().to_string();
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "train",
            "--preset",
            "smoke",
            "--headless",
            "--name",
            "a",
            "--runs-dir",
            &r,
        ]
        .into_iter()
        .chain(["--set", "train.epochs=1"])
        .collect(),
        vec!["watch", "a", "--headless", "--runs-dir", &r],
        vec!["export", "a", "--runs-dir", &r, "--plots", &plots],
        vec!["export", "a", "--runs-dir", &r, "--format", "json"],
        vec!["runs", "--runs-dir", &r],
        vec!["presets", "save", "mine", "--from", "a", "--runs-dir", &r],
        vec!["presets", "list"],
        vec!["presets", "show", "mine"],
        vec!["presets", "diff", "smoke", "mine"],
        vec!["presets", "validate", "mine"],
        vec!["data", "fetch", "mnist", "--from", &m],
        vec!["data", "list"],
        vec!["eval", &ck, "--attack", "fgsm", "--subset", "16"],
    ];
    let mut outs = Vec::new();
    for args in steps {
        let mut cmd = common::bapw();
        cmd.args(&args)
            .current_dir(home.join("cwd"))
            .env("BAPW_DATA_DIR", home.join("data"))
            .env("BAPW_CONFIG_DIR", home.join("config"));
        setup(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        outs.push((args.join(" "), out));
    }
    // A run stopped by a signal, then resumed to its end.
    let mut cmd = common::bapw();
    cmd.args([
        "train",
        "--preset",
        "smoke",
        "--headless",
        "--name",
        "b",
        "--runs-dir",
        &r,
    ])
    .args(["--set", "train.epochs=400", "--set", "checkpoint.every=50"])
    .current_dir(home.join("cwd"))
    .env("BAPW_DATA_DIR", home.join("data"))
    .env("BAPW_CONFIG_DIR", home.join("config"))
    .stdout(std::process::Stdio::null());
    setup(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    common::tmux::poll("a checkpoint", || {
        !bapw::run::Checkpoints::new(runs.join("b/checkpoints"))
            .steps()
            .is_empty()
    });
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    let preset = runs.join("b/preset.toml");
    let short = std::fs::read_to_string(&preset)
        .unwrap()
        .replace("epochs = 400", "epochs = 30");
    std::fs::write(&preset, short).unwrap();
    let mut cmd = common::bapw();
    cmd.args(["resume", "b", "--headless", "--runs-dir", &r])
        .current_dir(home.join("cwd"))
        .env("BAPW_DATA_DIR", home.join("data"))
        .env("BAPW_CONFIG_DIR", home.join("config"));
    setup(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "resume: {}", stderr(&out));
    outs.push(("resume b".into(), out));
    outs
}

#[test]
fn nothing_is_written_outside_the_config_data_and_runs_folders() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path();
    for d in ["home", "tmp", "cwd"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    let outside =
        |p: &Path| !(p.starts_with("data") || p.starts_with("config") || p.starts_with("runs"));
    mnist_source(home);
    let before: Vec<PathBuf> = tree(home).into_iter().filter(|p| outside(p)).collect();
    session(home, &|cmd: &mut Command| {
        // Every place a program might write on its own: the home folder (and the XDG folders
        // under it), the temp folder, the working directory.
        cmd.env("HOME", home.join("home"))
            .env("TMPDIR", home.join("tmp"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_RUNTIME_DIR");
    });
    let after: Vec<PathBuf> = tree(home).into_iter().filter(|p| outside(p)).collect();
    assert_eq!(
        after, before,
        "written outside the config, data and runs folders"
    );
    // And the three folders did get what the session made.
    for p in [
        "runs/a/events.jsonl",
        "runs/a/export/steps.csv",
        "runs/a/plots/loss_sparsity.svg",
        "runs/b/summary.json",
        "config/presets/mine.toml",
        "data/datasets/mnist/t10k-labels-idx1-ubyte.gz",
        "data/logs/bapw.log",
    ] {
        assert!(home.join(p).exists(), "{p} missing");
    }
}

#[test]
fn files_and_folders_get_the_users_umask() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("cwd")).unwrap();
    session(home.path(), &|cmd: &mut Command| {
        // SAFETY: umask is async-signal-safe and only changes the child's file mode mask.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o027);
                Ok(())
            });
        }
    });
    let mut checked = 0;
    for rel in tree(home.path()) {
        if rel.starts_with("cwd") || rel.starts_with("mnist-src") {
            continue;
        }
        let meta = std::fs::symlink_metadata(home.path().join(&rel)).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o750 } else { 0o640 };
        assert_eq!(mode, want, "{} is {mode:o}", rel.display());
        checked += 1;
    }
    assert!(checked > 40, "only {checked} files");
}
