//! What the attacks need from a model: its logits, and gradients with respect to its *input*
//! (never its weights).
//!
//! [`Classifier::linearize`] runs one forward pass at x and keeps what the input gradients need;
//! the returned [`Linearization`] then gives vector-Jacobian products for as many cotangents as
//! the caller wants, all from that one forward. Two uses cover every attack:
//!
//! - the gradient of a per-example scalar loss of the logits ([`Classifier::loss_grad`]: FGSM,
//!   PGD, APGD): one cotangent, dL/dlogits;
//! - the gradients of several logit differences ([`Linearization::diff_grads`]: DeepFool's
//!   f_k - f_0 for its K-1 candidates): K-1 cotangents on one forward.
//!
//! Any closure `Fn(&Tensor) -> Tensor` is a classifier through autograd (the blanket impl
//! below). `model::Net` implements the trait with its own backward pass
//! (`model::input_grad`), which equals autograd's to float rounding and is faster.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// A classifier as the attacks see it: images `[N, ...]` to logits `[N, classes]`.
pub trait Classifier {
    /// Logits `[N, classes]` as values: no autograd graph is built or returned.
    fn logits(&self, x: &Tensor) -> Tensor;

    /// One forward pass at x, kept for input gradients.
    fn linearize(&self, x: &Tensor) -> Result<Box<dyn Linearization + '_>>;

    /// d(sum_i loss(f(x))_i)/dx and the logits f(x) (both detached). `loss` maps logits `[N, C]`
    /// to per-example losses `[N]`; summing (not averaging) keeps each example's gradient
    /// independent of the batch size.
    fn loss_grad(&self, x: &Tensor, loss: &dyn Fn(&Tensor) -> Tensor) -> Result<(Tensor, Tensor)> {
        let lin = self.linearize(x)?;
        let g = lin.loss_grad(loss)?;
        Ok((g, lin.logits().shallow_clone()))
    }
}

/// A model linearised at one input x `[N, ...]`.
pub trait Linearization {
    /// The logits f(x) `[N, C]`, detached.
    fn logits(&self) -> &Tensor;

    /// Input gradients of M weighted sums of the logits: `cotangents` `[M, R, C]` gives
    /// `[M, R, ...]` with `[m, r] = d(sum_c cot[m, r, c] f_c(x_row))/dx_row`, for the rows
    /// `rows` (`[R]` i64 indices into the batch) or every row when `None`.
    fn vjp(&self, cotangents: &Tensor, rows: Option<&Tensor>) -> Result<Tensor>;

    /// d(sum_i loss(f(x))_i)/dx, as [`Classifier::loss_grad`] but at this linearisation.
    fn loss_grad(&self, loss: &dyn Fn(&Tensor) -> Tensor) -> Result<Tensor> {
        let cot = logit_cotangent(self.logits(), loss)?;
        Ok(self.vjp(&cot.unsqueeze(0), None)?.squeeze_dim(0))
    }

    /// DeepFool's gradients: for each row r and `classes` `[R, K]` (i64), the input gradients
    /// of f_{classes[r, k]} - f_{classes[r, 0]} for k = 1..K-1, flattened: `[R, K-1, D]`.
    fn diff_grads(&self, classes: &Tensor, rows: Option<&Tensor>) -> Result<Tensor> {
        let cot = difference_cotangents(classes, self.logits().size()[1], self.logits().kind());
        let g = self.vjp(&cot, rows)?;
        Ok(g.flatten(2, -1).transpose(0, 1))
    }
}

/// Cotangents `[K-1, R, C]` whose vector-Jacobian products are the gradients of
/// f_{classes[r, k]} - f_{classes[r, 0]}.
pub fn difference_cotangents(classes: &Tensor, num_classes: i64, kind: Kind) -> Tensor {
    let (r, k) = (classes.size()[0], classes.size()[1]);
    let onehot = Tensor::eye(num_classes, (kind, classes.device()))
        .index_select(0, &classes.flatten(0, -1))
        .view([r, k, num_classes]);
    (onehot.narrow(1, 1, k - 1) - onehot.narrow(1, 0, 1))
        .transpose(0, 1)
        .contiguous()
}

/// d(sum loss(logits))/dlogits, by autograd on the (small) loss alone.
pub fn logit_cotangent(logits: &Tensor, loss: &dyn Fn(&Tensor) -> Tensor) -> Result<Tensor> {
    tch::with_grad(|| {
        let leaf = logits.detach().set_requires_grad(true);
        let total = loss(&leaf).sum(leaf.kind());
        grad_of(&total, &leaf, false)
    })
}

/// d target / d input for a scalar `target`, without touching any parameter's `.grad`
/// (the autograd engine is asked for this one input only). Errors, instead of panicking, when
/// the model's output does not depend on its input.
pub(crate) fn grad_of(target: &Tensor, input: &Tensor, keep_graph: bool) -> Result<Tensor> {
    // LibTorch crashes (not errs) on a root without a graph, so check first.
    if !target.requires_grad() {
        bail!("the model's output does not depend on its input: no gradient to attack with");
    }
    let g = Tensor::f_run_backward(&[target], &[input], keep_graph, false)
        .map_err(|e| anyhow::anyhow!("input gradient: {e}"))?
        .swap_remove(0);
    if !g.defined() {
        bail!("the model's output does not depend on its input: no gradient to attack with");
    }
    Ok(g.detach())
}

/// Every closure from images to logits is a classifier, differentiated by autograd.
impl<F: Fn(&Tensor) -> Tensor> Classifier for F {
    fn logits(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self(x)).detach()
    }

    fn linearize(&self, x: &Tensor) -> Result<Box<dyn Linearization + '_>> {
        let x = x.detach();
        let (xg, graph) = tch::with_grad(|| {
            let xg = x.shallow_clone().set_requires_grad(true);
            let graph = self(&xg);
            (xg, graph)
        });
        Ok(Box::new(Autograd {
            model: self,
            logits: graph.detach(),
            x,
            xg,
            graph,
        }))
    }

    /// One backward pass of the summed loss (no separate cotangent step).
    fn loss_grad(&self, x: &Tensor, loss: &dyn Fn(&Tensor) -> Tensor) -> Result<(Tensor, Tensor)> {
        tch::with_grad(|| {
            let xg = x.detach().set_requires_grad(true);
            let logits = self(&xg);
            let total = loss(&logits).sum(logits.kind());
            let g = grad_of(&total, &xg, false)?;
            Ok((g, logits.detach()))
        })
    }
}

/// Autograd's linearisation: the forward's graph, one backward pass per cotangent.
struct Autograd<'a, F> {
    model: &'a F,
    x: Tensor,
    xg: Tensor,
    graph: Tensor,
    logits: Tensor,
}

impl<F: Fn(&Tensor) -> Tensor> Linearization for Autograd<'_, F> {
    fn logits(&self) -> &Tensor {
        &self.logits
    }

    fn vjp(&self, cotangents: &Tensor, rows: Option<&Tensor>) -> Result<Tensor> {
        let m = cotangents.size()[0];
        let n = self.x.size()[0];
        if m == 0 {
            bail!("input gradients need at least one cotangent");
        }
        tch::with_grad(|| {
            // The graph covers every row. A backward pass costs about a forward one, so for a
            // few rows a fresh forward on them alone is cheaper than M passes over all rows.
            let fresh;
            let (input, graph, cot) = match rows {
                None => (&self.xg, &self.graph, cotangents.shallow_clone()),
                Some(r) if r.size()[0] * (m + 1) < n * m => {
                    let xr = self.x.index_select(0, r).set_requires_grad(true);
                    let gr = (self.model)(&xr);
                    fresh = (xr, gr);
                    (&fresh.0, &fresh.1, cotangents.shallow_clone())
                }
                Some(r) => {
                    // Zero cotangents on the other rows, then keep the rows asked for.
                    let mut shape = cotangents.size();
                    shape[1] = n;
                    let full =
                        Tensor::zeros(shape.as_slice(), (cotangents.kind(), cotangents.device()))
                            .index_copy(1, r, cotangents);
                    (&self.xg, &self.graph, full)
                }
            };
            let grads = (0..m)
                .map(|j| {
                    let target = (graph * cot.get(j)).sum(graph.kind());
                    // The graph stays for later calls; it is freed with the linearisation.
                    let g = grad_of(&target, input, true)?;
                    Ok(match rows {
                        Some(r) if g.size()[0] != r.size()[0] => g.index_select(0, r),
                        _ => g,
                    })
                })
                .collect::<Result<Vec<Tensor>>>()?;
            Ok(Tensor::stack(&grads, 0))
        })
    }
}
