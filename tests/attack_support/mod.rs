//! Shared helpers of the attack tests: the skip-or-fail rule for optional dependencies
//! (Python with torch, MNIST), tiny trained models, and running Python scripts.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

use bapw::config::preset::{ModelCfg, Optimizer as OptKind, TrainCfg};
use bapw::data::Dataset;
use bapw::model::Net;
use bapw::train::loss::smoothed_ce;
use bapw::train::optim::Optimizer;
use tch::{Device, Kind, Tensor};

/// LibTorch's random generator is one per process, shared by the test threads: a test that
/// seeds it and expects repeatable draws (data, models, random starts) holds this lock.
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A missing optional dependency: the test returns early with a printed reason, unless the
/// environment variable `require` is "1" (CI sets it), in which case it fails.
pub fn skip_or_fail(require: &str, reason: &str) {
    if std::env::var(require).as_deref() == Ok("1") {
        panic!("{reason} (and {require}=1 requires it)");
    }
    eprintln!("SKIPPED: {reason} (set {require}=1 to make this a failure)");
}

/// Real MNIST from the data folder (`bapw data fetch mnist`), or None after `skip_or_fail`.
pub fn mnist() -> Option<Dataset> {
    let dir = match bapw::config::paths::dataset_dir("mnist") {
        Ok(d) => d,
        Err(e) => {
            skip_or_fail("BAPW_REQUIRE_MNIST", &format!("no data folder: {e}"));
            return None;
        }
    };
    if !bapw::data::idx_dir_complete(&dir) {
        skip_or_fail(
            "BAPW_REQUIRE_MNIST",
            &format!(
                "MNIST is not in {} (run `bapw data fetch mnist`)",
                dir.display()
            ),
        );
        return None;
    }
    Some(bapw::data::load_idx_dir(&dir, "mnist").expect("MNIST loads"))
}

/// The Python to run reference scripts with: `BAPW_PYTHON`, else the venv that
/// `scripts/libtorch.sh` makes. None (after `skip_or_fail`) when it lacks any of `modules`.
pub fn python(modules: &[&str]) -> Option<PathBuf> {
    let py = match std::env::var_os("BAPW_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_default();
            cache.join("bapw/venv-torch-2.13.0/bin/python")
        }
    };
    let import = format!("import {}", modules.join(", "));
    let ok = Command::new(&py)
        .args(["-c", &import])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        skip_or_fail(
            "BAPW_REQUIRE_PYTHON",
            &format!("{} cannot `{import}`", py.display()),
        );
        return None;
    }
    Some(py)
}

/// Runs a Python script and returns its stdout; panics with stderr on failure.
pub fn run_python(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).args(args).output().expect("python starts");
    assert!(
        out.status.success(),
        "{} {:?} failed:\n{}",
        py.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Trains a fresh model on the first `n_train` training images for `steps` Adam steps of
/// batch `batch` (plain cross-entropy, seeded), as a realistic target for the attacks.
pub fn train(arch: ModelCfg, data: &Dataset, steps: usize, batch: i64, lr: f64, seed: i64) -> Net {
    tch::manual_seed(seed);
    let (c, h, w) = data.shape();
    let net = Net::new(&arch, (c, h, w), data.classes, Device::Cpu).unwrap();
    let cfg = TrainCfg {
        optimizer: OptKind::Adam,
        lr,
        ..TrainCfg::default()
    };
    let mut opt = Optimizer::new(&cfg, net.named_params());
    let n = data.n_train() as i64;
    for s in 0..steps as i64 {
        let idx = Tensor::randint(n, [batch], (Kind::Int64, Device::Cpu));
        let x = data.train_x.index_select(0, &idx);
        let y = data.train_y.index_select(0, &idx);
        opt.zero_grad();
        let loss = smoothed_ce(&net.forward(&x), &y, 0.0);
        loss.backward();
        opt.step();
        let _ = s;
    }
    net
}

pub fn lenet() -> ModelCfg {
    ModelCfg {
        arch: "lenet5".into(),
        hidden: vec![],
    }
}

pub fn mlp(hidden: &[i64]) -> ModelCfg {
    ModelCfg {
        arch: "mlp".into(),
        hidden: hidden.to_vec(),
    }
}

/// Relative L2 difference ||a - b|| / ||b||.
pub fn rel_l2(a: &Tensor, b: &Tensor) -> f64 {
    let num = (a - b).norm().double_value(&[]);
    num / b.norm().double_value(&[]).max(1e-30)
}

/// Every parameter as a copy, to check that attacks leave the model alone.
pub fn snapshot(net: &Net) -> Vec<(String, Tensor)> {
    net.named_params()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}
