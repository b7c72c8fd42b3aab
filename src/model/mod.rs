//! Networks as a flat list of layers over a `VarStore`, with PyTorch's parameter names and
//! layouts (`conv1.weight` [out, in, kh, kw], `fc1.weight` [out, in], NCHW flatten order), so a
//! checkpoint loads into the equivalent `torch.nn.Module` with `load_state_dict`.
//! Keras defaults as in the authors' code: Glorot-uniform kernels, zero biases.
mod arch;

use anyhow::{bail, Result};
use tch::{nn, Device, Tensor};

use crate::config::preset::ModelCfg;

pub use arch::build_layers;

/// One step of the forward pass.
#[derive(Debug)]
pub enum Layer {
    /// Convolution with optional explicit (left, right, top, bottom) zero padding for TF "same"
    /// padding when it is asymmetric.
    Conv {
        conv: nn::Conv2D,
        pad: Option<[i64; 4]>,
    },
    Linear(nn::Linear),
    Relu,
    MaxPool(i64),
    GlobalMaxPool,
    Flatten,
}

pub struct Net {
    pub vs: nn::VarStore,
    pub arch: String,
    pub input: (i64, i64, i64),
    pub classes: i64,
    layers: Vec<Layer>,
    /// Names of the prunable kernels, in forward order.
    prunable: Vec<String>,
}

impl Net {
    pub fn new(
        cfg: &ModelCfg,
        input: (i64, i64, i64),
        classes: i64,
        device: Device,
    ) -> Result<Net> {
        let vs = nn::VarStore::new(device);
        let (layers, prunable) = build_layers(&vs.root(), cfg, input, classes)?;
        Ok(Net {
            vs,
            arch: cfg.arch.clone(),
            input,
            classes,
            layers,
            prunable,
        })
    }

    /// Logits `[N, classes]` for images `[N, C, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
        for layer in &self.layers {
            h = match layer {
                Layer::Conv { conv, pad } => {
                    let input = match pad {
                        Some(p) => h.constant_pad_nd(p.as_slice()),
                        None => h,
                    };
                    input.apply(conv)
                }
                Layer::Linear(l) => h.apply(l),
                Layer::Relu => h.relu(),
                Layer::MaxPool(k) => h.max_pool2d([*k, *k], [*k, *k], [0, 0], [1, 1], false),
                Layer::GlobalMaxPool => h.amax([2, 3], false),
                Layer::Flatten => h.flatten(1, -1),
            };
        }
        h
    }

    /// Every parameter by PyTorch name, sorted by name.
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The prunable kernels (conv and linear weights) by name, sharing storage with the model.
    pub fn prunable(&self) -> Vec<(String, Tensor)> {
        let vars = self.vs.variables();
        self.prunable
            .iter()
            .map(|n| (n.clone(), vars[n].shallow_clone()))
            .collect()
    }

    pub fn prunable_names(&self) -> &[String] {
        &self.prunable
    }

    pub fn num_params(&self) -> i64 {
        self.vs.variables().values().map(|t| t.numel() as i64).sum()
    }

    /// Copies tensors (weights by name) into the model; every parameter must be present with
    /// its shape. Extra names (masks, moments) are ignored.
    pub fn load_tensors(&self, tensors: &[(String, Tensor)], source: &str) -> Result<()> {
        let vars = self.vs.variables();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let Some((_, t)) = tensors.iter().find(|(n, _)| n == name) else {
                bail!("{source}: missing tensor {name:?} for model {}", self.arch);
            };
            let mut v = vars[name].shallow_clone();
            if v.size() != t.size() {
                bail!(
                    "{source}: tensor {name:?} has shape {:?}, model {} expects {:?}",
                    t.size(),
                    self.arch,
                    v.size()
                );
            }
            tch::no_grad(|| v.copy_(t));
        }
        Ok(())
    }
}
