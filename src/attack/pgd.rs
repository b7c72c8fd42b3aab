//! PGD (Madry et al. 2018): repeated gradient steps projected back onto the ε-ball around x
//! and onto the [0, 1] box. L-inf steps are signed (like torchattacks' `PGD`); L2 steps follow
//! the normalised gradient and the ball is the plain L2 norm over the whole example (like
//! torchattacks' `PGDL2`). With restarts, each example keeps its strongest run.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

use super::fgsm::step_sign;
use super::{input_grad, Budget, Model, Objective};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    Linf,
    /// Plain L2 norm of the whole example (not the per-pixel RMS used by BAP).
    L2,
}

/// Where each run starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// At x itself (deterministic).
    Clean,
    /// Uniformly in the ε-ball: per pixel U(-ε, ε) for L-inf; for L2 a random direction with a
    /// radius drawn from U(0, ε) (torchattacks' `PGDL2` convention).
    Uniform,
    /// x + σ N(0, I), as TRADES starts its inner maximisation (σ = 0.001).
    Gaussian(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pgd {
    pub norm: Norm,
    pub steps: usize,
    /// Absolute step size; `None` means 2.5 ε / steps (per example when ε is).
    pub step_size: Option<f64>,
    pub start: Start,
    /// Independent runs; each example keeps the run that fools the model, else the one with
    /// the highest loss.
    pub restarts: usize,
}

impl Default for Pgd {
    fn default() -> Self {
        Pgd {
            norm: Norm::Linf,
            steps: 10,
            step_size: None,
            start: Start::Uniform,
            restarts: 1,
        }
    }
}

impl Pgd {
    pub fn run(
        &self,
        model: Model,
        x: &Tensor,
        objective: &Objective,
        eps: &Budget,
    ) -> Result<Tensor> {
        eps.check(x.size()[0])?;
        if self.steps == 0 || self.restarts == 0 {
            bail!("PGD needs at least one step and one restart");
        }
        if let Some(a) = self.step_size {
            if !(a.is_finite() && a >= 0.0) {
                bail!("PGD step size {a} must be finite and >= 0");
            }
        }
        let x = x.detach();
        let mut best = self.one_run(model, &x, objective, eps)?;
        if self.restarts == 1 {
            return Ok(best);
        }
        let score = |adv: &Tensor| {
            let logits = model.logits(adv);
            (objective.fooled(&logits), objective.per_example(&logits))
        };
        let (mut best_fooled, mut best_loss) = score(&best);
        for _ in 1..self.restarts {
            let cand = self.one_run(model, &x, objective, eps)?;
            let (fooled, loss) = score(&cand);
            // Better: fools where the best does not, or fools equally with a higher loss.
            let better = fooled.logical_and(&best_fooled.logical_not()).logical_or(
                &fooled
                    .eq_tensor(&best_fooled)
                    .logical_and(&loss.gt_tensor(&best_loss)),
            );
            let mut shape = vec![-1i64];
            shape.extend(std::iter::repeat_n(1, x.dim() - 1));
            best = cand.where_self(&better.view(shape.as_slice()), &best);
            best_fooled = fooled.where_self(&better, &best_fooled);
            best_loss = loss.where_self(&better, &best_loss);
        }
        Ok(best)
    }

    fn one_run(
        &self,
        model: Model,
        x: &Tensor,
        objective: &Objective,
        eps: &Budget,
    ) -> Result<Tensor> {
        let eps_t = eps.broadcast(x);
        let alpha = match self.step_size {
            Some(a) => Budget::Scalar(a),
            None => eps.scaled(2.5 / self.steps as f64),
        };
        let alpha_t = alpha.broadcast(x);
        let mut adv = match self.start {
            Start::Clean => x.shallow_clone(),
            Start::Uniform => match self.norm {
                Norm::Linf => {
                    let u = x.rand_like() * 2.0 - 1.0;
                    (x + u * &eps_t).clamp(0.0, 1.0)
                }
                Norm::L2 => {
                    let d = x.randn_like();
                    let n = l2_norms(&d, x.dim()).clamp_min(1e-12);
                    let r = n.rand_like();
                    (x + d * (r / n) * &eps_t).clamp(0.0, 1.0)
                }
            },
            Start::Gaussian(sigma) => (x + x.randn_like() * sigma).clamp(0.0, 1.0),
        };
        for _ in 0..self.steps {
            let (g, _) = input_grad(model, &adv, objective)?;
            adv = match self.norm {
                Norm::Linf => {
                    let stepped = step_sign(&adv, &g, &alpha);
                    let eta = (stepped - x).maximum(&(-&eps_t)).minimum(&eps_t);
                    (x + eta).clamp(0.0, 1.0)
                }
                Norm::L2 => {
                    let gn = l2_norms(&g, x.dim()).clamp_min(1e-12);
                    let stepped = &adv + g / gn * &alpha_t;
                    let eta = stepped - x;
                    let n = l2_norms(&eta, x.dim()).clamp_min(1e-12);
                    let factor = (&eps_t / n).clamp_max(1.0);
                    (x + eta * factor).clamp(0.0, 1.0)
                }
            };
        }
        Ok(adv.detach())
    }
}

/// Per-example L2 norms shaped `[N, 1, 1, ...]` for broadcasting.
pub(super) fn l2_norms(t: &Tensor, dim: usize) -> Tensor {
    let dims: Vec<i64> = (1..dim as i64).collect();
    t.pow_tensor_scalar(2)
        .sum_dim_intlist(dims.as_slice(), true, Kind::Float)
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn linear_model() -> impl Fn(&Tensor) -> Tensor {
        tch::manual_seed(3);
        let w = Tensor::randn([3, 8], (Kind::Float, Device::Cpu));
        move |x: &Tensor| x.flatten(1, -1).matmul(&w.tr())
    }

    #[test]
    fn zero_budget_changes_nothing_for_every_variant() {
        let model = linear_model();
        let x = Tensor::rand([4, 2, 2, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
        for norm in [Norm::Linf, Norm::L2] {
            for step_size in [None, Some(0.05)] {
                let pgd = Pgd {
                    norm,
                    steps: 3,
                    step_size,
                    start: Start::Uniform,
                    restarts: 2,
                };
                let adv = pgd
                    .run(
                        &model,
                        &x,
                        &Objective::CrossEntropy(&y),
                        &Budget::Scalar(0.0),
                    )
                    .unwrap();
                assert!(adv.equal(&x), "{norm:?} {step_size:?}");
            }
        }
    }

    #[test]
    fn one_clean_step_of_size_eps_is_fgsm() {
        let model = linear_model();
        let x = Tensor::rand([6, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]);
        let obj = Objective::CrossEntropy(&y);
        let pgd = Pgd {
            norm: Norm::Linf,
            steps: 1,
            step_size: Some(0.1),
            start: Start::Clean,
            restarts: 1,
        };
        let a = pgd.run(&model, &x, &obj, &Budget::Scalar(0.1)).unwrap();
        let b = super::super::fgsm(&model, &x, &obj, &Budget::Scalar(0.1)).unwrap();
        assert!(a.allclose(&b, 0.0, 1e-7, false));
    }
}
