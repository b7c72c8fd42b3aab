//! Adversarial attacks on batches of images in [0, 1] (NCHW or any `[N, ...]` layout).
//!
//! The model is a [`Classifier`]: logits, and gradients with respect to the *input* only,
//! never the parameters (their `.grad` is never touched); every returned tensor is detached.
//! Any closure from inputs to logits is one (through autograd), so the attacks know nothing of
//! `Net`, masks or devices; `Net` implements it with a faster backward of its own
//! (`model::input_grad`).
//!
//! - [`classifier`]: the `Classifier` and `Linearization` traits and the autograd version.
//! - [`fgsm`]: one signed-gradient step (L-inf).
//! - [`pgd`]: projected gradient descent, L-inf or L2, random starts and restarts.
//! - [`deepfool`]: the minimal-perturbation L2 attack, cleverhans 3.0.1 batch semantics.
//! - [`apgd`]: APGD-CE and APGD-T (AutoAttack's gradient attacks), L-inf or L2.
//! - [`cutoff`]: BAP's cutoff-scale step and the budget cuts used by the evaluation curves.
pub mod apgd;
pub mod classifier;
pub mod cutoff;
pub mod deepfool;
pub mod fgsm;
pub mod pgd;

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

pub use apgd::{Apgd, ApgdResult, APGD_TARGETS};
pub use classifier::{Classifier, Linearization};
pub use cutoff::{cut_l2_rms, cut_linf, rms_norms, Cut, CutoffScale, Scaled};
pub use deepfool::{DeepFool, DeepFoolResult};
pub use fgsm::{fgsm, fgsm_at};
pub use pgd::{Norm, Pgd, Start};

/// A classifier as the attacks see it: images `[N, ...]` to logits `[N, classes]`, with input
/// gradients.
pub type Model<'a> = &'a dyn Classifier;

/// A perturbation budget: one value for the whole batch, or one per example (`[N]`).
#[derive(Debug)]
pub enum Budget {
    Scalar(f64),
    PerExample(Tensor),
}

impl Budget {
    /// Checks the budget against a batch of `n` examples: finite, non-negative, right length.
    pub fn check(&self, n: i64) -> Result<()> {
        match self {
            Budget::Scalar(e) => {
                if !(e.is_finite() && *e >= 0.0) {
                    bail!("attack budget {e} must be finite and >= 0");
                }
            }
            Budget::PerExample(t) => {
                if t.size() != [n] {
                    bail!(
                        "per-example budget has shape {:?}, the batch needs [{n}]",
                        t.size()
                    );
                }
                if n > 0 {
                    let min = t.min().double_value(&[]);
                    let max = t.max().double_value(&[]);
                    if !(min >= 0.0 && max.is_finite()) {
                        bail!("per-example budgets must be finite and >= 0 (got {min}..{max})");
                    }
                }
            }
        }
        Ok(())
    }

    /// The budget shaped to broadcast against `x` (`[N, 1, 1, ...]`), in `x`'s kind and device.
    pub fn broadcast(&self, x: &Tensor) -> Tensor {
        match self {
            Budget::Scalar(e) => Tensor::from(*e).to_kind(x.kind()).to_device(x.device()),
            Budget::PerExample(t) => {
                let mut shape = vec![-1i64];
                shape.extend(std::iter::repeat_n(1, x.dim().saturating_sub(1)));
                t.to_kind(x.kind())
                    .to_device(x.device())
                    .view(shape.as_slice())
            }
        }
    }

    /// The budget times a factor (PGD's default step size is 2.5 ε / steps).
    pub fn scaled(&self, f: f64) -> Budget {
        match self {
            Budget::Scalar(e) => Budget::Scalar(e * f),
            Budget::PerExample(t) => Budget::PerExample(t * f),
        }
    }
}

impl From<f64> for Budget {
    fn from(e: f64) -> Self {
        Budget::Scalar(e)
    }
}

/// What a gradient attack ascends.
pub enum Objective<'a> {
    /// Cross-entropy against these labels `[N]` (i64), unsmoothed.
    CrossEntropy(&'a Tensor),
    /// KL(p || softmax(f(x'))) against these clean probabilities `[N, C]` (TRADES' inner
    /// maximisation).
    Kl(&'a Tensor),
}

impl Objective<'_> {
    /// Per-example loss `[N]`. Summed (not averaged) for the gradient, so each example's
    /// gradient does not shrink with the batch size.
    pub fn per_example(&self, logits: &Tensor) -> Tensor {
        let logp = logits.log_softmax(-1, logits.kind());
        match self {
            Objective::CrossEntropy(y) => -logp.gather(1, &y.unsqueeze(1), false).squeeze_dim(1),
            Objective::Kl(p) => {
                // sum p (log p - log q); the p log p part is constant in x' but keeps the value
                // a true KL (>= 0), which restarts compare.
                let plogp = *p * p.clamp_min(1e-12).log();
                (plogp - *p * logp).sum_dim_intlist(-1, false, logits.kind())
            }
        }
    }

    /// Whether each example's objective counts as "fooled" (used to rank PGD restarts):
    /// misclassified for cross-entropy; never for KL, where only the loss matters.
    fn fooled(&self, logits: &Tensor) -> Tensor {
        match self {
            Objective::CrossEntropy(y) => logits.argmax(-1, false).ne_tensor(y),
            Objective::Kl(_) => logits.argmax(-1, false).zeros_like().to_kind(Kind::Bool),
        }
    }
}

/// Gradient of the summed objective with respect to the input, and the logits (both
/// detached). Works inside `no_grad` callers.
pub fn input_grad(model: Model, x: &Tensor, objective: &Objective) -> Result<(Tensor, Tensor)> {
    model.loss_grad(x, &|logits| objective.per_example(logits))
}

/// Fraction of rows of `logits` whose argmax equals `y`.
pub fn accuracy(logits: &Tensor, y: &Tensor) -> f64 {
    if logits.size()[0] == 0 {
        return 0.0;
    }
    logits
        .argmax(-1, false)
        .eq_tensor(y)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
}

/// Number of rows of `logits` whose argmax equals `y`.
pub fn correct(logits: &Tensor, y: &Tensor) -> i64 {
    logits
        .argmax(-1, false)
        .eq_tensor(y)
        .sum(Kind::Int64)
        .int64_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn budgets_broadcast_per_example() {
        let x = Tensor::zeros([3, 1, 2, 2], (Kind::Float, Device::Cpu));
        let b = Budget::PerExample(Tensor::from_slice(&[0.1f64, 0.2, 0.3]));
        assert_eq!(b.broadcast(&x).size(), vec![3, 1, 1, 1]);
        assert_eq!(b.broadcast(&x).kind(), Kind::Float);
        assert!(b.check(3).is_ok());
        assert!(b.check(4).is_err());
        assert!(Budget::Scalar(-1.0).check(3).is_err());
        assert!(Budget::Scalar(f64::NAN).check(3).is_err());
        assert!(Budget::PerExample(Tensor::from_slice(&[0.1f32, -0.2, 0.3]))
            .check(3)
            .is_err());
    }

    #[test]
    fn a_model_that_ignores_its_input_is_an_error_not_a_panic() {
        let x = Tensor::rand([2, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1]);
        let w = Tensor::ones([1, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let constant = |t: &Tensor| w.expand([t.size()[0], 3], false) * 1.0;
        let detached = |t: &Tensor| t.detach() * 1.0;
        for model in [&constant as Model, &detached as Model] {
            let obj = Objective::CrossEntropy(&y);
            assert!(fgsm(model, &x, &obj, &Budget::Scalar(0.1)).is_err());
            assert!(DeepFool::default().run(model, &x).is_err());
        }
    }

    #[test]
    fn kl_objective_is_zero_at_the_clean_point() {
        let logits = Tensor::from_slice(&[1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0]).view([2, 3]);
        let p = logits.softmax(-1, Kind::Float);
        let kl = Objective::Kl(&p).per_example(&logits);
        assert!(kl.abs().max().double_value(&[]) < 1e-6);
        let y = Tensor::from_slice(&[1i64, 2]);
        let ce = Objective::CrossEntropy(&y).per_example(&logits);
        let want = logits.cross_entropy_for_logits(&y).double_value(&[]) * 2.0;
        assert!((ce.sum(Kind::Float).double_value(&[]) - want).abs() < 1e-5);
    }
}
