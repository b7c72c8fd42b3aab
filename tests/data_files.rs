//! Dataset loaders on generated files: IDX raw and gz, CIFAR-10 binary batches, and every kind
//! of broken file giving an error that names the file and the problem.
use std::io::Write;
use std::path::Path;

use bapw::data::idx::encode_idx;
use bapw::data::{cifar, load_idx_dir};
use tch::Kind;

fn write_mnist_like(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
    let files = [
        (
            "train-images-idx3-ubyte",
            encode_idx(&[n_train, 4, 4], &vec![255u8; n_train * 16]),
        ),
        (
            "train-labels-idx1-ubyte",
            encode_idx(
                &[n_train],
                &(0..n_train).map(|i| (i % 10) as u8).collect::<Vec<_>>(),
            ),
        ),
        (
            "t10k-images-idx3-ubyte",
            encode_idx(&[n_test, 4, 4], &vec![51u8; n_test * 16]),
        ),
        (
            "t10k-labels-idx1-ubyte",
            encode_idx(&[n_test], &vec![3u8; n_test]),
        ),
    ];
    for (name, bytes) in files {
        if gz {
            let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            enc.write_all(&bytes).unwrap();
            enc.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn idx_raw_and_gz_load_identically() {
    for gz in [false, true] {
        let d = tempfile::tempdir().unwrap();
        write_mnist_like(d.path(), 12, 5, gz);
        let ds = load_idx_dir(d.path(), "mnist").unwrap();
        assert_eq!(ds.train_x.size(), vec![12, 1, 4, 4]);
        assert_eq!(ds.test_x.size(), vec![5, 1, 4, 4]);
        assert_eq!(ds.train_x.max().double_value(&[]), 1.0);
        assert!((ds.test_x.mean(Kind::Float).double_value(&[]) - 0.2).abs() < 1e-6);
        assert_eq!(ds.train_y.int64_value(&[11]), 1);
        assert_eq!(ds.train_y.kind(), Kind::Int64);
    }
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

fn cifar_records(n: usize, label: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(label);
        // R plane 255, G plane 0, B plane i.
        out.extend(std::iter::repeat_n(255u8, 1024));
        out.extend(std::iter::repeat_n(0u8, 1024));
        out.extend(std::iter::repeat_n(i as u8, 1024));
    }
    out
}

#[test]
fn cifar_binary_batches_load_in_plane_order() {
    let d = tempfile::tempdir().unwrap();
    for (i, f) in cifar::FILES.iter().enumerate() {
        std::fs::write(d.path().join(f), cifar_records(3, i as u8)).unwrap();
    }
    let ds = cifar::load_dir(d.path()).unwrap();
    assert_eq!(ds.train_x.size(), vec![15, 3, 32, 32]);
    assert_eq!(ds.test_x.size(), vec![3, 3, 32, 32]);
    assert_eq!(ds.train_y.int64_value(&[14]), 4);
    assert_eq!(ds.test_y.int64_value(&[0]), 5);
    assert_eq!(ds.train_x.double_value(&[0, 0, 5, 5]), 1.0);
    assert_eq!(ds.train_x.double_value(&[0, 1, 5, 5]), 0.0);
    assert!((ds.train_x.double_value(&[2, 2, 0, 0]) - 2.0 / 255.0).abs() < 1e-7);
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

#[test]
fn fetch_from_folder_imports_and_lists() {
    let home = tempfile::tempdir().unwrap();
    let src = home.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    write_mnist_like(&src, 20, 10, true);
    let data = home.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bapw"))
        .args(["data", "fetch", "fashion-mnist", "--from"])
        .arg(&src)
        .env("BAPW_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data
        .join("datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        .exists());
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_bapw"))
        .args(["data", "list"])
        .env("BAPW_DATA_DIR", &data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("fashion-mnist") && text.contains("20 train / 10 test"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("mnist") && l.contains("missing")),
        "{text}"
    );
    // A broken source folder is refused and nothing is installed.
    let bad = home.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    write_mnist_like(&bad, 20, 10, false);
    std::fs::write(bad.join("t10k-labels-idx1-ubyte"), b"garbage").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bapw"))
        .args(["data", "fetch", "mnist", "--from"])
        .arg(&bad)
        .env("BAPW_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("t10k-labels-idx1-ubyte"));
    assert!(!data.join("datasets/mnist").exists());
}
