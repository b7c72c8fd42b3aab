//! CIFAR-10 binary batches: each record is one label byte then 3072 bytes (R, G, B planes of
//! 32x32). Reads `data_batch_1.bin`..`data_batch_5.bin` and `test_batch.bin` from a folder.
//! Files may hold any whole number of records, so small generated fixtures work.
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

use super::Dataset;

pub const RECORD: usize = 1 + 3 * 32 * 32;

pub fn parse_batch(bytes: &[u8], file: &Path) -> Result<(Tensor, Tensor)> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        bail!(
            "{}: {} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
            file.display(),
            bytes.len()
        );
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    for rec in bytes.chunks_exact(RECORD) {
        if rec[0] >= 10 {
            bail!(
                "{}: record {} has label {} outside the 10 classes",
                file.display(),
                labels.len(),
                rec[0]
            );
        }
        labels.push(rec[0] as i64);
        pixels.extend_from_slice(&rec[1..]);
    }
    let x = Tensor::from_slice(&pixels)
        .reshape([n as i64, 3, 32, 32])
        .to_kind(Kind::Float)
        / 255.0;
    Ok((x, Tensor::from_slice(&labels)))
}

fn read(dir: &Path, name: &str) -> Result<(Tensor, Tensor)> {
    let p = dir.join(name);
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    parse_batch(&bytes, &p)
}

pub fn load_dir(dir: &Path) -> Result<Dataset> {
    if !dir.exists() {
        bail!(
            "{} is not there: CIFAR-10 is not in any package registry; point data.path at your \
             folder of binary batches or run `bapw data fetch cifar10 --from DIR`",
            dir.display()
        );
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 1..=5 {
        let (x, y) = read(dir, &format!("data_batch_{i}.bin"))?;
        xs.push(x);
        ys.push(y);
    }
    let (test_x, test_y) = read(dir, "test_batch.bin")?;
    Ok(Dataset {
        name: "cifar10".into(),
        train_x: Tensor::cat(&xs, 0),
        train_y: Tensor::cat(&ys, 0),
        test_x,
        test_y,
        classes: 10,
    })
}

pub const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
