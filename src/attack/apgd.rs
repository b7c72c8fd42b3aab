//! APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
//! diverse parameter-free attacks"): PGD whose step size needs no tuning, the two gradient
//! attacks of AutoAttack.
//!
//! - **APGD-CE** ascends the cross-entropy of the true label.
//! - **APGD-T** ascends the targeted DLR loss −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2) (z sorted
//!   descending as z_π1 ≥ z_π2 ≥ ...), once for each of the `targets` classes the model ranks
//!   highest after its top one on the clean image (AutoAttack: 9), each on the examples no
//!   earlier target fooled.
//!
//! One run of `steps` iterations from a random point of the ε-ball (L∞: uniform per pixel then
//! scaled so the largest coordinate is ε; L2: a Gaussian direction of length ε):
//!
//! - step: z = P(x_k + η_k · s(∇)), x_{k+1} = P(x_k + α (z − x_k) + (1 − α)(x_k − x_{k−1})) with
//!   momentum α = 0.75 (1 at the first step), η_0 = 2ε, s = sign for L∞ and ∇/‖∇‖₂ for L2, P the
//!   projection onto the ball and the [0, 1] box;
//! - checkpoints after 22 %, 41 %, 57 %, ... of the steps (the first after ⌊0.22 N⌋ steps, each
//!   next interval 3 % of N shorter, never under 6 %): an example's step size halves, and it
//!   restarts from its best point so far, when its loss rose in at most ρ = 0.75 of the steps
//!   since the last checkpoint, or when its step size was not halved at the last checkpoint and
//!   its best loss has not improved since;
//! - an example counts as fooled as soon as any iterate is misclassified; that iterate is its
//!   adversarial image.
//!
//! Only examples classified correctly on the clean image are attacked (the others are already
//! not robust); each restart and each target runs on the examples still unfooled. Examples are
//! independent (a step, a loss and a step size are per example), so fooled ones leave the run
//! at once, which changes no one's result and saves their forward and backward passes.
//!
//! The random starts draw from LibTorch's generator in the order torchattacks' `APGD` and
//! `APGDT` do (one draw of the unfooled examples' shape per restart and target), so a run seeded
//! like theirs starts from the same points; `tests/attack_torchattacks.rs` compares the two.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

use super::pgd::l2_norms;
use super::{Model, Norm, Objective};

#[derive(Debug, Clone, PartialEq)]
pub struct Apgd {
    pub norm: Norm,
    /// Iterations of one run (AutoAttack: 100).
    pub steps: usize,
    /// Runs from fresh random starts, each on the examples still unfooled.
    pub restarts: usize,
    /// ρ: the fraction of loss increases between checkpoints below which the step halves.
    pub rho: f64,
    /// α: weight of the new step against the last one (1 − α is the momentum).
    pub momentum: f64,
}

impl Default for Apgd {
    fn default() -> Self {
        Apgd {
            norm: Norm::Linf,
            steps: 100,
            restarts: 1,
            rho: 0.75,
            momentum: 0.75,
        }
    }
}

/// AutoAttack's number of target classes for APGD-T.
pub const APGD_TARGETS: usize = 9;

/// The outcome of an APGD attack on a batch.
pub struct ApgdResult {
    /// The first misclassified iterate of each fooled example; the clean image of the others.
    pub x_adv: Tensor,
    /// `[N]` bool: classified correctly on the clean image and on every iterate of every run.
    pub robust: Tensor,
}

/// What one run ascends.
#[derive(Clone, Copy)]
enum Loss {
    CrossEntropy,
    /// Targeted DLR towards the class ranked `rank` (0 = the top one) on the clean image.
    DlrTargeted {
        rank: i64,
    },
}

impl Loss {
    fn per_example(self, logits: &Tensor, y: &Tensor, target: Option<&Tensor>) -> Tensor {
        match (self, target) {
            (Loss::DlrTargeted { .. }, Some(t)) => dlr_targeted(logits, y, t),
            _ => Objective::CrossEntropy(y).per_example(logits),
        }
    }
}

/// Marks the examples misclassified at `x_adv` (rows `rows` of the run's batch) as fooled and
/// keeps that iterate as their adversarial image.
fn record_fooled(
    logits: &Tensor,
    y: &Tensor,
    rows: &Tensor,
    x_adv: &Tensor,
    fooled: &mut Tensor,
    adv_out: &mut Tensor,
) {
    let wrong = logits
        .argmax(-1, false)
        .ne_tensor(y)
        .nonzero()
        .squeeze_dim(1);
    if wrong.size()[0] == 0 {
        return;
    }
    let at = rows.index_select(0, &wrong);
    let _ = adv_out.index_copy_(0, &at, &x_adv.index_select(0, &wrong));
    let _ = fooled.index_fill_(0, &at, 1);
}

/// A per-example `[M]` tensor shaped `[M, 1, 1, ...]` to broadcast against `dim`-d images.
fn col(t: &Tensor, dim: usize) -> Tensor {
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, dim - 1));
    t.view(shape.as_slice())
}

impl Apgd {
    /// APGD-CE: untargeted, cross-entropy of the labels `y` `[N]`, L∞ or L2 radius `eps`.
    pub fn ce(&self, model: Model, x: &Tensor, y: &Tensor, eps: f64) -> Result<ApgdResult> {
        self.check(eps)?;
        let mut state = Outcome::start(model, x, y);
        for _ in 0..self.restarts {
            self.run_on_unfooled(model, x, y, eps, Loss::CrossEntropy, &mut state)?;
        }
        Ok(state.finish())
    }

    /// APGD-T: targeted DLR against each of the `targets` most likely other classes in turn
    /// (capped at classes − 1), `restarts` runs each. Needs at least 4 classes (the DLR
    /// denominator reads the 4th largest logit).
    pub fn targeted(
        &self,
        model: Model,
        x: &Tensor,
        y: &Tensor,
        eps: f64,
        targets: usize,
    ) -> Result<ApgdResult> {
        self.check(eps)?;
        let mut state = Outcome::start(model, x, y);
        let classes = state.classes;
        if classes < 4 {
            bail!("APGD-T needs at least 4 classes (its DLR loss reads the 4th largest logit); the model has {classes}");
        }
        let targets = (targets as i64).min(classes - 1);
        for rank in 1..=targets {
            for _ in 0..self.restarts {
                let loss = Loss::DlrTargeted { rank };
                self.run_on_unfooled(model, x, y, eps, loss, &mut state)?;
            }
        }
        Ok(state.finish())
    }

    fn check(&self, eps: f64) -> Result<()> {
        if !(eps.is_finite() && eps >= 0.0) {
            bail!("APGD budget {eps} must be finite and >= 0");
        }
        if self.steps == 0 || self.restarts == 0 {
            bail!("APGD needs at least one step and one restart");
        }
        if !(self.rho > 0.0 && self.rho <= 1.0 && self.momentum > 0.0 && self.momentum <= 1.0) {
            bail!(
                "APGD's rho ({}) and momentum ({}) must lie in (0, 1]",
                self.rho,
                self.momentum
            );
        }
        Ok(())
    }

    /// One run on the examples of `state` still unfooled; records the newly fooled ones.
    fn run_on_unfooled(
        &self,
        model: Model,
        x: &Tensor,
        y: &Tensor,
        eps: f64,
        loss: Loss,
        state: &mut Outcome,
    ) -> Result<()> {
        let idx = state.robust.nonzero().squeeze_dim(1);
        if idx.size()[0] == 0 {
            return Ok(());
        }
        let xs = x.index_select(0, &idx);
        let ys = y.index_select(0, &idx);
        let (fooled, adv) = self.single_run(model, &xs, &ys, eps, loss)?;
        let hit = fooled.nonzero().squeeze_dim(1);
        if hit.size()[0] > 0 {
            let rows = idx.index_select(0, &hit);
            let _ = state
                .x_adv
                .index_copy_(0, &rows, &adv.index_select(0, &hit));
            let _ = state.robust.index_fill_(0, &rows, 0);
        }
        Ok(())
    }

    /// One run from a random start. Returns which examples were fooled `[M]` and, for those,
    /// the fooled iterate (rows of the others are unspecified).
    fn single_run(
        &self,
        model: Model,
        x: &Tensor,
        y: &Tensor,
        eps: f64,
        loss: Loss,
    ) -> Result<(Tensor, Tensor)> {
        let m = x.size()[0];
        let dim = x.dim();
        let start = match self.norm {
            Norm::Linf => {
                let t = x.rand_like() * 2.0 - 1.0;
                let top = t.abs().flatten(1, -1).amax([1], false);
                &t * eps / col(&top, dim)
            }
            Norm::L2 => {
                let t = x.randn_like();
                &t * eps / (l2_norms(&t, dim) + 1e-12)
            }
        };
        let target = match loss {
            Loss::CrossEntropy => None,
            Loss::DlrTargeted { rank } => Some(logits(model, x).argsort(1, true).select(1, rank)),
        };
        let x_adv = (x + start).clamp(0.0, 1.0);
        let mut fooled = Tensor::zeros([m], (Kind::Bool, x.device()));
        let mut adv_out = x.copy();
        let rows = Tensor::arange(m, (Kind::Int64, x.device()));
        let (l, g, z) = loss_and_grad(model, &x_adv, |z| loss.per_example(z, y, target.as_ref()))?;
        record_fooled(&z, y, &rows, &x_adv, &mut fooled, &mut adv_out);
        let mut s = Run {
            x: x.detach(),
            y: y.shallow_clone(),
            target,
            rows,
            x_prev: x_adv.copy(),
            x_best: x_adv.copy(),
            x_adv,
            grad: g.shallow_clone(),
            grad_best: g,
            loss_best: l.copy(),
            best_at_check: l,
            // True at the start, as if just halved: the "no improvement" rule needs a
            // checkpoint to compare with.
            halved_at_check: Tensor::ones([m], (Kind::Bool, x.device())),
            eta: Tensor::full([m], 2.0 * eps, (x.kind(), x.device())),
            history: Vec::with_capacity(self.steps),
        };
        s.drop_fooled(&fooled);
        let checks = checkpoints(self.steps);
        let mut last_check = 0;
        for i in 0..self.steps {
            if s.rows.size()[0] == 0 {
                break;
            }
            let a = if i == 0 { 1.0 } else { self.momentum };
            s.step(self.norm, eps, a);
            let (y, target) = (&s.y, s.target.as_ref());
            let (l, g, z) = loss_and_grad(model, &s.x_adv, |z| loss.per_example(z, y, target))?;
            record_fooled(&z, &s.y, &s.rows, &s.x_adv, &mut fooled, &mut adv_out);
            let better = l.gt_tensor(&s.loss_best);
            let b = col(&better, dim);
            s.x_best = s.x_adv.where_self(&b, &s.x_best);
            s.grad_best = g.where_self(&b, &s.grad_best);
            s.loss_best = l.where_self(&better, &s.loss_best);
            s.grad = g;
            s.history.push(l);
            if checks.contains(&(i + 1)) {
                let k = i + 1 - last_check;
                last_check = i + 1;
                let halve = halve_mask(
                    &s.history,
                    k,
                    self.rho,
                    &s.halved_at_check,
                    &s.best_at_check,
                    &s.loss_best,
                );
                s.best_at_check = s.loss_best.copy();
                let hb = col(&halve, dim);
                s.eta = (&s.eta * 0.5).where_self(&halve, &s.eta);
                s.x_adv = s.x_best.where_self(&hb, &s.x_adv);
                s.grad = s.grad_best.where_self(&hb, &s.grad);
                s.halved_at_check = halve;
            }
            s.drop_fooled(&fooled);
        }
        Ok((fooled, adv_out))
    }
}

/// The robust flags and adversarial images of a whole batch, as runs fill them in.
struct Outcome {
    x_adv: Tensor,
    robust: Tensor,
    classes: i64,
}

impl Outcome {
    fn start(model: Model, x: &Tensor, y: &Tensor) -> Outcome {
        let z = logits(model, x);
        Outcome {
            x_adv: x.detach().copy(),
            robust: z.argmax(-1, false).eq_tensor(y),
            classes: z.size().get(1).copied().unwrap_or(0),
        }
    }

    fn finish(self) -> ApgdResult {
        ApgdResult {
            x_adv: self.x_adv,
            robust: self.robust,
        }
    }
}

/// The state of one run over the examples still unfooled (`rows` index the run's batch).
struct Run {
    x: Tensor,
    y: Tensor,
    target: Option<Tensor>,
    rows: Tensor,
    x_adv: Tensor,
    x_prev: Tensor,
    grad: Tensor,
    x_best: Tensor,
    grad_best: Tensor,
    loss_best: Tensor,
    best_at_check: Tensor,
    halved_at_check: Tensor,
    /// Step size η per example `[rows]`.
    eta: Tensor,
    /// The loss after each step so far, `[rows]` each (rows dropped as examples are fooled).
    history: Vec<Tensor>,
}

impl Run {
    /// Keeps only the rows not yet fooled.
    fn drop_fooled(&mut self, fooled: &Tensor) {
        let keep = fooled.index_select(0, &self.rows).logical_not();
        let n = self.rows.size()[0];
        let kept = keep.sum(Kind::Int64).int64_value(&[]);
        if kept == n {
            return;
        }
        let k = keep.nonzero().squeeze_dim(1);
        let sel = |t: &Tensor| t.index_select(0, &k);
        self.x = sel(&self.x);
        self.y = sel(&self.y);
        self.target = self.target.as_ref().map(sel);
        self.rows = sel(&self.rows);
        self.x_adv = sel(&self.x_adv);
        self.x_prev = sel(&self.x_prev);
        self.grad = sel(&self.grad);
        self.x_best = sel(&self.x_best);
        self.grad_best = sel(&self.grad_best);
        self.loss_best = sel(&self.loss_best);
        self.best_at_check = sel(&self.best_at_check);
        self.halved_at_check = sel(&self.halved_at_check);
        self.eta = sel(&self.eta);
        for h in &mut self.history {
            *h = sel(h);
        }
    }

    /// One momentum step from x_adv (the previous iterate kept for the momentum term).
    fn step(&mut self, norm: Norm, eps: f64, a: f64) {
        tch::no_grad(|| {
            let x = &self.x;
            let last = &self.x_adv - &self.x_prev;
            self.x_prev = self.x_adv.shallow_clone();
            let dim = x.dim();
            let eta = col(&self.eta, dim);
            let z = match norm {
                Norm::Linf => &self.x_adv + eta * self.grad.sign(),
                Norm::L2 => &self.x_adv + eta * &self.grad / (l2_norms(&self.grad, dim) + 1e-12),
            };
            let z = project(x, &z, norm, eps);
            let moved = &self.x_adv + (z - &self.x_adv) * a + last * (1.0 - a);
            self.x_adv = project(x, &moved, norm, eps);
        })
    }
}

/// v projected onto the ε-ball around x (L∞ or plain L2) and then the [0, 1] box.
fn project(x: &Tensor, v: &Tensor, norm: Norm, eps: f64) -> Tensor {
    match norm {
        Norm::Linf => v.minimum(&(x + eps)).maximum(&(x - eps)).clamp(0.0, 1.0),
        Norm::L2 => {
            let d = v - x;
            let n = l2_norms(&d, x.dim());
            let scale = (n.clamp_max(eps) + 1e-12) / (&n + 1e-12);
            (x + d * scale).clamp(0.0, 1.0)
        }
    }
}

/// Iteration counts after which a checkpoint falls, for a run of `steps`: the first after
/// max(⌊0.22 steps⌋, 1), each next interval max(⌊0.03 steps⌋, 1) shorter but never under
/// max(⌊0.06 steps⌋, 1) (the paper's p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)).
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let first = ((0.22 * steps as f64) as usize).max(1);
    let min = ((0.06 * steps as f64) as usize).max(1);
    let decr = ((0.03 * steps as f64) as usize).max(1);
    let mut out = Vec::new();
    let (mut at, mut k) = (first, first);
    while at <= steps {
        out.push(at);
        k = k.saturating_sub(decr).max(min);
        at += k;
    }
    out
}

/// Which examples halve their step at a checkpoint `k` steps after the last one:
///
/// 1. the loss rose from one step to the next in at most ρ·k of those k steps (the loss
///    before the first step counts as 0, as in the reference implementation), or
/// 2. the step was not halved at the last checkpoint and the best loss has not improved since.
fn halve_mask(
    history: &[Tensor],
    k: usize,
    rho: f64,
    halved_at_check: &Tensor,
    best_at_check: &Tensor,
    best: &Tensor,
) -> Tensor {
    let j = history.len();
    let mut rises = best.zeros_like();
    for c in 0..k.min(j) {
        let now = &history[j - 1 - c];
        let before = if j - 1 - c == 0 {
            now.zeros_like()
        } else {
            history[j - 2 - c].shallow_clone()
        };
        rises += now.gt_tensor(&before).to_kind(rises.kind());
    }
    let oscillating = rises.le(rho * k as f64);
    let stalled = halved_at_check
        .logical_not()
        .logical_and(&best_at_check.ge_tensor(best));
    oscillating.logical_or(&stalled)
}

/// Targeted DLR loss `[N]`: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12).
pub fn dlr_targeted(logits: &Tensor, y: &Tensor, target: &Tensor) -> Tensor {
    let sorted = logits.sort(1, true).0;
    let at = |t: &Tensor| logits.gather(1, &t.unsqueeze(1), false).squeeze_dim(1);
    let scale = sorted.select(1, 0) - (sorted.select(1, 2) + sorted.select(1, 3)) * 0.5 + 1e-12;
    -(at(y) - at(target)) / scale
}

/// The model's logits, without a graph. Every plain forward of APGD goes through here.
fn logits(model: Model, x: &Tensor) -> Tensor {
    model.logits(x)
}

/// Per-example loss `[M]`, the gradient of its sum with respect to `x`, and the logits, all
/// detached. Every gradient of APGD goes through here: the classifier's own input gradient
/// (`model::input_grad` for bapw's networks), the loss differentiated on the logits alone.
fn loss_and_grad(
    model: Model,
    x: &Tensor,
    loss: impl Fn(&Tensor) -> Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (g, z) = model.loss_grad(x, &|z: &Tensor| loss(z))?;
    let l = tch::no_grad(|| loss(&z));
    Ok((l.detach(), g, z))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn checkpoints_follow_the_paper() {
        // p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of 100 iterations.
        assert_eq!(checkpoints(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
        // Short runs: intervals of at least one step.
        assert_eq!(checkpoints(10), vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(checkpoints(1), vec![1]);
        assert_eq!(
            checkpoints(25),
            vec![5, 9, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
        );
    }

    #[test]
    fn steps_halve_when_the_loss_oscillates_or_stalls() {
        let t = |v: &[f32]| Tensor::from_slice(v);
        // Four examples, four steps since the last checkpoint (k = 4, ρ = 0.75: at most 3
        // rises halve).
        // 0: rises every step (4 rises)            -> keep
        // 1: rises 3 of 4 steps                    -> halve
        // 2: rises every step but history starts below 0: first step vs 0 is no rise -> 3 -> halve
        // 3: rises every step (4)                  -> keep unless stalled
        let history = vec![
            t(&[1.0, 1.0, -1.0, 1.0]),
            t(&[2.0, 0.5, -0.5, 2.0]),
            t(&[3.0, 2.0, 0.0, 3.0]),
            t(&[4.0, 3.0, 0.5, 4.0]),
        ];
        let best = t(&[4.0, 3.0, 0.5, 4.0]);
        let not_halved = Tensor::zeros([4], (Kind::Bool, Device::Cpu));
        let halved = Tensor::ones([4], (Kind::Bool, Device::Cpu));
        let lower = t(&[0.0, 0.0, 0.0, 0.0]);
        let got = halve_mask(&history, 4, 0.75, &halved, &lower, &best);
        assert_eq!(
            Vec::<bool>::try_from(&got).unwrap(),
            [false, true, true, false]
        );
        // Stalled: not halved last time and the best is no better than at the last check.
        let same = best.copy();
        let got = halve_mask(&history, 4, 0.75, &not_halved, &same, &best);
        assert_eq!(
            Vec::<bool>::try_from(&got).unwrap(),
            [true, true, true, true]
        );
        // Improved since the last check: only the oscillation rule applies.
        let got = halve_mask(&history, 4, 0.75, &not_halved, &lower, &best);
        assert_eq!(
            Vec::<bool>::try_from(&got).unwrap(),
            [false, true, true, false]
        );
    }

    #[test]
    fn targeted_dlr_on_constructed_logits() {
        // Logits 5, 3, 2, 1, 0: sorted z1 = 5, z3 = 2, z4 = 1; y = 0, target 1:
        // -(5 - 3) / (5 - 1.5) = -4/7.
        let z = Tensor::from_slice(&[5.0f64, 3.0, 2.0, 1.0, 0.0]).view([1, 5]);
        let y = Tensor::from_slice(&[0i64]);
        let t = Tensor::from_slice(&[1i64]);
        let l = dlr_targeted(&z, &y, &t).double_value(&[0]);
        assert!((l + 4.0 / 7.0).abs() < 1e-9, "{l}");
        // Scale-invariant and shift-invariant, as DLR is meant to be.
        let l2 = dlr_targeted(&(&z * 3.0 + 7.0), &y, &t).double_value(&[0]);
        assert!((l - l2).abs() < 1e-9);
    }

    #[test]
    fn bad_settings_are_errors() {
        let w = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
        let model = move |x: &Tensor| x.flatten(1, -1).matmul(&w.tr());
        let x = Tensor::rand([3, 6], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2]);
        let a = Apgd::default();
        assert!(a.ce(&model, &x, &y, -0.1).is_err());
        assert!(a.ce(&model, &x, &y, f64::NAN).is_err());
        let zero = Apgd {
            steps: 0,
            ..Apgd::default()
        };
        assert!(zero.ce(&model, &x, &y, 0.1).is_err());
        let w3 = Tensor::randn([3, 6], (Kind::Float, Device::Cpu));
        let three = move |x: &Tensor| x.flatten(1, -1).matmul(&w3.tr());
        assert!(a.targeted(&three, &x, &y, 0.1, 9).is_err());
    }
}
