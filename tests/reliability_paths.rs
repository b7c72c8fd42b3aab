//! Paths: run and preset names cannot escape their folders (`../`), every file bapw creates
//! gets the user's umask, and nothing is written outside the config, data and runs folders.
mod common;

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
