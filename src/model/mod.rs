//! Networks as a flat list of layers over a `VarStore`, with PyTorch's parameter names and
//! layouts (`conv1.weight` [out, in, kh, kw], `fc1.weight` [out, in], NCHW flatten order), so a
//! checkpoint loads into the equivalent `torch.nn.Module` with `load_state_dict`.
//! Keras defaults as in the authors' code: Glorot-uniform kernels, zero biases.
mod arch;
mod input_grad;
mod pool;
mod routed;

use anyhow::{bail, Result};
use tch::{nn, Device, Tensor};

use crate::config::preset::ModelCfg;

pub use arch::build_layers;
pub use input_grad::NetLinearization;

/// One step of the forward pass.
#[derive(Debug)]
pub enum Layer {
    /// Convolution (square kernel, dilation 1, one group) with its stride and symmetric zero
    /// padding, and optional explicit (left, right, top, bottom) zero padding before it for TF
    /// "same" padding when that is asymmetric. The geometry is kept here because the input
    /// gradients (`input_grad`) need it and `nn::Conv2D` keeps its own private.
    Conv {
        conv: nn::Conv2D,
        stride: i64,
        padding: i64,
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
        input_grad::forward(self, x, None)
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
