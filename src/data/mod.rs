//! Datasets as whole tensors on the training device: MNIST, Fashion-MNIST (IDX), CIFAR-10
//! (binary batches) and seeded synthetic blobs. Pixels are scaled to [0, 1], no normalisation,
//! as in the authors' code.
pub mod batcher;
pub mod cifar;
pub mod fetch;
pub mod idx;
pub mod synthetic;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::config::preset::DataCfg;

pub use batcher::Batcher;

/// Images `[N, C, H, W]` f32 in [0, 1] and labels `[N]` i64, train and test.
pub struct Dataset {
    pub name: String,
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    pub classes: i64,
}

impl Dataset {
    pub fn shape(&self) -> (i64, i64, i64) {
        let s = self.train_x.size();
        (s[1], s[2], s[3])
    }
    pub fn n_train(&self) -> usize {
        self.train_x.size()[0] as usize
    }
    pub fn n_test(&self) -> usize {
        self.test_x.size()[0] as usize
    }

    /// Keeps the first `train`/`test` examples (0 = all).
    pub fn subset(mut self, train: usize, test: usize) -> Self {
        if train > 0 && train < self.n_train() {
            self.train_x = self.train_x.narrow(0, 0, train as i64);
            self.train_y = self.train_y.narrow(0, 0, train as i64);
        }
        if test > 0 && test < self.n_test() {
            self.test_x = self.test_x.narrow(0, 0, test as i64);
            self.test_y = self.test_y.narrow(0, 0, test as i64);
        }
        self
    }

    pub fn to_device(self, device: Device) -> Self {
        Dataset {
            train_x: self.train_x.to_device(device),
            train_y: self.train_y.to_device(device),
            test_x: self.test_x.to_device(device),
            test_y: self.test_y.to_device(device),
            ..self
        }
    }
}

/// The folder a dataset is read from: `data.path` if set, else the user data folder.
pub fn dataset_folder(cfg: &DataCfg) -> Result<PathBuf> {
    if !cfg.path.is_empty() {
        return Ok(PathBuf::from(&cfg.path));
    }
    crate::config::paths::dataset_dir(&cfg.dataset)
}

/// Loads the dataset a preset names, applies subsets and moves it to `device`.
pub fn load(cfg: &DataCfg, device: Device) -> Result<Dataset> {
    let ds = match cfg.dataset.as_str() {
        "synthetic" => synthetic::blobs(&cfg.synthetic),
        "mnist" | "fashion-mnist" => {
            let dir = dataset_folder(cfg)?;
            if !dir.exists() {
                bail!(
                    "{} is not there: run `bapw data fetch {}` (or set data.path)",
                    dir.display(),
                    cfg.dataset
                );
            }
            load_idx_dir(&dir, &cfg.dataset)?
        }
        "cifar10" => {
            let dir = dataset_folder(cfg)?;
            cifar::load_dir(&dir)?
        }
        other => bail!("unknown dataset {other:?}"),
    };
    Ok(ds
        .subset(cfg.train_subset, cfg.test_subset)
        .to_device(device))
}

const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Reads the four standard IDX files (raw or `.gz`) of MNIST or Fashion-MNIST from `dir`.
pub fn load_idx_dir(dir: &Path, name: &str) -> Result<Dataset> {
    let (train_x, train_y) = load_idx_pair(dir, IDX_FILES[0], IDX_FILES[1], 10)?;
    let (test_x, test_y) = load_idx_pair(dir, IDX_FILES[2], IDX_FILES[3], 10)?;
    Ok(Dataset {
        name: name.to_string(),
        train_x,
        train_y,
        test_x,
        test_y,
        classes: 10,
    })
}

fn load_idx_pair(dir: &Path, images: &str, labels: &str, classes: u8) -> Result<(Tensor, Tensor)> {
    let ip = dir.join(images);
    let lp = dir.join(labels);
    let im = idx::read_idx_file(&ip, 3)?;
    let lb = idx::read_idx_file(&lp, 1)?;
    if im.dims[0] != lb.dims[0] {
        bail!(
            "{} has {} images but {} has {} labels",
            ip.display(),
            im.dims[0],
            lp.display(),
            lb.dims[0]
        );
    }
    if let Some(bad) = lb.data.iter().find(|&&l| l >= classes) {
        bail!(
            "{}: label {bad} is outside the {classes} classes",
            lp.display()
        );
    }
    let (n, h, w) = (im.dims[0] as i64, im.dims[1] as i64, im.dims[2] as i64);
    let x = Tensor::from_slice(&im.data)
        .reshape([n, 1, h, w])
        .to_kind(Kind::Float)
        / 255.0;
    let y = Tensor::from_slice(&lb.data).to_kind(Kind::Int64);
    Ok((x, y))
}

/// Whether `dir` holds the four IDX files (raw or gz).
pub fn idx_dir_complete(dir: &Path) -> bool {
    IDX_FILES
        .iter()
        .all(|f| dir.join(f).exists() || dir.join(format!("{f}.gz")).exists())
}

pub fn idx_file_names() -> &'static [&'static str; 4] {
    &IDX_FILES
}

/// Reads and checks a dataset folder, for error messages that name the file.
pub fn describe(dir: &Path, name: &str) -> Result<String> {
    let ds = match name {
        "cifar10" => cifar::load_dir(dir),
        _ => load_idx_dir(dir, name),
    }
    .with_context(|| format!("checking {}", dir.display()))?;
    let (c, h, w) = ds.shape();
    Ok(format!(
        "{} train / {} test, {c}x{h}x{w}, {} classes",
        ds.n_train(),
        ds.n_test(),
        ds.classes
    ))
}
