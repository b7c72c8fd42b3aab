//! Input gradients of a `Net` without autograd: the attacks' fast path.
//!
//! Every network bapw builds is piecewise linear (convolutions, linear layers, ReLU, max-pool,
//! global max-pool, flatten), so once one forward pass has fixed the ReLU and pooling patterns,
//! the gradient of any weighted sum of the logits with respect to the input is a chain of
//! linear maps: transposed weights, 0/1 masks and the pooling's scatter. [`Net::record`] runs
//! that forward and keeps the masks; [`NetLinearization::vjp`] applies the chain to a whole
//! stack of cotangents at once (DeepFool's K-1 logit differences share one forward).
//!
//! Why it is faster than autograd (issue 15): autograd's input gradient of a convolution goes
//! through LibTorch's convolution backward, about twice the cost of a forward convolution on
//! the CPU. Here the input gradient of a stride-1 convolution *is* a forward convolution: of
//! the output gradient with the kernel flipped in both spatial axes and its in/out channels
//! swapped, padded by k-1-p. Strided convolutions use the transposed convolution. The pooling
//! backward is a broadcast multiply by a one-hot mask of each window's maximum (with the ReLU
//! that follows the pool folded into it) instead of a scatter, so it needs no index copies per
//! cotangent. Parameter gradients are never computed.
//!
//! Exactness: the same ops as autograd's formulas up to the order of float additions
//! (`tests/attack_input_grad.rs` checks 1e-5 relative against autograd for every architecture,
//! masked weights included). The masks come from the same forward values `Net::forward`
//! computes (same convolution call, max-pool's own argmax, so ties break the same way), and
//! the weights are the model's own tensors at the time of the call: pruning masks are
//! multiplied into them in place, so the pruned weights are exactly what the forward used.
use anyhow::{bail, Result};
use tch::Tensor;

use super::{conv_forward, Layer, Net};
use crate::attack::{Classifier, Linearization};

/// One layer's share of the backward pass, recorded by the forward.
enum Saved {
    /// y = x W^T + b: the gradient is g W.
    Linear {
        weight: Tensor,
    },
    /// A ReLU: the gradient passes where the output is positive. `mask` `[N, ...]`, 0/1.
    Mask {
        mask: Tensor,
    },
    /// A k x k max-pool (stride k) over `[C, H, W]`, with the ReLU after it when there is one:
    /// `mask` `[N, C, Ho, k, Wo, k]` is 1 at each window's maximum whose pooled value passes
    /// the ReLU, so the gradient is the pooled gradient broadcast over the window times it.
    Pool {
        mask: Tensor,
        k: i64,
        in_hw: (i64, i64),
    },
    /// Max over H and W: autograd's rule, the gradient split evenly among tied maxima.
    /// `mask` `[N, C, H, W]` 0/1, `count` `[N, C, 1, 1]`.
    GlobalMax {
        mask: Tensor,
        count: Tensor,
    },
    Flatten {
        shape: Vec<i64>,
    },
    Conv(ConvGrad),
}

/// The geometry and weights of a convolution's input gradient.
struct ConvGrad {
    weight: Tensor,
    /// For stride 1 with padding p <= k-1: the kernel flipped in H and W with in/out channels
    /// swapped, so the input gradient is a forward convolution padded by k-1-p.
    flipped: Option<Tensor>,
    stride: i64,
    padding: i64,
    /// Explicit (left, right, top, bottom) zero padding before the convolution.
    pad: Option<[i64; 4]>,
    /// Spatial size of the convolution's input after the explicit padding.
    in_hw: (i64, i64),
}

impl ConvGrad {
    fn input_grad(&self, g: &Tensor) -> Tensor {
        let k = self.weight.size()[2];
        let (hp, wp) = self.in_hw;
        let gi = match &self.flipped {
            Some(f) => {
                let q = k - 1 - self.padding;
                g.conv2d(f, None::<Tensor>, [1, 1], [q, q], [1, 1], 1)
            }
            None => {
                let (ho, wo) = (g.size()[2], g.size()[3]);
                let s = self.stride;
                // The rows/columns the strided forward never reached get zero gradient.
                let extra = |n: i64, o: i64| n + 2 * self.padding - k - (o - 1) * s;
                g.conv_transpose2d(
                    &self.weight,
                    None::<Tensor>,
                    [s, s],
                    [self.padding, self.padding],
                    [extra(hp, ho), extra(wp, wo)],
                    1,
                    [1, 1],
                )
            }
        };
        match self.pad {
            Some([l, r, t, b]) => gi.narrow(2, t, hp - t - b).narrow(3, l, wp - l - r),
            None => gi,
        }
    }
}

/// A `Net` linearised at x: logits and the recorded masks (see the module comment).
pub struct NetLinearization {
    logits: Tensor,
    /// The logits with autograd's graph to the weights, when recorded with one.
    graph_logits: Option<Tensor>,
    /// Per example shape of the input.
    input_shape: Vec<i64>,
    /// In forward order.
    saved: Vec<Saved>,
}

impl Net {
    /// One forward pass at x that records what input gradients need. With `graph`, the
    /// forward also builds autograd's graph to the weights and [`NetLinearization::graph_logits`]
    /// returns its logits, so a training step can use this forward for its clean loss.
    pub fn record(&self, x: &Tensor, graph: bool) -> NetLinearization {
        let run = || {
            let mut saved = Vec::with_capacity(self.layers.len());
            let mut h = x.shallow_clone();
            let mut i = 0;
            while i < self.layers.len() {
                h = match &self.layers[i] {
                    Layer::Conv {
                        conv,
                        stride,
                        padding,
                        pad,
                    } => {
                        let (hh, ww) = (h.size()[2], h.size()[3]);
                        let in_hw = match pad {
                            Some([l, r, t, b]) => (hh + t + b, ww + l + r),
                            None => (hh, ww),
                        };
                        let weight = conv.ws.detach();
                        let k = weight.size()[2];
                        let flipped = (*stride == 1 && *padding <= k - 1)
                            .then(|| weight.flip([2, 3]).transpose(0, 1).contiguous());
                        saved.push(Saved::Conv(ConvGrad {
                            flipped,
                            weight,
                            stride: *stride,
                            padding: *padding,
                            pad: *pad,
                            in_hw,
                        }));
                        conv_forward(&h, conv, *stride, *padding, pad.as_ref())
                    }
                    Layer::Linear(l) => {
                        saved.push(Saved::Linear {
                            weight: l.ws.detach(),
                        });
                        h.linear(&l.ws, l.bs.as_ref())
                    }
                    Layer::Relu => {
                        let out = h.relu();
                        saved.push(Saved::Mask {
                            mask: positive(&out),
                        });
                        out
                    }
                    Layer::MaxPool(k) => {
                        let relu_next = matches!(self.layers.get(i + 1), Some(Layer::Relu));
                        let (out, s) = pool(&h, *k, relu_next);
                        saved.push(s);
                        if relu_next {
                            i += 1;
                        }
                        out
                    }
                    Layer::GlobalMaxPool => {
                        let out = h.amax([2, 3], false);
                        let mask = h
                            .detach()
                            .eq_tensor(&out.detach().unsqueeze(2).unsqueeze(3))
                            .to_kind(h.kind());
                        let count = mask.sum_dim_intlist([2i64, 3].as_slice(), true, h.kind());
                        saved.push(Saved::GlobalMax { mask, count });
                        out
                    }
                    Layer::Flatten => {
                        saved.push(Saved::Flatten {
                            shape: h.size()[1..].to_vec(),
                        });
                        h.flatten(1, -1)
                    }
                };
                i += 1;
            }
            (h, saved)
        };
        let (out, saved) = if graph {
            tch::with_grad(run)
        } else {
            tch::no_grad(run)
        };
        NetLinearization {
            logits: out.detach(),
            graph_logits: graph.then_some(out),
            input_shape: x.size()[1..].to_vec(),
            saved,
        }
    }
}

/// 0/1 mask (in `t`'s kind) of the positive entries of `t`: where a ReLU passes gradient.
fn positive(t: &Tensor) -> Tensor {
    t.detach().gt(0.0).to_kind(t.kind())
}

/// A k x k max-pool (and the ReLU after it when `relu`), and its backward mask.
fn pool(h: &Tensor, k: i64, relu: bool) -> (Tensor, Saved) {
    let (n, c, hh, ww) = (h.size()[0], h.size()[1], h.size()[2], h.size()[3]);
    let (pooled, idx) = h.max_pool2d_with_indices([k, k], [k, k], [0, 0], [1, 1], false);
    let (ho, wo) = (pooled.size()[2], pooled.size()[3]);
    let out = if relu { pooled.relu() } else { pooled };
    let onehot = h
        .detach()
        .zeros_like()
        .view([n, c, hh * ww])
        .scatter_value(2, &idx.view([n, c, ho * wo]), 1.0)
        .view([n, c, hh, ww])
        .narrow(2, 0, ho * k)
        .narrow(3, 0, wo * k)
        .view([n, c, ho, k, wo, k]);
    let mask = if relu {
        onehot * positive(&out).view([n, c, ho, 1, wo, 1])
    } else {
        onehot
    };
    (
        out,
        Saved::Pool {
            mask,
            k,
            in_hw: (hh, ww),
        },
    )
}

impl Saved {
    /// The same record for the examples `rows` only.
    fn rows(&self, rows: &Tensor) -> Saved {
        let sel = |t: &Tensor| t.index_select(0, rows);
        match self {
            Saved::Mask { mask } => Saved::Mask { mask: sel(mask) },
            Saved::Pool { mask, k, in_hw } => Saved::Pool {
                mask: sel(mask),
                k: *k,
                in_hw: *in_hw,
            },
            Saved::GlobalMax { mask, count } => Saved::GlobalMax {
                mask: sel(mask),
                count: sel(count),
            },
            Saved::Linear { weight } => Saved::Linear {
                weight: weight.shallow_clone(),
            },
            Saved::Flatten { shape } => Saved::Flatten {
                shape: shape.clone(),
            },
            Saved::Conv(c) => Saved::Conv(ConvGrad {
                weight: c.weight.shallow_clone(),
                flipped: c.flipped.as_ref().map(Tensor::shallow_clone),
                stride: c.stride,
                padding: c.padding,
                pad: c.pad,
                in_hw: c.in_hw,
            }),
        }
    }

    /// Gradient before this layer from `g` `[M*R, ...]` after it (M cotangents, R rows).
    fn back(&self, g: Tensor, m: i64, r: i64) -> Tensor {
        // `g` viewed as [M, R, ...rest] so per-example masks broadcast over the M cotangents.
        let per_example = |g: &Tensor| {
            let mut s = vec![m, r];
            s.extend_from_slice(&g.size()[1..]);
            g.view(s.as_slice())
        };
        match self {
            Saved::Linear { weight } => g.matmul(weight),
            Saved::Mask { mask } => (per_example(&g) * mask).view(g.size().as_slice()),
            Saved::Pool { mask, k, in_hw } => {
                let (c, ho, wo) = (g.size()[1], g.size()[2], g.size()[3]);
                let spread = g.view([m, r, c, ho, 1, wo, 1].as_slice()) * mask;
                let gi = spread.view([m * r, c, ho * k, wo * k]);
                let (hh, ww) = *in_hw;
                if hh == ho * k && ww == wo * k {
                    gi
                } else {
                    // Rows/columns no window covered (odd sizes, floor mode): zero gradient.
                    gi.constant_pad_nd([0, ww - wo * k, 0, hh - ho * k])
                }
            }
            Saved::GlobalMax { mask, count } => {
                let (c, hh, ww) = (g.size()[1], mask.size()[2], mask.size()[3]);
                (g.view([m, r, c, 1, 1]) / count * mask).view([m * r, c, hh, ww])
            }
            Saved::Flatten { shape } => {
                let mut s = vec![m * r];
                s.extend_from_slice(shape);
                g.view(s.as_slice())
            }
            Saved::Conv(c) => c.input_grad(&g),
        }
    }
}

impl NetLinearization {
    /// The logits with autograd's graph to the weights (recorded with `graph`), else None.
    pub fn graph_logits(&self) -> Option<&Tensor> {
        self.graph_logits.as_ref()
    }
}

impl Linearization for NetLinearization {
    fn logits(&self) -> &Tensor {
        &self.logits
    }

    fn vjp(&self, cotangents: &Tensor, rows: Option<&Tensor>) -> Result<Tensor> {
        if cotangents.dim() != 3 || cotangents.size()[2] != self.logits.size()[1] {
            bail!(
                "cotangents of shape {:?} for logits of shape {:?}",
                cotangents.size(),
                self.logits.size()
            );
        }
        let (m, r) = (cotangents.size()[0], cotangents.size()[1]);
        let want = rows.map_or(self.logits.size()[0], |t| t.size()[0]);
        if r != want {
            bail!("{r} cotangent rows for {want} examples");
        }
        let selected: Vec<Saved>;
        let saved = match rows {
            Some(rows) => {
                selected = self.saved.iter().map(|s| s.rows(rows)).collect();
                &selected
            }
            None => &self.saved,
        };
        let g = tch::no_grad(|| {
            let mut g = cotangents.to_kind(self.logits.kind()).reshape([m * r, -1]);
            for s in saved.iter().rev() {
                g = s.back(g, m, r);
            }
            g
        });
        let mut shape = vec![m, r];
        shape.extend_from_slice(&self.input_shape);
        Ok(g.view(shape.as_slice()))
    }
}

impl Classifier for Net {
    fn logits(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.forward(x))
    }

    fn linearize(&self, x: &Tensor) -> Result<Box<dyn Linearization + '_>> {
        Ok(Box::new(self.record(&x.detach(), false)))
    }
}
