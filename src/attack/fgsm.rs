//! FGSM (Goodfellow et al. 2015): x' = clip(x + ε sign(∇x L(f(x), y)), 0, 1), L-inf.
use anyhow::Result;
use tch::Tensor;

use super::{input_grad, Budget, Linearization, Model, Objective};

/// One signed-gradient step of size `eps` (scalar or per example), clipped to [0, 1].
pub fn fgsm(model: Model, x: &Tensor, objective: &Objective, eps: &Budget) -> Result<Tensor> {
    eps.check(x.size()[0])?;
    let (g, _) = input_grad(model, x, objective)?;
    Ok(step_sign(x, &g, eps))
}

/// FGSM from a model already linearised at x (a training step shares that forward with its
/// clean loss).
pub fn fgsm_at(
    lin: &dyn Linearization,
    x: &Tensor,
    objective: &Objective,
    eps: &Budget,
) -> Result<Tensor> {
    eps.check(x.size()[0])?;
    let g = lin.loss_grad(&|logits| objective.per_example(logits))?;
    Ok(step_sign(x, &g, eps))
}

/// clip(x + eps * sign(g), 0, 1), shared with PGD's first step when it has no random start.
pub(super) fn step_sign(x: &Tensor, g: &Tensor, eps: &Budget) -> Tensor {
    (x.detach() + eps.broadcast(x) * g.sign()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn zero_budget_changes_nothing() {
        let w = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
        let model = move |x: &Tensor| x.flatten(1, -1).matmul(&w.tr());
        let x = Tensor::rand([5, 1, 2, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3, 0]);
        let adv = fgsm(
            &model,
            &x,
            &Objective::CrossEntropy(&y),
            &Budget::Scalar(0.0),
        )
        .unwrap();
        assert!(adv.equal(&x));
    }
}
