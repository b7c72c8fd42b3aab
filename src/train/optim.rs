//! Adam and SGD with momentum written over plain tensors, so their state (moments, step count)
//! is ordinary named tensors that go into a checkpoint and come back bit-for-bit.
use tch::Tensor;

use crate::config::preset::{Optimizer as Kind, TrainCfg};

pub struct Optimizer {
    kind: Kind,
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    momentum: f64,
    /// Parameters by name (shallow clones sharing the model's storage).
    params: Vec<(String, Tensor)>,
    /// First moments (Adam) or momentum buffers (SGD).
    m: Vec<Tensor>,
    /// Second moments (Adam only).
    v: Vec<Tensor>,
    pub t: i64,
}

impl Optimizer {
    pub fn new(cfg: &TrainCfg, params: Vec<(String, Tensor)>) -> Self {
        let zeros = |p: &Vec<(String, Tensor)>| p.iter().map(|(_, t)| t.zeros_like()).collect();
        Optimizer {
            kind: cfg.optimizer,
            lr: cfg.lr,
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            eps: cfg.adam_eps,
            momentum: cfg.momentum,
            m: zeros(&params),
            v: if cfg.optimizer == Kind::Adam {
                zeros(&params)
            } else {
                Vec::new()
            },
            params,
            t: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// One update from the gradients currently in `.grad()`.
    pub fn step(&mut self) {
        self.t += 1;
        let t = self.t as f64;
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                match self.kind {
                    Kind::Adam => {
                        let m = &mut self.m[i];
                        let v = &mut self.v[i];
                        // m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2
                        let _ = m.lerp_(&g, 1.0 - self.beta1);
                        let _ = v
                            .g_mul_scalar_(self.beta2)
                            .addcmul_(&g, &g.g_mul_scalar(1.0 - self.beta2));
                        let bc1 = 1.0 - self.beta1.powf(t);
                        let bc2 = 1.0 - self.beta2.powf(t);
                        // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), as torch.optim.Adam.
                        let denom = (v.sqrt() / bc2.sqrt()) + self.eps;
                        let _ = p.addcdiv_(&(m.g_mul_scalar(-self.lr / bc1)), &denom);
                    }
                    Kind::Sgd => {
                        let buf = &mut self.m[i];
                        let _ = buf.g_mul_scalar_(self.momentum).g_add_(&g);
                        let _ = p.g_add_(&buf.g_mul_scalar(-self.lr));
                    }
                }
            }
        });
    }

    /// State tensors by name, for checkpoints: `m.<param>`, `v.<param>`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("m.{name}"), self.m[i].shallow_clone()));
            if let Some(v) = self.v.get(i) {
                out.push((format!("v.{name}"), v.shallow_clone()));
            }
        }
        out
    }

    pub fn load_state(&mut self, tensors: &[(String, Tensor)], t: i64) -> anyhow::Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            for (prefix, slot) in [("m", Some(&mut self.m[i])), ("v", self.v.get_mut(i))] {
                let Some(slot) = slot else { continue };
                let key = format!("{prefix}.{name}");
                let (_, src) = tensors
                    .iter()
                    .find(|(n, _)| *n == key)
                    .ok_or_else(|| anyhow::anyhow!("optimizer state has no {key:?}"))?;
                tch::no_grad(|| slot.copy_(src));
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind as TKind};

    /// Adam on f(p) = sum(p^2)/2 (gradient p) against torch.optim.Adam's closed form for the
    /// first step: p1 = p0 - lr * sign(p0) (m/sqrt(v) = g/|g| after bias correction).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
        let cfg = TrainCfg {
            lr: 0.1,
            ..TrainCfg::default()
        };
        let mut opt = Optimizer::new(&cfg, vec![("p".into(), p.shallow_clone())]);
        let loss = (&p * &p).sum(TKind::Float) * 0.5;
        loss.backward();
        opt.step();
        let got: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        for (g, w) in got.iter().zip([0.9f32, -1.9, 0.4]) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
        assert_eq!(opt.state().len(), 2);
    }

    #[test]
    fn sgd_momentum_accumulates() {
        let p = Tensor::zeros([1], (TKind::Float, Device::Cpu)).set_requires_grad(true);
        let cfg = TrainCfg {
            optimizer: Kind::Sgd,
            lr: 0.5,
            momentum: 0.9,
            ..TrainCfg::default()
        };
        let mut opt = Optimizer::new(&cfg, vec![("p".into(), p.shallow_clone())]);
        for _ in 0..2 {
            opt.zero_grad();
            let loss = (&p - 1.0).sum(TKind::Float) * -1.0; // gradient -1
            loss.backward();
            opt.step();
        }
        // buf1 = -1, p = 0.5; buf2 = -1.9, p = 0.5 + 0.95 = 1.45
        assert!((p.double_value(&[0]) - 1.45).abs() < 1e-6);
    }
}
