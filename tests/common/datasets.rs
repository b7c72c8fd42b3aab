//! Small dataset files written by hand: MNIST-like IDX folders and CIFAR-10 binary records.
use std::io::Write;
use std::path::Path;

use bapw::data::idx::encode_idx;

/// The four MNIST IDX files of `n_train` 4x4 images (all 255, labels i % 10) and `n_test`
/// (all 51, label 3), raw or gzipped.
pub fn write_mnist_like(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
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

/// `n` CIFAR-10 records of class `label`: R plane 255, G plane 0, B plane the record's index.
pub fn cifar_records(n: usize, label: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(label);
        out.extend(std::iter::repeat_n(255u8, 1024));
        out.extend(std::iter::repeat_n(0u8, 1024));
        out.extend(std::iter::repeat_n(i as u8, 1024));
    }
    out
}
