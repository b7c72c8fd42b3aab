//! DeepFool (Moosavi-Dezfooli et al. 2016), untargeted L2, reproducing the batch semantics of
//! cleverhans 3.0.1 that the authors ran (docs/algorithm.md §2.1):
//!
//! - `orig` is the model's own prediction on x, not the label;
//! - an example stops moving once its prediction differs from `orig` (frozen);
//! - the top-K logits are re-sorted every iteration; candidate k's linearised distance is
//!   pert_k = (|f_k - f_0| + 1e-5) / (||w_k|| + 1e-8) with w_k = ∇(f_k - f_0);
//! - the step is r = pert_k* w_k* / (||w_k*|| + 1e-8) (the +1e-8 as in the PyTorch reference);
//! - x_adv = clip(x + r_tot) after every iteration; the result is clip(x + (1 + overshoot) r_tot).
//!
//! Speed (a BAP training step runs this on every batch): the K-1 gradients of f_k - f_0 are
//! taken directly, as K-1 cotangents of one linearisation ([`Linearization::diff_grads`]: for a
//! `Net`, one forward and one batched backward without autograd), and only the examples still
//! classified as `orig` are forwarded and back-propagated. Frozen examples cannot thaw, since
//! their r_tot no longer changes, so dropping them gives the same result as the reference,
//! which keeps computing them. The reference also takes K gradients (f_0's too) and subtracts;
//! the K-1 differences are the same vectors.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

use super::{Linearization, Model};

#[derive(Debug, Clone, PartialEq)]
pub struct DeepFool {
    pub max_iter: usize,
    /// K: how many of the top logits are candidate classes (capped at the class count).
    pub candidates: usize,
    pub overshoot: f64,
}

impl Default for DeepFool {
    fn default() -> Self {
        DeepFool {
            max_iter: 5,
            candidates: 10,
            overshoot: 0.02,
        }
    }
}

pub struct DeepFoolResult {
    /// clip(x + (1 + overshoot) r_tot, 0, 1), detached.
    pub x_adv: Tensor,
    /// The model's prediction on x, `[N]` i64.
    pub orig: Tensor,
    /// Iterations that moved at least one example.
    pub iterations: usize,
    /// How many examples were still unfooled at the start of each iteration.
    pub active: Vec<i64>,
}

impl DeepFool {
    pub fn run(&self, model: Model, x: &Tensor) -> Result<DeepFoolResult> {
        self.run_from(model, x, None)
    }

    /// As [`DeepFool::run`], with the first iteration's forward already done: `first` is
    /// `model` linearised at x (a training step that needs x's logits anyway shares it).
    pub fn run_from(
        &self,
        model: Model,
        x: &Tensor,
        first: Option<&dyn Linearization>,
    ) -> Result<DeepFoolResult> {
        if self.candidates < 2 || self.max_iter == 0 {
            bail!("DeepFool needs at least 2 candidate classes and 1 iteration");
        }
        if let Some(l) = first {
            if l.logits().size()[0] != x.size()[0] {
                bail!("DeepFool's first linearisation is of another batch");
            }
        }
        tch::no_grad(|| self.run_inner(model, x, first))
    }

    fn run_inner(
        &self,
        model: Model,
        x: &Tensor,
        first: Option<&dyn Linearization>,
    ) -> Result<DeepFoolResult> {
        let x = x.detach();
        let n = x.size()[0];
        let device = x.device();
        let mut r_tot = x.zeros_like();
        let mut x_adv = x.copy();
        // Row indices (into the batch) of the examples still classified as `orig`.
        let mut active = Tensor::arange(n, (Kind::Int64, device));
        let mut orig = Tensor::zeros([n], (Kind::Int64, device));
        let mut history = Vec::new();
        let mut iterations = 0;
        if n == 0 {
            return Ok(DeepFoolResult {
                x_adv,
                orig,
                iterations,
                active: history,
            });
        }
        for it in 0..self.max_iter {
            let fresh;
            let lin: &dyn Linearization = match first {
                Some(l) if it == 0 => l,
                _ => {
                    fresh = model.linearize(&x_adv.index_select(0, &active))?;
                    fresh.as_ref()
                }
            };
            let logits = lin.logits();
            // Rows of `logits` whose gradients are wanted (None = all of them).
            let mut rows: Option<Tensor> = None;
            if it == 0 {
                orig = logits.argmax(-1, false);
            } else {
                let still = logits
                    .argmax(-1, false)
                    .eq_tensor(&orig.index_select(0, &active));
                let kept = still.sum(Kind::Int64).int64_value(&[]);
                let before = active.size()[0];
                if kept == 0 {
                    history.push(0);
                    break;
                }
                if kept < before {
                    let keep = still.nonzero().squeeze_dim(1);
                    active = active.index_select(0, &keep);
                    rows = Some(keep);
                }
            }
            history.push(active.size()[0]);
            let k = self.k(logits);
            let kept_logits = match &rows {
                Some(r) => logits.index_select(0, r),
                None => logits.shallow_clone(),
            };
            let (v, classes) = kept_logits.topk(k, 1, true, true);
            // Gradients of f_k - f_0 for k = 1..K-1, flattened: [A, K-1, D].
            let w = lin.diff_grads(&classes, rows.as_ref())?;
            let f = v.narrow(1, 1, k - 1) - v.narrow(1, 0, 1);
            let mut shape = x.size();
            shape[0] = active.size()[0];
            let r = step(&w, &f).view(shape.as_slice());
            let updated = r_tot.index_select(0, &active) + r;
            let _ = r_tot.index_copy_(0, &active, &updated);
            let moved = (x.index_select(0, &active) + updated).clamp(0.0, 1.0);
            let _ = x_adv.index_copy_(0, &active, &moved);
            iterations += 1;
        }
        let x_adv = (&x + r_tot * (1.0 + self.overshoot)).clamp(0.0, 1.0);
        Ok(DeepFoolResult {
            x_adv,
            orig,
            iterations,
            active: history,
        })
    }

    /// Number of candidates for logits with C classes: min(K, C).
    fn k(&self, logits: &Tensor) -> i64 {
        (self.candidates as i64).min(logits.size()[1])
    }
}

/// One DeepFool step for each row: w `[A, K-1, D]` gradients of f_k - f_0, f `[A, K-1]`
/// logit gaps. Returns r `[A, D]` towards the nearest linearised boundary.
fn step(w: &Tensor, f: &Tensor) -> Tensor {
    let d = w.size()[2];
    let wn = w.norm_scalaropt_dim(2, [2], false);
    let pert = (f.abs() + 1e-5) / (&wn + 1e-8);
    let best = pert.argmin(1, true);
    let pert_b = pert.gather(1, &best, false).squeeze_dim(1);
    let wn_b = wn.gather(1, &best, false).squeeze_dim(1);
    let w_b = w
        .gather(
            1,
            &best.unsqueeze(2).expand([-1, 1, d], false).contiguous(),
            false,
        )
        .squeeze_dim(1);
    (pert_b / (wn_b + 1e-8)).unsqueeze(1) * w_b
}
