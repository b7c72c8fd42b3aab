//! One invalid preset file per kind of mistake (tests/fixtures/presets/), each refused by
//! `bapw presets validate` with exit code 2 and a message naming the file, line and key.
mod common;

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
}
