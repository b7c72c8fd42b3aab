//! Gradient-masking checks: signs that an evaluation's gradient attacks were misled, so its
//! robust accuracies overstate the model (Athalye et al. 2018; AutoAttack's `checks.py` warns on
//! the same kind of evidence). Each check that fires becomes a flag naming the check and its
//! numbers:
//!
//! - `fgsm_above_pgd` (or `fgsm_above_apgd`): one signed-gradient step leaves more than
//!   3 points more accuracy than the iterative attack at the same ε. An iterative attack
//!   starts where FGSM does and keeps climbing, so on an honest gradient it is never much
//!   weaker.
//! - `accuracy_rises`: an attack's per-budget accuracy (each budget attacked on its own, before
//!   the nesting of the reported curve) is more than 1 point above its accuracy at a smaller
//!   budget: a larger ball holds every point of the smaller one, so a rise means the attack
//!   missed points it could reach.
//! - `zero_gradients`: more than 1 % of the images have an input gradient of exactly zero
//!   (saturated softmax, dead units): gradient attacks cannot move them.
use crate::events::MaskingFlag;

/// Points (accuracy difference) above which FGSM beating an iterative attack is flagged.
pub const FGSM_MARGIN: f64 = 0.03;
/// Points by which per-budget accuracy may rise with the budget before it is flagged.
pub const RISE_MARGIN: f64 = 0.01;
/// Fraction of images with a zero input gradient above which it is flagged.
pub const ZERO_GRADIENT_FRACTION: f64 = 0.01;

/// What the checks read of one attack.
pub struct CurveCheck<'a> {
    pub attack: &'a str,
    pub grid: &'a [f64],
    /// The reported (nested) robust accuracy.
    pub accuracy: &'a [f64],
    /// Robust accuracy with each budget attacked on its own; None where the attack is nested
    /// by construction (APGD only attacks the images that survived the smaller budget).
    pub per_budget: Option<&'a [f64]>,
}

pub fn check(curves: &[CurveCheck], zero_gradients: usize, examples: usize) -> Vec<MaskingFlag> {
    let mut out = Vec::new();
    let find = |name: &str| curves.iter().find(|c| c.attack == name);
    if let Some(f) = find("fgsm") {
        for other in ["pgd", "apgd"] {
            if let Some(o) = find(other) {
                out.extend(fgsm_above(f, o));
            }
        }
    }
    for c in curves {
        if let Some(per) = c.per_budget {
            out.extend(rises(c, per));
        }
    }
    if examples > 0 {
        let frac = zero_gradients as f64 / examples as f64;
        if frac > ZERO_GRADIENT_FRACTION {
            out.push(MaskingFlag {
                check: "zero_gradients".into(),
                message: format!(
                    "zero input gradient on {:.1} % of the images ({zero_gradients} of \
                     {examples}; more than {:.0} %)",
                    100.0 * frac,
                    100.0 * ZERO_GRADIENT_FRACTION
                ),
            });
        }
    }
    out
}

fn fgsm_above(f: &CurveCheck, o: &CurveCheck) -> Option<MaskingFlag> {
    // (gap, ε, FGSM, other) at every ε both curves have where the gap exceeds the margin.
    let mut hits: Vec<(f64, f64, f64, f64)> = Vec::new();
    for (i, e) in f.grid.iter().enumerate() {
        if let Some(j) = o.grid.iter().position(|g| g == e) {
            let gap = f.accuracy[i] - o.accuracy[j];
            if gap > FGSM_MARGIN + 1e-12 {
                hits.push((gap, *e, f.accuracy[i], o.accuracy[j]));
            }
        }
    }
    let worst = hits.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0))?;
    let others: Vec<String> = hits
        .iter()
        .filter(|h| h.1 != worst.1)
        .map(|h| format!("{}", h.1))
        .collect();
    let name = o.attack.to_uppercase();
    Some(MaskingFlag {
        check: format!("fgsm_above_{}", o.attack),
        message: format!(
            "FGSM accuracy {:.3} is {:.1} points above {name}'s {:.3} at ε {} (more than {:.0}){}",
            worst.2,
            100.0 * worst.0,
            worst.3,
            worst.1,
            100.0 * FGSM_MARGIN,
            if others.is_empty() {
                String::new()
            } else {
                format!("; also at ε {}", others.join(", "))
            }
        ),
    })
}

fn rises(c: &CurveCheck, per: &[f64]) -> Option<MaskingFlag> {
    // The largest rise over the lowest accuracy at any smaller budget.
    let mut best: Option<(f64, usize, usize)> = None;
    let mut low = 0;
    for j in 1..per.len().min(c.grid.len()) {
        if per[j - 1] < per[low] {
            low = j - 1;
        }
        let rise = per[j] - per[low];
        if rise > RISE_MARGIN + 1e-12 && best.is_none_or(|b| rise > b.0) {
            best = Some((rise, low, j));
        }
    }
    let (rise, lo, hi) = best?;
    let unit = if matches!(c.attack, "deepfool" | "apgd-l2") {
        "δ"
    } else {
        "ε"
    };
    Some(MaskingFlag {
        check: "accuracy_rises".into(),
        message: format!(
            "{} accuracy rises with the budget: {:.3} at {unit} {} but {:.3} at {unit} {} \
             (+{:.1} points, more than {:.0}; each budget attacked on its own)",
            label(c.attack),
            per[lo],
            c.grid[lo],
            per[hi],
            c.grid[hi],
            100.0 * rise,
            100.0 * RISE_MARGIN
        ),
    })
}

/// An attack's name for people.
pub fn label(attack: &str) -> String {
    match attack {
        "fgsm" => "FGSM".into(),
        "pgd" => "PGD".into(),
        "apgd" => "APGD".into(),
        "deepfool" => "DeepFool-cut".into(),
        "apgd-l2" => "APGD-L2".into(),
        "worst-linf" => "worst L∞".into(),
        "worst-l2" => "worst L2".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve<'a>(
        attack: &'a str,
        grid: &'a [f64],
        acc: &'a [f64],
        per: Option<&'a [f64]>,
    ) -> CurveCheck<'a> {
        CurveCheck {
            attack,
            grid,
            accuracy: acc,
            per_budget: per,
        }
    }

    #[test]
    fn catastrophic_overfitting_fires_every_check() {
        // FGSM per budget rises from 0.5 at ε 0.1 to 0.8 at ε 0.3 (reported nested: 0.5),
        // PGD collapses: both the FGSM-above-PGD and the rise checks fire.
        let grid = [0.0, 0.1, 0.2, 0.3];
        let fgsm_per = [0.95, 0.5, 0.6, 0.8];
        let fgsm = [0.95, 0.5, 0.45, 0.45];
        let pgd = [0.95, 0.4, 0.1, 0.02];
        let flags = check(
            &[
                curve("fgsm", &grid, &fgsm, Some(&fgsm_per)),
                curve("pgd", &grid, &pgd, Some(&pgd)),
            ],
            4,
            100,
        );
        let checks: Vec<&str> = flags.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(
            checks,
            ["fgsm_above_pgd", "accuracy_rises", "zero_gradients"]
        );
        assert_eq!(
            flags[0].message,
            "FGSM accuracy 0.450 is 43.0 points above PGD's 0.020 at ε 0.3 (more than 3); \
             also at ε 0.1, 0.2"
        );
        assert_eq!(
            flags[1].message,
            "FGSM accuracy rises with the budget: 0.500 at ε 0.1 but 0.800 at ε 0.3 \
             (+30.0 points, more than 1; each budget attacked on its own)"
        );
        assert_eq!(
            flags[2].message,
            "zero input gradient on 4.0 % of the images (4 of 100; more than 1 %)"
        );
    }

    #[test]
    fn an_honest_evaluation_raises_nothing() {
        let grid = [0.0, 0.1, 0.2];
        // FGSM exactly 3 points above PGD is within the margin; a 1-point wobble too.
        let fgsm = [0.9, 0.63, 0.3];
        let pgd_per = [0.9, 0.60, 0.61];
        let pgd = [0.9, 0.60, 0.60];
        let flags = check(
            &[
                curve("fgsm", &grid, &fgsm, Some(&fgsm)),
                curve("pgd", &grid, &pgd, Some(&pgd_per)),
                curve("apgd", &grid, &pgd, None),
            ],
            1,
            100,
        );
        assert!(flags.is_empty(), "{flags:?}");
    }
}
