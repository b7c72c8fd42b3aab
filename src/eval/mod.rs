//! Robustness evaluation (docs/algorithm.md §4.4): accuracy of a model on test images under
//! FGSM and PGD (L-inf) over an ε grid and under DeepFool cut to RMS <= δ over a δ grid, with
//! the clean accuracy and one AUC per curve.
//!
//! - FGSM is run once with a huge ε (every pixel saturates to 0 or 1 along the gradient sign)
//!   and then cut to [-ε, ε]: exactly FGSM(ε) with [0, 1] clipping, for every ε from one
//!   gradient (a test checks the equality).
//! - PGD runs separately per ε: `pgd_steps` steps of 2.5 ε / steps from a uniform random start.
//! - DeepFool runs once (`deepfool_iters` iterations, 10 candidates, overshoot 0.02: the
//!   authors' evaluation settings) and its perturbation is cut for each δ.
//! - ε = 0 and δ = 0 leave the images unchanged, so those points are the clean accuracy.
pub mod cli;
pub mod stats;

use std::time::Instant;

use anyhow::{bail, Result};
use tch::Tensor;

use crate::attack::{self, cutoff, Budget, DeepFool, Model, Norm, Objective, Pgd, Start};
use crate::config::preset::Preset;
use crate::events::{AttackCurve, Distribution};

/// FGSM's "huge" ε for the one-gradient curve (any value >= 1 saturates every pixel).
const FGSM_HUGE_EPS: f64 = 100.0;
/// DeepFool candidates and overshoot of the evaluation (fixed, so curves compare across runs
/// whatever the training settings were).
pub const EVAL_CANDIDATES: usize = 10;
pub const EVAL_OVERSHOOT: f64 = 0.02;

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSpec {
    /// Any of `fgsm`, `pgd`, `deepfool`, in the order the curves are reported.
    pub attacks: Vec<String>,
    /// L-inf ε grid of FGSM and PGD (sorted, duplicates removed).
    pub eps: Vec<f64>,
    /// RMS δ grid of the DeepFool-cut curve (sorted, duplicates removed).
    pub deltas: Vec<f64>,
    pub pgd_steps: usize,
    pub deepfool_iters: usize,
    pub batch_size: usize,
    /// Seed of PGD's random starts, so an evaluation repeats exactly.
    pub seed: i64,
}

impl EvalSpec {
    pub fn from_preset(p: &Preset) -> Result<EvalSpec> {
        EvalSpec {
            attacks: p.eval.attacks.clone(),
            eps: p.eval.eps.clone(),
            deltas: p.eval.deltas.clone(),
            pgd_steps: p.eval.pgd_steps,
            deepfool_iters: p.eval.deepfool_iters,
            batch_size: p.eval.batch_size,
            seed: p.train.seed as i64,
        }
        .checked()
    }

    /// Validates the spec and sorts its grids (AUC needs ascending grids).
    pub fn checked(mut self) -> Result<EvalSpec> {
        for a in &self.attacks {
            if !crate::config::preset::ATTACKS.contains(&a.as_str()) {
                bail!("unknown attack {a:?}; known: fgsm, pgd, deepfool");
            }
        }
        for (name, grid) in [("eps", &mut self.eps), ("deltas", &mut self.deltas)] {
            if grid.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                bail!("every value of the {name} grid must be finite and >= 0: {grid:?}");
            }
            grid.sort_by(f64::total_cmp);
            grid.dedup();
        }
        if self.batch_size == 0 || self.pgd_steps == 0 || self.deepfool_iters == 0 {
            bail!("batch size, PGD steps and DeepFool iterations must be at least 1");
        }
        Ok(self)
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    pub examples: usize,
    pub clean_acc: f64,
    pub curves: Vec<AttackCurve>,
    /// RMS norms of the (uncut) DeepFool perturbations, when DeepFool ran.
    pub deepfool_rms: Option<Distribution>,
    pub seconds: f64,
}

/// Evaluates `model` on images `x` `[N, ...]` in [0, 1] with labels `y` `[N]`. Seeds
/// LibTorch's (process-wide) generator with `spec.seed` first, so PGD's random starts, and
/// with them the whole report, repeat exactly for the same weights and images.
pub fn evaluate(model: Model, x: &Tensor, y: &Tensor, spec: &EvalSpec) -> Result<Report> {
    let t0 = Instant::now();
    tch::manual_seed(spec.seed);
    let n = x.size()[0];
    let has = |a: &str| spec.attacks.iter().any(|s| s == a);
    let mut clean = 0i64;
    let mut fgsm = vec![0i64; spec.eps.len()];
    let mut pgd = vec![0i64; spec.eps.len()];
    let mut deepfool = vec![0i64; spec.deltas.len()];
    let mut rms = Vec::new();
    let mut start = 0;
    while start < n {
        let len = (spec.batch_size as i64).min(n - start);
        let xb = x.narrow(0, start, len).detach();
        let yb = y.narrow(0, start, len);
        let count = |adv: &Tensor| attack::correct(&tch::no_grad(|| model(adv)), &yb);
        let clean_b = count(&xb);
        clean += clean_b;
        let obj = Objective::CrossEntropy(&yb);
        if has("fgsm") {
            let huge = attack::fgsm(model, &xb, &obj, &Budget::Scalar(FGSM_HUGE_EPS))?;
            for (i, &e) in spec.eps.iter().enumerate() {
                fgsm[i] += if e == 0.0 {
                    clean_b
                } else {
                    count(&cutoff::cut_linf(&xb, &huge, &Budget::Scalar(e)))
                };
            }
        }
        if has("pgd") {
            let pgd_attack = Pgd {
                norm: Norm::Linf,
                steps: spec.pgd_steps,
                step_size: None,
                start: Start::Uniform,
                restarts: 1,
            };
            for (i, &e) in spec.eps.iter().enumerate() {
                pgd[i] += if e == 0.0 {
                    clean_b
                } else {
                    count(&pgd_attack.run(model, &xb, &obj, &Budget::Scalar(e))?)
                };
            }
        }
        if has("deepfool") {
            let df = DeepFool {
                max_iter: spec.deepfool_iters,
                candidates: EVAL_CANDIDATES,
                overshoot: EVAL_OVERSHOOT,
            }
            .run(model, &xb)?;
            let norms: Vec<f32> = Vec::try_from(&cutoff::rms(&(&df.x_adv - &xb)))?;
            rms.extend(norms.into_iter().map(f64::from));
            for (i, &d) in spec.deltas.iter().enumerate() {
                deepfool[i] += if d == 0.0 {
                    clean_b
                } else {
                    count(&cutoff::cut_l2_rms(&xb, &df.x_adv, &Budget::Scalar(d)))
                };
            }
        }
        start += len;
    }
    let frac = |c: i64| c as f64 / n.max(1) as f64;
    let curve = |name: &str, grid: &[f64], counts: &[i64]| {
        let accuracy: Vec<f64> = counts.iter().map(|&c| frac(c)).collect();
        AttackCurve {
            attack: name.into(),
            grid: grid.to_vec(),
            auc: stats::auc(grid, &accuracy),
            accuracy,
        }
    };
    let curves = spec
        .attacks
        .iter()
        .map(|a| match a.as_str() {
            "fgsm" => curve(a, &spec.eps, &fgsm),
            "pgd" => curve(a, &spec.eps, &pgd),
            _ => curve(a, &spec.deltas, &deepfool),
        })
        .collect();
    let deepfool_rms = has("deepfool").then(|| {
        let hi = spec.deltas.last().copied().unwrap_or(0.0).max(1e-3) * 2.0;
        Distribution::from_values(&rms, 0.0, hi, 20)
    });
    Ok(Report {
        examples: n as usize,
        clean_acc: frac(clean),
        curves,
        deepfool_rms,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
