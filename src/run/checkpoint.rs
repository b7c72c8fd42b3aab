//! Checkpoint files in `<run>/checkpoints/`: for each periodic checkpoint at step N,
//! `step-000000N.safetensors` (every parameter under its PyTorch name plus one `<param>_mask`
//! per pruned kernel: it loads in PyTorch), `step-000000N.optim.safetensors` (the optimiser's
//! moments) and `step-000000N.json` (the [`TrainState`], written last: a checkpoint exists once
//! its JSON does); and `best.safetensors` + `best.json` for the best value of
//! `checkpoint.best`. Every file is written to a temporary name and renamed.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::config::paths::write_atomic;

/// Training state stored beside each checkpoint's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Global step of the next batch to train.
    pub step: usize,
    pub epoch: usize,
    /// Index of the next batch within `epoch`.
    pub position: usize,
    pub optimizer_t: i64,
    pub seed: u64,
    pub arch: String,
    pub test_acc: Option<f64>,
    /// Running sums of the epoch in progress, so its `epoch_end` averages match an
    /// uninterrupted run.
    #[serde(default)]
    pub epoch_loss_sum: f64,
    #[serde(default)]
    pub epoch_acc_sum: f64,
    #[serde(default)]
    pub epoch_steps: usize,
    /// Best value of `checkpoint.best` so far (restored on resume so the same epochs win).
    #[serde(default)]
    pub best_value: Option<f64>,
}

/// The files of one periodic checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFiles {
    /// Weights and masks (loads in PyTorch).
    pub weights: PathBuf,
    /// The optimiser's moments.
    pub optim: PathBuf,
    /// The [`TrainState`], written last.
    pub state: PathBuf,
}

/// What a checkpoint holds, read back onto a device.
pub struct Loaded {
    pub state: TrainState,
    pub weights_path: PathBuf,
    /// Parameters under their PyTorch names, and `<param>_mask` for each pruned kernel.
    pub weights: Vec<(String, Tensor)>,
    pub optim: Vec<(String, Tensor)>,
}

impl Loaded {
    /// The mask of the kernel `param`.
    pub fn mask(&self, param: &str) -> Result<Tensor> {
        let key = format!("{param}_mask");
        self.weights
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, t)| t.shallow_clone())
            .with_context(|| format!("{}: no {key}", self.weights_path.display()))
    }
}

/// The checkpoints of one run (`<run>/checkpoints/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(dir: PathBuf) -> Checkpoints {
        Checkpoints { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files of the periodic checkpoint at `step`: `step-000500.safetensors`,
    /// `step-000500.optim.safetensors`, `step-000500.json`.
    pub fn files(&self, step: usize) -> CheckpointFiles {
        let stem = format!("step-{step:07}");
        CheckpointFiles {
            weights: self.dir.join(format!("{stem}.safetensors")),
            optim: self.dir.join(format!("{stem}.optim.safetensors")),
            state: self.dir.join(format!("{stem}.json")),
        }
    }

    /// The steps of the periodic checkpoints present, oldest first.
    pub fn steps(&self) -> Vec<usize> {
        let mut out: Vec<usize> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("step-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect();
        out.sort();
        out
    }

    /// The newest periodic checkpoint's step.
    pub fn latest(&self) -> Option<usize> {
        self.steps().pop()
    }

    /// Writes the checkpoint at `state.step` (state last, so a half-written checkpoint is never
    /// listed) and deletes all but the newest `keep`. Returns the weights file.
    pub fn save(
        &self,
        weights: &[(String, Tensor)],
        optim: &[(String, Tensor)],
        state: &TrainState,
        keep: usize,
    ) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let files = self.files(state.step);
        write_tensors_atomic(&files.weights, weights)?;
        write_tensors_atomic(&files.optim, optim)?;
        write_json_atomic(&files.state, state)?;
        let all = self.steps();
        let keep = keep.max(1);
        if all.len() > keep {
            for step in &all[..all.len() - keep] {
                self.remove(*step);
            }
        }
        Ok(files.weights)
    }

    /// Deletes the periodic checkpoint at `step` (its weights are broken). The state goes
    /// first: a checkpoint without it is no longer listed.
    pub fn remove(&self, step: usize) {
        let f = self.files(step);
        for p in [f.state, f.weights, f.optim] {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Writes `best.safetensors` (weights and masks) and `best.json` (which metric, its value
    /// and the step). Returns the weights file.
    pub fn save_best(
        &self,
        weights: &[(String, Tensor)],
        metric: &str,
        value: f64,
        step: usize,
    ) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join("best.safetensors");
        write_tensors_atomic(&path, weights)?;
        write_json_atomic(
            &self.dir.join("best.json"),
            &serde_json::json!({ "metric": metric, "value": value, "step": step }),
        )?;
        Ok(path)
    }

    /// The train state of the periodic checkpoint at `step`.
    pub fn state(&self, step: usize) -> Result<TrainState> {
        let path = self.files(step).state;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Reads the periodic checkpoint at `step` onto `device`.
    pub fn load(&self, step: usize, device: tch::Device) -> Result<Loaded> {
        let files = self.files(step);
        let state = self.state(step)?;
        Ok(Loaded {
            weights: read_tensors(&files.weights, device)?,
            optim: read_tensors(&files.optim, device)?,
            weights_path: files.weights,
            state,
        })
    }
}

/// The tensors of a safetensors file, moved onto `device`.
pub fn read_tensors(path: &Path, device: tch::Device) -> Result<Vec<(String, Tensor)>> {
    Ok(Tensor::read_safetensors(path)
        .with_context(|| format!("reading {}", path.display()))?
        .into_iter()
        .map(|(n, t)| (n, t.to_device(device)))
        .collect())
}

/// Writes tensors to `path` atomically (temp file in the same folder, then rename).
pub fn write_tensors_atomic(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::config::paths::user_file_builder()
        .suffix(".safetensors")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.detach().to_device(tch::Device::Cpu).contiguous(),
            )
        })
        .collect();
    Tensor::write_safetensors(&cpu, tmp.path())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}
