//! Input gradients of a `Net` without autograd: the attacks' fast path, and the forward pass.
//!
//! Every network bapw builds is piecewise linear (convolutions, linear layers, ReLU, max-pool,
//! global max-pool, flatten), so once one forward pass has fixed the ReLU and pooling patterns,
//! the gradient of any weighted sum of the logits with respect to the input is a chain of
//! linear maps: transposed weights, 0/1 masks and the pooling's scatter. [`Net::record`] runs
//! that forward and keeps what the chain needs; [`NetLinearization::vjp`] applies the chain to
//! any number of cotangents (DeepFool's K-1 logit differences share one forward).
//!
//! Why it is faster than autograd (issue 15; figures in `benches/README.md`):
//! - a convolution followed by max-pool and ReLU (LeNet-5's two, FitNet's last before each
//!   pool) is one routed step on the CPU ([`super::routed`]): only the pool's live maxima
//!   carry gradient, so each adds its channel's kernel into its window, a quarter or less of
//!   a dense transposed convolution's multiply-adds, all cotangents of an example together;
//! - the first convolution's input gradient (one input channel on MNIST) is a convolution
//!   with one output channel for autograd, which the CPU runs badly; here it is W^T times
//!   the output gradient and k*k strided adds ([`fold`]);
//! - a stride-1 convolution's input gradient is a *forward* convolution of the output
//!   gradient with the kernel flipped in both spatial axes and its in/out channels swapped,
//!   padded by k-1-p (strided ones use the transposed convolution);
//! - no parameter gradient, no graph, no per-node bookkeeping.
//!
//! The forward pass ([`forward`], which `Net::forward` is) runs channels-last on the CPU; see
//! there.
//!
//! Exactness: the same linear maps as autograd's formulas up to the order of float additions
//! (`tests/attack_input_grad.rs` checks 1e-5 relative against autograd for every architecture,
//! masked weights included). The masks come from the very forward `Net::forward` computes
//! (max-pool's own indices, so ties break as in autograd), and the weights are the model's
//! own tensors at the time of the call: pruning multiplies its masks into them in place, so
//! the pruned weights are exactly what the forward used.
use anyhow::{bail, Result};
use tch::{Device, Tensor};

use super::routed::{self, Block};
use super::{Layer, Net};
use crate::attack::{Classifier, Linearization};

/// Rows (cotangents x examples) per pass through the backward chain.
const ROWS_PER_PASS: i64 = 128;

/// One layer's share of the backward pass, recorded by the forward.
pub(super) enum Saved {
    /// y = x W^T + b: the gradient is g W.
    Linear {
        weight: Tensor,
    },
    /// A ReLU: the gradient passes where the output is positive. `mask` `[N, ...]`, 0/1.
    Mask {
        mask: Tensor,
    },
    /// A k x k max-pool (stride k) over `[C, H, W]`: the gradient goes to each window's
    /// maximum, `indices` `[N, C, Ho, Wo]` (max-pool's own, so ties break as in autograd).
    Pool {
        indices: Tensor,
        k: i64,
        in_shape: [i64; 3],
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
pub(super) struct ConvGrad {
    weight: Tensor,
    how: ConvBack,
    stride: i64,
    padding: i64,
    /// Explicit (left, right, top, bottom) zero padding before the convolution.
    pad: Option<[i64; 4]>,
    /// Spatial size of the convolution's input after the explicit padding.
    in_hw: (i64, i64),
}

/// How a convolution's input gradient is computed (the fastest measured for its shape, see
/// `benches/README.md`).
enum ConvBack {
    /// Few input channels (the first layer): W^T times the output gradient, then col2im (the
    /// adjoint of the im2col a convolution is, [`fold`]). A convolution with one or three
    /// output channels uses the CPU badly; this is one matrix product and k*k strided adds.
    Fold { wt: Tensor },
    /// Stride 1, padding p <= k-1: a forward convolution with the kernel flipped in H and W,
    /// in/out channels swapped, padded by k-1-p.
    Flipped { w: Tensor },
    /// Anything else: the transposed convolution.
    Transposed,
}

/// Below this many input channels a convolution's input gradient uses `ConvBack::Fold`.
const FOLD_BELOW_CHANNELS: i64 = 8;

/// col2im: the adjoint of a convolution's im2col. `cols` `[N, C*k*k, Ho*Wo]` (rows ordered C,
/// kh, kw) is added, one kernel tap at a time, into the (padded) input grid `[N, C, H, W]`
/// it was gathered from. k*k strided adds of `[N, Ho, Wo]` each, about four times faster on
/// the CPU than LibTorch's col2im for a first layer's one to three channels.
fn fold(
    cols: &Tensor,
    c: i64,
    k: i64,
    (ho, wo): (i64, i64),
    (h, w): (i64, i64),
    s: i64,
    p: i64,
) -> Tensor {
    let n = cols.size()[0];
    let cols = cols.view([n, c, k, k, ho, wo]);
    let out = Tensor::zeros([n, c, h + 2 * p, w + 2 * p], (cols.kind(), cols.device()));
    for ch in 0..c {
        for ky in 0..k {
            for kx in 0..k {
                let mut dst = out
                    .select(1, ch)
                    .slice(1, ky, ky + s * (ho - 1) + 1, s)
                    .slice(2, kx, kx + s * (wo - 1) + 1, s);
                let _ = dst.g_add_(&cols.select(1, ch).select(1, ky).select(1, kx));
            }
        }
    }
    out.narrow(2, p, h).narrow(3, p, w)
}

impl ConvGrad {
    fn new(
        weight: Tensor,
        stride: i64,
        padding: i64,
        pad: Option<[i64; 4]>,
        in_hw: (i64, i64),
    ) -> Self {
        let (o, c, k) = (weight.size()[0], weight.size()[1], weight.size()[2]);
        let how = if c < FOLD_BELOW_CHANNELS {
            ConvBack::Fold {
                wt: weight.reshape([o, -1]).tr().contiguous(),
            }
        } else if stride == 1 && padding < k {
            ConvBack::Flipped {
                w: weight.flip([2, 3]).transpose(0, 1).contiguous(),
            }
        } else {
            ConvBack::Transposed
        };
        ConvGrad {
            weight,
            how,
            stride,
            padding,
            pad,
            in_hw,
        }
    }

    fn input_grad(&self, g: &Tensor) -> Tensor {
        let k = self.weight.size()[2];
        let (hp, wp) = self.in_hw;
        let (s, p) = (self.stride, self.padding);
        let gi = match &self.how {
            ConvBack::Fold { wt } => {
                let (n, o, ho, wo) = (g.size()[0], g.size()[1], g.size()[2], g.size()[3]);
                let cols = wt.matmul(&g.reshape([n, o, -1]));
                fold(&cols, self.weight.size()[1], k, (ho, wo), (hp, wp), s, p)
            }
            ConvBack::Flipped { w } => {
                let q = k - 1 - p;
                g.conv2d(w, None::<Tensor>, [1, 1], [q, q], [1, 1], 1)
            }
            ConvBack::Transposed => {
                let (ho, wo) = (g.size()[2], g.size()[3]);
                // The rows/columns the strided forward never reached get zero gradient.
                let extra = |n: i64, o: i64| n + 2 * p - k - (o - 1) * s;
                g.conv_transpose2d(
                    &self.weight,
                    None::<Tensor>,
                    [s, s],
                    [p, p],
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

    fn shallow_clone(&self) -> ConvGrad {
        ConvGrad {
            weight: self.weight.shallow_clone(),
            how: match &self.how {
                ConvBack::Fold { wt } => ConvBack::Fold {
                    wt: wt.shallow_clone(),
                },
                ConvBack::Flipped { w } => ConvBack::Flipped {
                    w: w.shallow_clone(),
                },
                ConvBack::Transposed => ConvBack::Transposed,
            },
            stride: self.stride,
            padding: self.padding,
            pad: self.pad,
            in_hw: self.in_hw,
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
        let mut saved = Vec::with_capacity(self.layers.len());
        let out = if graph {
            tch::with_grad(|| forward(self, x, Some(&mut saved)))
        } else {
            tch::no_grad(|| forward(self, x, Some(&mut saved)))
        };
        NetLinearization {
            logits: out.detach(),
            graph_logits: graph.then_some(out),
            input_shape: x.size()[1..].to_vec(),
            saved,
        }
    }
}

/// The forward pass of `net` (`Net::forward` is this with `saved` None), recording each
/// layer's share of the input gradient into `saved` when given.
///
/// On the CPU, images go through the convolutions channels-last (NHWC in memory, still
/// `[N, C, H, W]` in shape): LibTorch's oneDNN convolutions then skip their layout reorders
/// and its max-pool has a vectorised NHWC kernel, several times faster than the NCHW one
/// (`benches/README.md`). The values are the same up to float rounding; the flatten before
/// the linear layers restores PyTorch's C, H, W order. What `saved` keeps is NCHW-contiguous,
/// the layout the backward chain runs fastest in.
pub(super) fn forward(net: &Net, x: &Tensor, mut saved: Option<&mut Vec<Saved>>) -> Tensor {
    let mut h = match net.layers.first() {
        Some(Layer::Conv { .. }) if x.device() == Device::Cpu && x.dim() == 4 => channels_last(x),
        _ => x.shallow_clone(),
    };
    let record = saved.is_some();
    let mut keep = |s: Saved| {
        if let Some(v) = saved.as_deref_mut() {
            v.push(s);
        }
    };
    for layer in &net.layers {
        h = match layer {
            Layer::Conv {
                conv,
                stride,
                padding,
                pad,
            } => {
                if record {
                    let (hh, ww) = (h.size()[2], h.size()[3]);
                    let in_hw = match pad {
                        Some([l, r, t, b]) => (hh + t + b, ww + l + r),
                        None => (hh, ww),
                    };
                    keep(Saved::Conv(ConvGrad::new(
                        conv.ws.detach(),
                        *stride,
                        *padding,
                        *pad,
                        in_hw,
                    )));
                }
                conv_forward(&h, conv, *stride, *padding, pad.as_ref())
            }
            Layer::Linear(l) => {
                if record {
                    keep(Saved::Linear {
                        weight: l.ws.detach(),
                    });
                }
                h.linear(&l.ws, l.bs.as_ref())
            }
            Layer::Relu => {
                let out = h.relu();
                if record {
                    keep(Saved::Mask {
                        mask: positive(&out),
                    });
                }
                out
            }
            Layer::MaxPool(k) => {
                let (out, indices) =
                    h.max_pool2d_with_indices([*k, *k], [*k, *k], [0, 0], [1, 1], false);
                if record {
                    let sz = h.size();
                    keep(Saved::Pool {
                        indices: indices.contiguous(),
                        k: *k,
                        in_shape: [sz[1], sz[2], sz[3]],
                    });
                }
                out
            }
            Layer::GlobalMaxPool => {
                let out = h.amax([2, 3], false);
                if record {
                    let mask = h
                        .detach()
                        .eq_tensor(&out.detach().unsqueeze(2).unsqueeze(3))
                        .to_kind(h.kind())
                        .contiguous();
                    let count = mask.sum_dim_intlist([2i64, 3].as_slice(), true, h.kind());
                    keep(Saved::GlobalMax { mask, count });
                }
                out
            }
            Layer::Flatten => {
                if record {
                    keep(Saved::Flatten {
                        shape: h.size()[1..].to_vec(),
                    });
                }
                h.flatten(1, -1)
            }
        };
    }
    h
}

/// `x` `[N, C, H, W]` laid out channels-last. With one channel that is the same memory, so
/// only the strides change (no copy).
fn channels_last(x: &Tensor) -> Tensor {
    let s = x.size();
    let (c, h, w) = (s[1], s[2], s[3]);
    if c == 1 {
        x.contiguous()
            .as_strided([s[0], c, h, w], [h * w, 1, w, 1], None)
    } else {
        x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    }
}

/// The convolution of `Layer::Conv`.
fn conv_forward(
    h: &Tensor,
    conv: &tch::nn::Conv2D,
    stride: i64,
    padding: i64,
    pad: Option<&[i64; 4]>,
) -> Tensor {
    let input = match pad {
        Some(p) => h.constant_pad_nd(p.as_slice()),
        None => h.shallow_clone(),
    };
    input.conv2d(
        &conv.ws,
        conv.bs.as_ref(),
        [stride, stride],
        [padding, padding],
        [1, 1],
        1,
    )
}

/// 0/1 mask (in `t`'s kind, NCHW-contiguous) of the positive entries of a ReLU's output `t`:
/// where it passes gradient. The sign of a ReLU output is exactly that, in one pass.
fn positive(t: &Tensor) -> Tensor {
    let t = t.detach();
    if t.is_contiguous() {
        t.sign()
    } else {
        t.contiguous().sign_()
    }
}

impl Saved {
    /// The same record for the examples `rows` only.
    fn rows(&self, rows: &Tensor) -> Saved {
        let sel = |t: &Tensor| t.index_select(0, rows);
        match self {
            Saved::Mask { mask } => Saved::Mask { mask: sel(mask) },
            Saved::Pool {
                indices,
                k,
                in_shape,
            } => Saved::Pool {
                indices: sel(indices),
                k: *k,
                in_shape: *in_shape,
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
            Saved::Conv(c) => Saved::Conv(c.shallow_clone()),
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
            Saved::Pool {
                indices,
                k,
                in_shape: [c, hh, ww],
            } => {
                // Max-pool's own backward (a scatter into zeros); it reads only the shape of
                // its `self`, so a broadcast zero stands in for the forward's input.
                let idx = if m == 1 {
                    indices.shallow_clone()
                } else {
                    indices.repeat([m, 1, 1, 1])
                };
                Tensor::zeros([1, *c, *hh, *ww], (g.kind(), g.device()))
                    .expand([m * r, *c, *hh, *ww], false)
                    .max_pool2d_with_indices_backward(
                        &g,
                        [*k, *k],
                        [*k, *k],
                        [0, 0],
                        [1, 1],
                        false,
                        &idx,
                    )
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

/// One step of the backward chain, last layer first.
enum Step<'a> {
    Layer(&'a Saved),
    Routed(RoutedBlock<'a>),
}

/// A Conv -> MaxPool -> ReLU block whose input gradient [`routed`] computes from the routing.
struct RoutedBlock<'a> {
    block: Block,
    weight: &'a Tensor,
    indices: &'a Tensor,
    alive: &'a Tensor,
}

impl RoutedBlock<'_> {
    fn back(&self, g: &Tensor, r: i64) -> Result<Tensor> {
        routed::input_grad(
            &self.block,
            g,
            self.alive,
            self.indices,
            self.weight,
            r as usize,
        )
    }
}

/// The backward chain of `saved` (forward order): each Conv, Pool, ReLU-mask run on float
/// CPU tensors becomes one routed step, every other layer its own.
fn plan(saved: &[Saved]) -> Vec<Step<'_>> {
    let mut steps = Vec::with_capacity(saved.len());
    let mut i = saved.len();
    while i > 0 {
        if i >= 3 {
            if let Some(b) = routed_block(&saved[i - 3..i]) {
                steps.push(Step::Routed(b));
                i -= 3;
                continue;
            }
        }
        steps.push(Step::Layer(&saved[i - 1]));
        i -= 1;
    }
    steps
}

/// `triple` as a routed block, if it is Conv, Pool, Mask with square kernels on the CPU.
fn routed_block(triple: &[Saved]) -> Option<RoutedBlock<'_>> {
    let [Saved::Conv(conv), Saved::Pool {
        indices,
        k: pool,
        in_shape: [o, hc, wc],
    }, Saved::Mask { mask }] = triple
    else {
        return None;
    };
    let ws = conv.weight.size();
    let on_cpu_float = |t: &Tensor| t.device() == Device::Cpu && t.kind() == tch::Kind::Float;
    if !on_cpu_float(&conv.weight) || !on_cpu_float(mask) || ws[2] != ws[3] || ws[0] != *o {
        return None;
    }
    let ms = mask.size();
    let (k, s, p) = (ws[2], conv.stride, conv.padding);
    let [l, r, t, b] = conv.pad.unwrap_or([0; 4]);
    let (hh, ww) = conv.in_hw;
    let grid = (hh + 2 * p, ww + 2 * p);
    let geometry_ok = ms.len() == 4
        && ms[1] == *o
        && (ms[2], ms[3]) == (hc / pool, wc / pool)
        && ((grid.0 - k) / s + 1, (grid.1 - k) / s + 1) == (*hc, *wc);
    if !geometry_ok {
        return None;
    }
    let u = |v: i64| v as usize;
    Some(RoutedBlock {
        block: Block {
            c: u(ws[1]),
            o: u(*o),
            k: u(k),
            stride: u(s),
            grid: (u(grid.0), u(grid.1)),
            origin: (u(p + t), u(p + l)),
            input: (u(hh - t - b), u(ww - l - r)),
            conv_out: (u(*hc), u(*wc)),
            pooled: (u(ms[2]), u(ms[3])),
        },
        weight: &conv.weight,
        indices,
        alive: mask,
    })
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
        if m == 0 {
            bail!("input gradients need at least one cotangent");
        }
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
        let plan = plan(saved);
        // Cotangents go through a dense convolution a few at a time: it runs faster per row
        // over a few hundred rows than over thousands (cache), and memory stays bounded. The
        // routed blocks take up to `routed::MAX_GROUP` at once (DeepFool's nine on ten
        // classes): an example's routing then serves all of them.
        let dense_conv = plan
            .iter()
            .any(|s| matches!(s, Step::Layer(Saved::Conv(_))));
        let per_pass = if dense_conv {
            (ROWS_PER_PASS / r.max(1)).clamp(1, m.max(1))
        } else {
            m.clamp(1, routed::MAX_GROUP as i64)
        };
        let cot = cotangents.to_kind(self.logits.kind());
        let parts = tch::no_grad(|| {
            cot.split(per_pass, 0)
                .into_iter()
                .map(|c| {
                    let mc = c.size()[0];
                    let mut g = c.reshape([mc * r, -1]);
                    for step in &plan {
                        g = match step {
                            Step::Layer(s) => s.back(g, mc, r),
                            Step::Routed(b) => b.back(&g, r)?,
                        };
                    }
                    Ok(g)
                })
                .collect::<Result<Vec<Tensor>>>()
        })?;
        let g = if parts.len() == 1 {
            parts.into_iter().next().expect("one part")
        } else {
            Tensor::cat(&parts, 0)
        };
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
