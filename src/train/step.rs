//! What differs between the training modes: how adversarial examples are made for a batch,
//! how their loss mixes with the clean loss, and the robustness evaluation.
//!
//! - `natural`: no adversarial examples.
//! - `adversarial`: a uniform L-inf budget `adv.eps`, FGSM or PGD (the adversarial-pruning
//!   baseline), on the cross-entropy of the model's own predictions (`adv.labels =
//!   "predicted"`, the authors' behaviour) or of the true labels (`"true"`).
//! - `bap`: DeepFool (`adv.deepfool_iters`, `adv.candidates`, `adv.overshoot`), then
//!   cutoff-scale (`adv.cutoff`, `adv.delta`, `adv.rho`): each example's budget is
//!   rho * min(d_i, δ) with d_i its DeepFool distance.
//!
//! The examples are made from the current (masked) weights on every batch and are constants
//! for the update. When the attack's first forward is at x itself (FGSM, TRADES' clean
//! probabilities, DeepFool's first iteration), it runs with the weights' graph and its logits
//! are the clean logits of the update ([`StepKit::logits`]), so the clean batch is forwarded
//! once per step, not twice as in the reference; the values are the same. `adv.loss = "mix"` gives w CE(clean) + (1 - w) CE(adv) with the training's
//! smoothed labels; `"trades"` gives CE(clean) + β KL(f(x) || f(x')) and makes the uniform
//! attack maximise that KL from x + 0.001 N(0, I), as TRADES does.
//!
//! `StepKit::new` only copies settings, so live changes (`Command::Set`) rebuild it for free.
use crate::events::{self, Distribution, Eval, Event};
use anyhow::Result;
use tch::{Kind, Tensor};

use crate::attack::{
    self, cutoff, Budget, Cut, CutoffScale, DeepFool, Linearization, Model, Norm, Objective, Pgd,
    Start,
};
use crate::config::preset::{AdvCfg, AdvLabels, AdvLoss, Cutoff, Mode, Preset, UniformAttack};
use crate::data::Dataset;
use crate::eval::{self, EvalSpec};
use crate::model::Net;

/// Bins of the budget histograms (over [0, adv.budget_hist_max]).
pub const BUDGET_BINS: usize = 30;
/// TRADES starts its inner maximisation at x + σ N(0, I) with this σ.
const TRADES_START_SIGMA: f64 = 0.001;

#[allow(clippy::large_enum_variant)]
pub enum AdvOutcome {
    None,
    Examples {
        x_adv: Tensor,
        budget: Option<BudgetStats>,
        /// The clean logits, with autograd's graph to the weights, when the attack's own
        /// forward at x gave them (FGSM, TRADES, DeepFool's first iteration): the update then
        /// forwards only `x_adv`.
        clean_logits: Option<Tensor>,
    },
}

/// Per-batch budget statistics, turned into a `budget` event when due.
pub struct BudgetStats {
    mode: Mode,
    /// DeepFool RMS distances d_i (BAP only).
    distances: Option<Vec<f64>>,
    /// Budgets actually used: RMS of the final perturbations (BAP) or the constant ε.
    budgets: Vec<f64>,
    delta: Option<f64>,
    rho: f64,
    cut_fraction: f64,
    flip_rate: f64,
    hist_max: f64,
}

impl BudgetStats {
    pub fn into_event(self, step: usize) -> Event {
        let dist = |v: &[f64]| Distribution::from_values(v, 0.0, self.hist_max, BUDGET_BINS);
        Event::Budget(events::Budget {
            step,
            mode: self.mode.as_str().into(),
            distances: self.distances.as_deref().map(dist),
            budgets: dist(&self.budgets),
            delta: self.delta,
            rho: self.rho,
            cut_fraction: self.cut_fraction,
            flip_rate: self.flip_rate,
        })
    }
}

pub struct StepKit {
    mode: Mode,
    adv: AdvCfg,
}

impl StepKit {
    pub fn new(preset: &Preset) -> Self {
        StepKit {
            mode: preset.train.mode,
            adv: preset.adv.clone(),
        }
    }

    /// Adversarial examples for the batch (x, y), or none in natural mode. Budget statistics
    /// come with every `adv.budget_every`-th step (counting from 1, like the progress lines).
    pub fn examples(&self, net: &Net, x: &Tensor, y: &Tensor, step: usize) -> Result<AdvOutcome> {
        let every = self.adv.budget_every;
        let due = every > 0 && (step + 1).is_multiple_of(every);
        match self.mode {
            Mode::Natural => Ok(AdvOutcome::None),
            Mode::Adversarial => self.uniform(net, x, y, due),
            Mode::Bap => self.bap(net, x, due),
        }
    }

    /// The clean and adversarial logits of the update, with autograd's graphs to the weights.
    pub fn logits(&self, net: &Net, x: &Tensor, adv: &AdvOutcome) -> (Tensor, Option<Tensor>) {
        match adv {
            AdvOutcome::None => (net.forward(x), None),
            AdvOutcome::Examples {
                x_adv,
                clean_logits: Some(clean),
                ..
            } => (clean.shallow_clone(), Some(net.forward(x_adv))),
            // Clean and adversarial examples go through one forward of the concatenated batch
            // (no batch-dependent layers, so the logits are the same as two passes).
            AdvOutcome::Examples { x_adv, .. } => {
                let n = x.size()[0];
                let both = net.forward(&Tensor::cat(&[x, x_adv], 0));
                (both.narrow(0, 0, n), Some(both.narrow(0, n, n)))
            }
        }
    }

    fn uniform(&self, net: &Net, x: &Tensor, y: &Tensor, due: bool) -> Result<AdvOutcome> {
        let model: Model = net;
        let a = &self.adv;
        let eps = Budget::Scalar(a.eps);
        let trades = a.loss == AdvLoss::Trades;
        // FGSM's gradient and TRADES' clean probabilities need a forward at x. Run with the
        // weights' graph, that forward also gives the clean loss; the reference runs it twice.
        let at_x = (a.attack == UniformAttack::Fgsm || trades).then(|| net.record(x, true));
        // The FGSM/PGD labels: the model's own predictions (the authors' code: no label
        // leaking) or the true ones. Where the forward at x exists, its logits give them.
        let predicted;
        let labels = match a.labels {
            AdvLabels::True => y,
            AdvLabels::Predicted => {
                predicted = match &at_x {
                    Some(rec) => rec.logits().detach().argmax(-1, false),
                    None => tch::no_grad(|| model.logits(x).argmax(-1, false)),
                };
                &predicted
            }
        };
        let clean_probs;
        let objective = match (a.loss, &at_x) {
            (AdvLoss::Trades, Some(rec)) => {
                clean_probs = rec.logits().detach().softmax(-1, Kind::Float);
                Objective::Kl(&clean_probs)
            }
            _ => Objective::CrossEntropy(labels),
        };
        let x_adv = match (a.attack, trades, &at_x) {
            (UniformAttack::Fgsm, false, Some(rec)) => attack::fgsm_at(rec, x, &objective, &eps)?,
            (UniformAttack::Fgsm, false, None) => attack::fgsm(model, x, &objective, &eps)?,
            // The KL objective has a zero gradient at x itself, so FGSM under TRADES is one
            // PGD step of size ε from the Gaussian start.
            (UniformAttack::Fgsm, true, _) => Pgd {
                norm: Norm::Linf,
                steps: 1,
                step_size: Some(a.eps),
                start: Start::Gaussian(TRADES_START_SIGMA),
                restarts: 1,
            }
            .run(model, x, &objective, &eps)?,
            (UniformAttack::Pgd, _, _) => Pgd {
                norm: Norm::Linf,
                steps: a.pgd_steps,
                step_size: (a.pgd_step_size > 0.0).then_some(a.pgd_step_size),
                start: if trades {
                    Start::Gaussian(TRADES_START_SIGMA)
                } else if a.pgd_random_start {
                    Start::Uniform
                } else {
                    Start::Clean
                },
                restarts: 1,
            }
            .run(model, x, &objective, &eps)?,
        };
        let budget = due.then(|| {
            let clean_pred = match &at_x {
                Some(rec) => rec.logits().argmax(-1, false),
                None => model.logits(x).argmax(-1, false),
            };
            BudgetStats {
                mode: self.mode,
                distances: None,
                budgets: vec![a.eps; x.size()[0] as usize],
                delta: None,
                rho: 1.0,
                cut_fraction: 0.0,
                flip_rate: flip_rate(model, &x_adv, &clean_pred),
                hist_max: a.budget_hist_max,
            }
        });
        Ok(AdvOutcome::Examples {
            x_adv,
            budget,
            clean_logits: at_x.and_then(|r| r.graph_logits().map(Tensor::shallow_clone)),
        })
    }

    fn bap(&self, net: &Net, x: &Tensor, due: bool) -> Result<AdvOutcome> {
        let a = &self.adv;
        // DeepFool's first forward is at x: with the weights' graph it is the clean loss's too.
        let at_x = net.record(x, true);
        let df = DeepFool {
            max_iter: a.deepfool_iters,
            candidates: a.candidates,
            overshoot: a.overshoot,
        }
        .run_from(net, x, Some(&at_x))?;
        let cut = match a.cutoff {
            Cutoff::BatchMean => Cut::BatchMean,
            Cutoff::Fixed => Cut::Fixed(Budget::Scalar(a.delta)),
            Cutoff::None => Cut::None,
        };
        let scaled = CutoffScale { cut, rho: a.rho }.apply(x, &df.x_adv);
        let budget = if due {
            Some(BudgetStats {
                mode: self.mode,
                distances: Some(to_vec(&scaled.norms)?),
                budgets: to_vec(&cutoff::rms(&(&scaled.x_adv - x)))?,
                // The configured δ exactly when fixed (the tensor holds it in f32).
                delta: match a.cutoff {
                    Cutoff::Fixed => Some(a.delta),
                    _ => scaled.delta_value(),
                },
                rho: a.rho,
                cut_fraction: scaled.cut_fraction(),
                flip_rate: flip_rate(net, &scaled.x_adv, &df.orig),
                hist_max: a.budget_hist_max,
            })
        } else {
            None
        };
        Ok(AdvOutcome::Examples {
            x_adv: scaled.x_adv,
            budget,
            clean_logits: at_x.graph_logits().map(Tensor::shallow_clone),
        })
    }

    /// The training loss from the clean and adversarial logits; returns (loss, adversarial
    /// term).
    pub fn combine(
        &self,
        clean_logits: &Tensor,
        adv_logits: &Tensor,
        clean_loss: &Tensor,
        y: &Tensor,
        smoothing: f64,
    ) -> (Tensor, Tensor) {
        match self.adv.loss {
            AdvLoss::Mix => {
                let w = self.adv.clean_weight;
                let adv = super::loss::smoothed_ce(adv_logits, y, smoothing);
                (clean_loss * w + &adv * (1.0 - w), adv)
            }
            AdvLoss::Trades => {
                let kl = kl_div(clean_logits, adv_logits);
                (clean_loss + &kl * self.adv.trades_beta, kl)
            }
        }
    }

    /// Robustness of the current weights on `eval.subset` test images (class-stratified,
    /// seeded by `eval.subset_seed`), as an `eval` event.
    pub fn evaluate(
        &self,
        net: &Net,
        data: &Dataset,
        preset: &Preset,
        step: usize,
        epoch: usize,
    ) -> Result<Option<Event>> {
        let spec = EvalSpec::from_preset(preset)?;
        let e = &preset.eval;
        let (r, subset) = eval::evaluate_test_set(
            net,
            &data.test_x,
            &data.test_y,
            e.subset,
            e.subset_seed,
            &spec,
        )?;
        Ok(Some(Event::Eval(Eval {
            step,
            epoch,
            examples: r.examples,
            clean_acc: r.clean_acc,
            curves: r.curves,
            seconds: r.seconds,
            subset: Some(subset),
            settings: Some(r.settings),
            worst_case: r.worst_case,
            flags: r.flags,
        })))
    }
}

/// Batch mean of KL(softmax(p) || softmax(q)) for logits p (clean) and q (adversarial).
pub fn kl_div(p_logits: &Tensor, q_logits: &Tensor) -> Tensor {
    let logp = p_logits.log_softmax(-1, Kind::Float);
    let logq = q_logits.log_softmax(-1, Kind::Float);
    (logp.exp() * (&logp - logq))
        .sum_dim_intlist(-1, false, Kind::Float)
        .mean(Kind::Float)
}

/// Fraction of examples whose prediction on `x_adv` differs from `clean_pred`.
fn flip_rate(model: Model, x_adv: &Tensor, clean_pred: &Tensor) -> f64 {
    if x_adv.size()[0] == 0 {
        return 0.0;
    }
    model
        .logits(x_adv)
        .argmax(-1, false)
        .ne_tensor(clean_pred)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
}

fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        &t.to_kind(Kind::Double).to_device(tch::Device::Cpu),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_equal_logits_and_positive_otherwise() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0]).view([2, 3]);
        assert!(kl_div(&a, &a).double_value(&[]).abs() < 1e-7);
        let b = Tensor::from_slice(&[3.0f32, 2.0, 1.0, 1.0, 0.0, 0.0]).view([2, 3]);
        assert!(kl_div(&a, &b).double_value(&[]) > 0.01);
    }
}
