//! BAP's cutoff-scale step (docs/algorithm.md §2.2-2.3) and the budget cuts of the evaluation
//! curves (§4.4).
//!
//! Norms here are the per-pixel RMS n_i = sqrt(max(1e-12, sum(eta_i^2) / D)), D = C*H*W: the
//! authors' `cut` with ord 2. For MNIST an RMS of 0.1 is a plain L2 norm of 2.8.
use tch::{Kind, Tensor};

use super::Budget;

/// Where the cut-off δ comes from.
#[derive(Debug)]
pub enum Cut {
    /// δ = mean_i n_i over the batch (the "estimated" cut-off).
    BatchMean,
    /// A fixed δ, for the whole batch or per example.
    Fixed(Budget),
    /// No cut: only the scale rho applies.
    None,
}

#[derive(Debug)]
pub struct CutoffScale {
    pub cut: Cut,
    pub rho: f64,
}

/// The outcome of cutoff-scale, with what the budget statistics need.
pub struct Scaled {
    /// x + rho * eta * min(1, δ / n), clamped to [0, 1] when rho > 1.
    pub x_adv: Tensor,
    /// n_i of the incoming perturbation (the DeepFool distances d_i), `[N]`.
    pub norms: Tensor,
    /// δ as used: a 0-dim tensor for a batch-wide cut-off, `[N]` per example, None for no cut.
    pub delta: Option<Tensor>,
    /// Which examples were cut (n_i > δ), `[N]` bool.
    pub cut: Tensor,
}

impl Scaled {
    pub fn cut_fraction(&self) -> f64 {
        if self.cut.numel() == 0 {
            return 0.0;
        }
        self.cut
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
    }

    /// δ as one number when it is batch-wide.
    pub fn delta_value(&self) -> Option<f64> {
        self.delta
            .as_ref()
            .filter(|d| d.dim() == 0)
            .map(|d| d.double_value(&[]))
    }
}

/// Per-example RMS norms `[N]` of a perturbation `[N, ...]`, floored at 1e-6 (sqrt 1e-12).
/// The operation order is the reference's, so results match it bit for bit.
pub fn rms_norms(eta: &Tensor) -> Tensor {
    let d = eta.numel() as i64 / eta.size()[0].max(1);
    (eta.pow_tensor_scalar(2)
        .flatten(1, -1)
        .sum_dim_intlist(1, false, Kind::Float)
        / d as f64)
        .clamp_min(1e-12)
        .sqrt()
}

/// Per-example RMS `[N]` without the floor (0 for an unchanged example), for statistics.
pub fn rms(eta: &Tensor) -> Tensor {
    let d = eta.numel() as i64 / eta.size()[0].max(1);
    (eta.pow_tensor_scalar(2)
        .flatten(1, -1)
        .sum_dim_intlist(1, false, Kind::Float)
        / d as f64)
        .sqrt()
}

fn per_row(t: &Tensor, like: &Tensor) -> Tensor {
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, like.dim().saturating_sub(1)));
    t.view(shape.as_slice())
}

impl CutoffScale {
    /// Cuts the perturbation `x_adv - x` per example to RMS <= δ, then scales it by rho.
    pub fn apply(&self, x: &Tensor, x_adv: &Tensor) -> Scaled {
        tch::no_grad(|| {
            let x = x.detach();
            let eta = x_adv.detach() - &x;
            let norms = rms_norms(&eta);
            let delta = match &self.cut {
                Cut::BatchMean => Some(norms.mean(Kind::Float)),
                Cut::Fixed(Budget::Scalar(d)) => {
                    Some(Tensor::from(*d).to_kind(norms.kind()).to_device(x.device()))
                }
                Cut::Fixed(Budget::PerExample(t)) => {
                    Some(t.to_kind(norms.kind()).to_device(x.device()))
                }
                Cut::None => None,
            };
            let (eta, cut) = match &delta {
                Some(d) => {
                    let factor = (d / &norms).clamp_max(1.0);
                    (eta * per_row(&factor, &x), norms.gt_tensor(d))
                }
                None => (eta, norms.zeros_like().to_kind(Kind::Bool)),
            };
            let out = &x + eta * self.rho;
            let x_adv = if self.rho > 1.0 {
                out.clamp(0.0, 1.0)
            } else {
                out
            };
            Scaled {
                x_adv,
                norms,
                delta,
                cut,
            }
        })
    }
}

/// x + eta * min(1, δ / n): the perturbation cut to RMS <= δ (δ = 0 gives x back exactly).
pub fn cut_l2_rms(x: &Tensor, x_adv: &Tensor, delta: &Budget) -> Tensor {
    CutoffScale {
        cut: Cut::Fixed(match delta {
            Budget::Scalar(d) => Budget::Scalar(*d),
            Budget::PerExample(t) => Budget::PerExample(t.shallow_clone()),
        }),
        rho: 1.0,
    }
    .apply(x, x_adv)
    .x_adv
}

/// x + clip(eta, -δ, δ): the L-inf cut. Applied to FGSM with a huge ε it gives FGSM(ε = δ).
pub fn cut_linf(x: &Tensor, x_adv: &Tensor, delta: &Budget) -> Tensor {
    tch::no_grad(|| {
        let d = delta.broadcast(x);
        let eta = (x_adv - x).maximum(&(-&d)).minimum(&d);
        x + eta
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn pair() -> (Tensor, Tensor) {
        let x = Tensor::full([3, 1, 2, 2], 0.5, (Kind::Float, Device::Cpu));
        // RMS norms 0.1, 0.2 and 0 (an unchanged example).
        let eta = Tensor::from_slice(&[
            0.1f32, -0.1, 0.1, -0.1, 0.2, 0.2, -0.2, 0.2, 0.0, 0.0, 0.0, 0.0,
        ])
        .view([3, 1, 2, 2]);
        (x.shallow_clone(), x + eta)
    }

    #[test]
    fn batch_mean_cut_scales_the_far_examples_only() {
        let (x, xa) = pair();
        let s = CutoffScale {
            cut: Cut::BatchMean,
            rho: 1.0,
        }
        .apply(&x, &xa);
        let n: Vec<f32> = Vec::try_from(&s.norms).unwrap();
        assert!((n[0] - 0.1).abs() < 1e-6 && (n[1] - 0.2).abs() < 1e-6);
        assert!((n[2] - 1e-6).abs() < 1e-9, "floored at sqrt(1e-12)");
        let delta = s.delta_value().unwrap();
        assert!((delta - (0.3 + 1e-6) / 3.0).abs() < 1e-6);
        let out: Vec<f32> = Vec::try_from(&rms(&(&s.x_adv - &x))).unwrap();
        assert!((out[0] as f64 - 0.1).abs() < 1e-6);
        assert!((out[1] as f64 - delta).abs() < 1e-6);
        assert_eq!(out[2], 0.0);
        assert!(
            (s.cut_fraction() - 1.0 / 3.0).abs() < 1e-6,
            "{}",
            s.cut_fraction()
        );
    }

    #[test]
    fn rho_scales_and_clamps_above_one() {
        let (x, xa) = pair();
        let half = CutoffScale {
            cut: Cut::None,
            rho: 0.5,
        }
        .apply(&x, &xa);
        assert!(half
            .x_adv
            .allclose(&(&x + (&xa - &x) * 0.5), 1e-6, 1e-7, false));
        assert_eq!(half.cut_fraction(), 0.0);
        let x1 = Tensor::full([1, 4], 0.9, (Kind::Float, Device::Cpu));
        let big = CutoffScale {
            cut: Cut::None,
            rho: 3.0,
        }
        .apply(&x1, &(&x1 + 0.05));
        assert_eq!(big.x_adv.max().double_value(&[]), 1.0);
    }

    #[test]
    fn fixed_cuts_per_example_and_zero_gives_x() {
        let (x, xa) = pair();
        let per = Budget::PerExample(Tensor::from_slice(&[0.05f32, 0.5, 0.0]));
        let out = rms(&(cut_l2_rms(&x, &xa, &per) - &x));
        let got: Vec<f32> = Vec::try_from(&out).unwrap();
        assert!((got[0] - 0.05).abs() < 1e-6 && (got[1] - 0.2).abs() < 1e-6);
        assert!(cut_l2_rms(&x, &xa, &Budget::Scalar(0.0)).equal(&x));
        let li = cut_linf(&x, &xa, &Budget::Scalar(0.15));
        assert!((&li - &x).abs().max().double_value(&[]) <= 0.15 + 1e-7);
    }
}
