//! The architectures of the authors' `models/layers.py`, in PyTorch naming.
use anyhow::{bail, Result};
use tch::nn;

use super::Layer;
use crate::config::preset::ModelCfg;

/// Glorot-uniform bound sqrt(6 / (fan_in + fan_out)).
fn glorot(fan_in: i64, fan_out: i64) -> nn::Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform { lo: -b, up: b }
}

struct Builder<'a> {
    root: &'a nn::Path<'a>,
    layers: Vec<Layer>,
    prunable: Vec<String>,
    shape: (i64, i64, i64),
    convs: usize,
    fcs: usize,
}

impl<'a> Builder<'a> {
    /// Conv with TF padding semantics: `same` (output ceil(H/s)) or `valid`.
    fn conv(&mut self, out: i64, k: i64, stride: i64, same: bool) {
        let (c, h, w) = self.shape;
        self.convs += 1;
        let name = format!("conv{}", self.convs);
        let cfg = nn::ConvConfig {
            stride,
            padding: 0,
            ws_init: glorot(c * k * k, out * k * k),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let (pad, oh, ow) = if same {
            let total = |n: i64| (((n + stride - 1) / stride - 1) * stride + k - n).max(0);
            let (ph, pw) = (total(h), total(w));
            // TF puts the odd pixel at the bottom/right.
            let pad = [pw / 2, pw - pw / 2, ph / 2, ph - ph / 2];
            (
                Some(pad),
                (h + stride - 1) / stride,
                (w + stride - 1) / stride,
            )
        } else {
            (None, (h - k) / stride + 1, (w - k) / stride + 1)
        };
        // Equal padding on all four sides is folded into the convolution (faster, same result);
        // anything else is an explicit zero pad before it.
        let (padding, explicit) = match pad {
            Some([l, r, t, b]) if l == r && r == t && t == b => (l, None),
            other => (0, other),
        };
        let conv = nn::conv2d(
            self.root / name.as_str(),
            c,
            out,
            k,
            nn::ConvConfig { padding, ..cfg },
        );
        self.layers.push(Layer::Conv {
            conv,
            stride,
            padding,
            pad: explicit,
        });
        self.layers.push(Layer::Relu);
        self.prunable.push(format!("{name}.weight"));
        self.shape = (out, oh, ow);
    }

    fn pool(&mut self, k: i64) {
        let (c, h, w) = self.shape;
        // max-pool commutes with ReLU (both monotone), so pool first: the ReLU and its
        // backward then touch k*k times fewer values. Outputs and gradients are unchanged.
        if matches!(self.layers.last(), Some(Layer::Relu)) {
            self.layers.pop();
            self.layers.push(Layer::MaxPool(k));
            self.layers.push(Layer::Relu);
        } else {
            self.layers.push(Layer::MaxPool(k));
        }
        self.shape = (c, h / k, w / k);
    }

    fn flatten(&mut self) {
        let (c, h, w) = self.shape;
        self.layers.push(Layer::Flatten);
        self.shape = (c * h * w, 1, 1);
    }

    fn global_max_pool(&mut self) {
        let (c, _, _) = self.shape;
        self.layers.push(Layer::GlobalMaxPool);
        self.shape = (c, 1, 1);
    }

    fn linear(&mut self, out: i64, relu: bool) {
        let (inp, _, _) = self.shape;
        self.fcs += 1;
        let name = format!("fc{}", self.fcs);
        let cfg = nn::LinearConfig {
            ws_init: glorot(inp, out),
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        };
        self.layers.push(Layer::Linear(nn::linear(
            self.root / name.as_str(),
            inp,
            out,
            cfg,
        )));
        if relu {
            self.layers.push(Layer::Relu);
        }
        self.prunable.push(format!("{name}.weight"));
        self.shape = (out, 1, 1);
    }
}

/// Builds the layers of `cfg.arch` for inputs `(C, H, W)`; returns the layers and the names of
/// the prunable kernels.
pub fn build_layers(
    root: &nn::Path,
    cfg: &ModelCfg,
    input: (i64, i64, i64),
    classes: i64,
) -> Result<(Vec<Layer>, Vec<String>)> {
    let mut b = Builder {
        root,
        layers: Vec::new(),
        prunable: Vec::new(),
        shape: input,
        convs: 0,
        fcs: 0,
    };
    match cfg.arch.as_str() {
        "lenet5" => {
            if input.1 < 4 || input.2 < 4 {
                bail!(
                    "lenet5 needs images of at least 4x4, got {}x{}",
                    input.1,
                    input.2
                );
            }
            b.conv(32, 5, 1, true);
            b.pool(2);
            b.conv(64, 5, 1, true);
            b.pool(2);
            b.flatten();
            b.linear(84, true);
            b.linear(classes, false);
        }
        "mlp" => {
            b.flatten();
            for &h in &cfg.hidden {
                b.linear(h, true);
            }
            b.linear(classes, false);
        }
        "cnn" => {
            if input.1 < 20 || input.2 < 20 {
                bail!(
                    "cnn needs images of at least 20x20, got {}x{}",
                    input.1,
                    input.2
                );
            }
            b.conv(32, 8, 2, true);
            b.conv(64, 6, 2, false);
            b.conv(64, 5, 1, false);
            b.flatten();
            b.linear(classes, false);
        }
        "fitnet" => {
            if input.1 < 4 || input.2 < 4 {
                bail!(
                    "fitnet needs images of at least 4x4, got {}x{}",
                    input.1,
                    input.2
                );
            }
            for _ in 0..3 {
                b.conv(32, 3, 1, true);
            }
            for _ in 0..2 {
                b.conv(48, 3, 1, true);
            }
            b.pool(2);
            for _ in 0..5 {
                b.conv(80, 3, 1, true);
            }
            b.pool(2);
            for _ in 0..5 {
                b.conv(128, 3, 1, true);
            }
            b.global_max_pool();
            b.flatten();
            // The authors' Dense 500 has no activation.
            b.linear(500, false);
            b.linear(classes, false);
        }
        other => bail!("unknown model {other:?}; known: lenet5, mlp, cnn, fitnet"),
    }
    Ok((b.layers, b.prunable))
}
