//! Dataset loaders on generated files: IDX raw and gz, CIFAR-10 binary batches, importing a
//! folder. Broken files are in `reliability_bad_files.rs`.
mod common;

use bapw::data::{cifar, load_idx_dir};
use common::datasets::{cifar_records, write_mnist_like};
use tch::Kind;

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
