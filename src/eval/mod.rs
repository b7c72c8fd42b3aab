//! Robustness evaluation (docs/algorithm.md §4.4, made reviewer-grade): robust accuracy of a
//! model on test images under each attack over its budget grid, the worst case over the
//! attacks of each threat model, one AUC per curve with its standard error, and
//! gradient-masking flags.
//!
//! **Counting.** An image is robust at a budget when the model classifies it correctly on
//! the clean image *and* under the attack at that budget *and at every smaller budget of the
//! grid* (a point found inside a smaller ball lies inside every larger one). So every curve
//! starts at the clean accuracy and never rises, and an image the model already gets wrong is
//! never robust, even when an attack (DeepFool starts from the model's prediction, not the
//! label) pushes it into its true class.
//!
//! **Attacks and threat models.** L∞ over `eps`: `fgsm`, `pgd`, `apgd`. L2 over the RMS
//! `deltas` (an RMS δ is a plain L2 radius δ·√D, D = C·H·W): `deepfool` (cut), `apgd-l2`.
//!
//! - FGSM is run once with a huge ε (every pixel saturates to 0 or 1 along the gradient sign)
//!   and then cut to [-ε, ε]: exactly FGSM(ε) with [0, 1] clipping, for every ε from one
//!   gradient. The same gradient feeds the zero-gradient check.
//! - PGD runs separately per ε: `pgd_steps` steps of 2.5 ε / steps from a uniform random
//!   start, `pgd_restarts` restarts.
//! - APGD ("AutoAttack-lite"): APGD-CE, then APGD-T (targeted DLR, 9 target classes) on the
//!   images APGD-CE did not fool, `apgd_steps` steps and `apgd_restarts` restarts each, per ε
//!   only on the images still robust at the smaller ε. AutoAttack's other two attacks, FAB-T
//!   and Square (gradient-free), are not included.
//! - DeepFool runs once (`deepfool_iters` iterations, 10 candidates, overshoot 0.02: the
//!   authors' evaluation settings) and its perturbation is cut for each δ.
//! - ε = 0 and δ = 0 leave the images unchanged, so those points are the clean accuracy.
//!
//! **Worst case.** Per threat model and budget, an image counts only if it is robust under
//! every attack of that threat model that ran (`worst-linf`, `worst-l2`).
pub mod cli;
pub mod flags;
pub mod stats;
pub mod subset;
pub mod view;

use std::time::Instant;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use crate::attack::{
    self, cutoff, Apgd, Budget, DeepFool, Model, Norm, Objective, Pgd, Start, APGD_TARGETS,
};
use crate::config::preset::Preset;
use crate::events::{AttackCurve, AttackSettings, Distribution, EvalSubset, MaskingFlag};

/// FGSM's "huge" ε for the one-gradient curve (any value >= 1 saturates every pixel).
const FGSM_HUGE_EPS: f64 = 100.0;
/// DeepFool candidates and overshoot of the evaluation (fixed, so curves compare across runs
/// whatever the training settings were).
pub const EVAL_CANDIDATES: usize = 10;
pub const EVAL_OVERSHOOT: f64 = 0.02;
/// PGD's step is this factor times ε / steps.
pub const PGD_STEP_FACTOR: f64 = 2.5;
/// Croce & Hein's APGD constants.
pub const APGD_RHO: f64 = 0.75;
pub const APGD_MOMENTUM: f64 = 0.75;

/// The attacks `eval.attacks` may name, in their usual order.
pub use crate::config::preset::ATTACKS;

/// The threat model of an attack: true for the RMS-L2 δ grid, false for the L∞ ε grid.
pub fn is_l2(attack: &str) -> bool {
    matches!(attack, "deepfool" | "apgd-l2" | "worst-l2")
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSpec {
    /// Any of [`ATTACKS`], in the order the curves are reported.
    pub attacks: Vec<String>,
    /// L-inf ε grid of FGSM, PGD and APGD (sorted, duplicates removed).
    pub eps: Vec<f64>,
    /// RMS δ grid of DeepFool-cut and APGD-L2 (sorted, duplicates removed).
    pub deltas: Vec<f64>,
    pub pgd_steps: usize,
    pub pgd_restarts: usize,
    pub apgd_steps: usize,
    pub apgd_restarts: usize,
    pub deepfool_iters: usize,
    pub batch_size: usize,
    /// Seed of the random starts (PGD, APGD), so an evaluation repeats exactly.
    pub seed: i64,
}

impl EvalSpec {
    pub fn from_preset(p: &Preset) -> Result<EvalSpec> {
        EvalSpec {
            attacks: p.eval.attacks.clone(),
            eps: p.eval.eps.clone(),
            deltas: p.eval.deltas.clone(),
            pgd_steps: p.eval.pgd_steps,
            pgd_restarts: p.eval.pgd_restarts,
            apgd_steps: p.eval.apgd_steps,
            apgd_restarts: p.eval.apgd_restarts,
            deepfool_iters: p.eval.deepfool_iters,
            batch_size: p.eval.batch_size,
            seed: p.train.seed as i64,
        }
        .checked()
    }

    /// Validates the spec and sorts its grids (AUC needs ascending grids).
    pub fn checked(mut self) -> Result<EvalSpec> {
        for a in &self.attacks {
            if !ATTACKS.contains(&a.as_str()) {
                bail!("unknown attack {a:?}; known: {}", ATTACKS.join(", "));
            }
        }
        self.attacks.dedup();
        for (name, grid) in [("eps", &mut self.eps), ("deltas", &mut self.deltas)] {
            if grid.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                bail!("every value of the {name} grid must be finite and >= 0: {grid:?}");
            }
            grid.sort_by(f64::total_cmp);
            grid.dedup();
        }
        if self.batch_size == 0
            || self.pgd_steps == 0
            || self.deepfool_iters == 0
            || self.apgd_steps == 0
            || self.pgd_restarts == 0
            || self.apgd_restarts == 0
        {
            bail!("batch size, steps, restarts and DeepFool iterations must be at least 1");
        }
        Ok(self)
    }

    /// The settings as recorded with the results (`targets` as used for this model).
    pub fn settings(&self, classes: i64) -> AttackSettings {
        AttackSettings {
            pgd_steps: self.pgd_steps,
            pgd_restarts: self.pgd_restarts,
            pgd_step_factor: PGD_STEP_FACTOR,
            apgd_steps: self.apgd_steps,
            apgd_restarts: self.apgd_restarts,
            apgd_targets: apgd_targets(classes),
            apgd_rho: APGD_RHO,
            apgd_momentum: APGD_MOMENTUM,
            deepfool_iters: self.deepfool_iters,
            deepfool_candidates: EVAL_CANDIDATES,
            deepfool_overshoot: EVAL_OVERSHOOT,
            seed: self.seed,
        }
    }
}

/// APGD-T's targets for a model with `classes` classes: 9, at most classes − 1, and none
/// below 4 classes (its DLR loss reads the 4th largest logit; APGD-CE runs alone there).
pub fn apgd_targets(classes: i64) -> usize {
    if classes < 4 {
        0
    } else {
        APGD_TARGETS.min(classes as usize - 1)
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    pub examples: usize,
    pub clean_acc: f64,
    /// One robust-accuracy curve per attack, in the spec's order.
    pub curves: Vec<AttackCurve>,
    /// The worst case per threat model that ran: `worst-linf`, then `worst-l2`.
    pub worst_case: Vec<AttackCurve>,
    pub flags: Vec<MaskingFlag>,
    pub settings: AttackSettings,
    /// Images whose clean input gradient is exactly zero.
    pub zero_gradients: usize,
    /// RMS norms of the (uncut) DeepFool perturbations, when DeepFool ran.
    pub deepfool_rms: Option<Distribution>,
    pub seconds: f64,
}

/// Evaluates on `n` images of the test set (`x`, `y`: all of it) drawn by
/// [`subset::stratified`] with `subset_seed`; 0 means every image.
pub fn evaluate_test_set(
    model: Model,
    x: &Tensor,
    y: &Tensor,
    n: usize,
    subset_seed: u64,
    spec: &EvalSpec,
) -> Result<(Report, EvalSubset)> {
    let labels = Vec::<i64>::try_from(&y.to_device(Device::Cpu).to_kind(Kind::Int64))?;
    let idx = subset::stratified(&labels, n, subset_seed);
    let size = idx.len();
    let info = EvalSubset {
        seed: subset_seed,
        size,
        of: labels.len(),
    };
    let report = if size == labels.len() {
        evaluate(model, x, y, spec)?
    } else {
        let idx = Tensor::from_slice(&idx).to_device(y.device());
        evaluate(
            model,
            &x.index_select(0, &idx),
            &y.index_select(0, &idx),
            spec,
        )?
    };
    Ok((report, info))
}

/// Per-example outcomes of one attack over its grid, gathered batch by batch.
struct Tally {
    attack: String,
    grid: Vec<f64>,
    /// `[budget][image]`: classified correctly under the attack at that budget alone.
    correct: Vec<Vec<bool>>,
    /// Whether `correct` is already nested (APGD attacks only the survivors).
    nested: bool,
}

/// Evaluates `model` on images `x` `[N, ...]` in [0, 1] with labels `y` `[N]`. Seeds
/// LibTorch's (process-wide) generator with `spec.seed` first, so the random starts, and with
/// them the whole report, repeat exactly for the same weights and images.
pub fn evaluate(model: Model, x: &Tensor, y: &Tensor, spec: &EvalSpec) -> Result<Report> {
    let t0 = Instant::now();
    tch::manual_seed(spec.seed);
    let n = x.size()[0];
    let mut tallies: Vec<Tally> = spec
        .attacks
        .iter()
        .map(|a| {
            let grid = if is_l2(a) { &spec.deltas } else { &spec.eps };
            Tally {
                attack: a.clone(),
                grid: grid.clone(),
                correct: vec![Vec::with_capacity(n as usize); grid.len()],
                nested: a.starts_with("apgd"),
            }
        })
        .collect();
    let mut clean: Vec<bool> = Vec::with_capacity(n as usize);
    let mut zero_gradients = 0;
    let mut rms = Vec::new();
    let mut classes = 0;
    let mut start = 0;
    while start < n {
        let len = (spec.batch_size as i64).min(n - start);
        let xb = x.narrow(0, start, len).detach();
        let yb = y.narrow(0, start, len);
        let obj = Objective::CrossEntropy(&yb);
        // One forward at x gives the clean predictions and the input gradient (FGSM's
        // direction and the zero-gradient check).
        let (g, z) = attack::input_grad(model, &xb, &obj)?;
        classes = z.size()[1];
        let clean_b = z.argmax(-1, false).eq_tensor(&yb);
        clean.extend(bools(&clean_b)?);
        zero_gradients += g
            .flatten(1, -1)
            .abs()
            .amax([1], false)
            .eq(0.0)
            .sum(Kind::Int64)
            .int64_value(&[]) as usize;
        let correct = |adv: &Tensor| model.logits(adv).argmax(-1, false).eq_tensor(&yb);
        let mut df_x: Option<Tensor> = None;
        for t in &mut tallies {
            match t.attack.as_str() {
                "fgsm" => {
                    let huge = (&xb + g.sign() * FGSM_HUGE_EPS).clamp(0.0, 1.0);
                    for (j, &e) in t.grid.iter().enumerate() {
                        let c = if e == 0.0 {
                            clean_b.shallow_clone()
                        } else {
                            correct(&cutoff::cut_linf(&xb, &huge, &Budget::Scalar(e)))
                        };
                        t.correct[j].extend(bools(&c)?);
                    }
                }
                "pgd" => {
                    let pgd = Pgd {
                        norm: Norm::Linf,
                        steps: spec.pgd_steps,
                        step_size: None,
                        start: Start::Uniform,
                        restarts: spec.pgd_restarts,
                    };
                    for (j, &e) in t.grid.iter().enumerate() {
                        let c = if e == 0.0 {
                            clean_b.shallow_clone()
                        } else {
                            correct(&pgd.run(model, &xb, &obj, &Budget::Scalar(e))?)
                        };
                        t.correct[j].extend(bools(&c)?);
                    }
                }
                "deepfool" => {
                    let adv = match &df_x {
                        Some(a) => a.shallow_clone(),
                        None => {
                            let df = DeepFool {
                                max_iter: spec.deepfool_iters,
                                candidates: EVAL_CANDIDATES,
                                overshoot: EVAL_OVERSHOOT,
                            }
                            .run(model, &xb)?;
                            let norms: Vec<f32> = Vec::try_from(&cutoff::rms(&(&df.x_adv - &xb)))?;
                            rms.extend(norms.into_iter().map(f64::from));
                            df_x = Some(df.x_adv.shallow_clone());
                            df.x_adv
                        }
                    };
                    for (j, &d) in t.grid.iter().enumerate() {
                        let c = if d == 0.0 {
                            clean_b.shallow_clone()
                        } else {
                            correct(&cutoff::cut_l2_rms(&xb, &adv, &Budget::Scalar(d)))
                        };
                        t.correct[j].extend(bools(&c)?);
                    }
                }
                kind => {
                    // APGD: each budget only on the images still robust at the smaller one.
                    let (norm, scale) = if kind == "apgd-l2" {
                        (Norm::L2, (xb.numel() as f64 / len.max(1) as f64).sqrt())
                    } else {
                        (Norm::Linf, 1.0)
                    };
                    let apgd = Apgd {
                        norm,
                        steps: spec.apgd_steps,
                        restarts: spec.apgd_restarts,
                        rho: APGD_RHO,
                        momentum: APGD_MOMENTUM,
                    };
                    let targets = apgd_targets(classes);
                    let mut alive = clean_b.shallow_clone();
                    for (j, &e) in t.grid.iter().enumerate() {
                        if e > 0.0 {
                            let (x, y) = (&xb, &yb);
                            alive =
                                autoattack_lite(model, &apgd, targets, x, y, &alive, e * scale)?;
                        }
                        t.correct[j].extend(bools(&alive)?);
                    }
                }
            }
        }
        start += len;
    }
    let robust: Vec<Vec<Vec<bool>>> = tallies.iter().map(|t| nest(&clean, &t.correct)).collect();
    let curves: Vec<AttackCurve> = tallies
        .iter()
        .zip(&robust)
        .map(|(t, r)| curve(&t.attack, &t.grid, r))
        .collect();
    let mut worst_case = Vec::new();
    for (name, l2, grid) in [
        ("worst-linf", false, &spec.eps),
        ("worst-l2", true, &spec.deltas),
    ] {
        let members: Vec<&Vec<Vec<bool>>> = tallies
            .iter()
            .zip(&robust)
            .filter(|(t, _)| is_l2(&t.attack) == l2)
            .map(|(_, r)| r)
            .collect();
        if !members.is_empty() {
            let all = (0..grid.len())
                .map(|j| {
                    (0..clean.len())
                        .map(|i| members.iter().all(|m| m[j][i]))
                        .collect()
                })
                .collect::<Vec<Vec<bool>>>();
            worst_case.push(curve(name, grid, &all));
        }
    }
    let per_budget: Vec<Option<Vec<f64>>> = tallies
        .iter()
        .map(|t| {
            (!t.nested).then(|| {
                t.correct
                    .iter()
                    .map(|c| {
                        frac(
                            c.iter().zip(&clean).filter(|(a, b)| **a && **b).count(),
                            clean.len(),
                        )
                    })
                    .collect()
            })
        })
        .collect();
    let checks: Vec<flags::CurveCheck> = curves
        .iter()
        .zip(&per_budget)
        .map(|(c, p)| flags::CurveCheck {
            attack: &c.attack,
            grid: &c.grid,
            accuracy: &c.accuracy,
            per_budget: p.as_deref(),
        })
        .collect();
    let flags = flags::check(&checks, zero_gradients, clean.len());
    let deepfool_rms = spec.attacks.iter().any(|a| a == "deepfool").then(|| {
        let hi = spec.deltas.last().copied().unwrap_or(0.0).max(1e-3) * 2.0;
        Distribution::from_values(&rms, 0.0, hi, 20)
    });
    Ok(Report {
        examples: n as usize,
        clean_acc: frac(clean.iter().filter(|c| **c).count(), clean.len()),
        curves,
        worst_case,
        flags,
        settings: spec.settings(classes),
        zero_gradients,
        deepfool_rms,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// APGD-CE, then APGD-T on the images it did not fool, on the images `alive` of the batch;
/// returns which images are still robust `[N]` bool.
fn autoattack_lite(
    model: Model,
    apgd: &Apgd,
    targets: usize,
    x: &Tensor,
    y: &Tensor,
    alive: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let idx = alive.nonzero().squeeze_dim(1);
    let mut out = alive.zeros_like();
    if idx.size()[0] == 0 {
        return Ok(out);
    }
    let (xs, ys) = (x.index_select(0, &idx), y.index_select(0, &idx));
    let mut robust = apgd.ce(model, &xs, &ys, eps)?.robust;
    let left = robust.nonzero().squeeze_dim(1);
    if left.size()[0] > 0 && targets > 0 {
        let (xt, yt) = (xs.index_select(0, &left), ys.index_select(0, &left));
        let t = apgd.targeted(model, &xt, &yt, eps, targets)?.robust;
        let _ = robust.index_copy_(0, &left, &t);
    }
    let _ = out.index_copy_(0, &idx, &robust);
    Ok(out)
}

/// Robust at budget j = correct clean and under the attack at every budget up to j.
fn nest(clean: &[bool], correct: &[Vec<bool>]) -> Vec<Vec<bool>> {
    let mut alive = clean.to_vec();
    correct
        .iter()
        .map(|c| {
            for (a, ok) in alive.iter_mut().zip(c) {
                *a = *a && *ok;
            }
            alive.clone()
        })
        .collect()
}

/// A curve from `[budget][image]` robust flags: accuracy, AUC and the AUC's standard error
/// (the AUC is linear in the accuracies, so it is the mean of every image's own AUC).
fn curve(attack: &str, grid: &[f64], robust: &[Vec<bool>]) -> AttackCurve {
    let n = robust.first().map_or(0, Vec::len);
    let accuracy: Vec<f64> = robust
        .iter()
        .map(|r| frac(r.iter().filter(|b| **b).count(), n))
        .collect();
    let per_image: Vec<f64> = (0..n)
        .map(|i| {
            let v: Vec<f64> = robust.iter().map(|r| f64::from(u8::from(r[i]))).collect();
            stats::auc(grid, &v)
        })
        .collect();
    AttackCurve {
        attack: attack.into(),
        grid: grid.to_vec(),
        auc: stats::auc(grid, &accuracy),
        accuracy,
        auc_se: Some(stats::standard_error(&per_image)),
    }
}

fn frac(k: usize, n: usize) -> f64 {
    k as f64 / n.max(1) as f64
}

fn bools(t: &Tensor) -> Result<Vec<bool>> {
    Ok(Vec::<bool>::try_from(&t.to_device(Device::Cpu))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_keeps_only_images_robust_at_every_smaller_budget() {
        let clean = [true, true, false, true];
        // Image 1 is fooled at budget 1 but "recovers" at 2; image 2 is wrong clean but
        // "repaired" by the attack; image 3 survives throughout.
        let correct = vec![
            vec![true, true, false, true],
            vec![true, false, true, true],
            vec![false, true, true, true],
        ];
        let r = nest(&clean, &correct);
        assert_eq!(r[0], [true, true, false, true]);
        assert_eq!(r[1], [true, false, false, true]);
        assert_eq!(r[2], [false, false, false, true]);
        let c = curve("x", &[0.0, 0.1, 0.3], &r);
        assert_eq!(c.accuracy, [0.75, 0.5, 0.25]);
        // Per image AUCs (grid span 0.3): (0.1·(1 + 1)/2 + 0.2·(1 + 0)/2) / 0.3 = 2/3, then
        // 1/6, 0, 1 -> mean 11/24, which is the AUC of the accuracies.
        assert!((c.auc - 11.0 / 24.0).abs() < 1e-12);
        let per = [2.0 / 3.0, 1.0 / 6.0, 0.0, 1.0];
        assert!((c.auc_se.unwrap() - stats::standard_error(&per)).abs() < 1e-12);
    }

    #[test]
    fn apgd_targets_follow_the_class_count() {
        assert_eq!(apgd_targets(10), 9);
        assert_eq!(apgd_targets(100), 9);
        assert_eq!(apgd_targets(5), 4);
        assert_eq!(apgd_targets(3), 0);
    }
}
