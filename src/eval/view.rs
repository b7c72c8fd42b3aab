//! What a robustness table shows, as plain data: one table per threat model (rows = budgets,
//! columns = the attacks then the worst case), every accuracy with its 95 % Wilson interval,
//! every AUC with its interval, the flags as text, and which images and settings produced
//! them. `bapw eval` prints it; the workbench's Robustness pane can draw the same rows.
use super::flags::label;
use super::stats::{wilson_acc, Z95};
use super::{is_l2, ATTACKS};
use crate::events::{AttackCurve, AttackSettings, Eval, EvalSubset, Event, MaskingFlag};

/// An accuracy and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The attack's id (`fgsm`, ..., `worst-linf`) and its name for people.
    pub attack: String,
    pub label: String,
    /// The worst case over the table's attacks.
    pub worst: bool,
    /// One cell per row of the table (None where the attack has no such budget).
    pub cells: Vec<Option<Point>>,
    /// AUC with AUC ± 1.96 standard errors (no interval in logs that lack the error).
    pub auc: Point,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `L∞ ε` or `RMS δ`.
    pub unit: &'static str,
    /// The budgets, one per row.
    pub grid: Vec<f64>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalView {
    pub examples: usize,
    pub clean: Point,
    pub tables: Vec<Table>,
    /// One line per gradient-masking flag (empty: none fired).
    pub flags: Vec<String>,
    /// Which images, e.g. `300 test images of 10000: class-stratified random subset, seed 0`.
    pub sample: String,
    /// One line per attack that ran, with its settings (empty in logs that lack them).
    pub settings: Vec<String>,
}

/// The view of an `eval` event; None for other events.
pub fn from_event(ev: &Event) -> Option<EvalView> {
    match ev {
        Event::Eval(e) => Some(from_eval(e)),
        _ => None,
    }
}

/// The view of an evaluation as recorded.
pub fn from_eval(e: &Eval) -> EvalView {
    view(&Parts {
        examples: e.examples,
        clean_acc: e.clean_acc,
        curves: &e.curves,
        worst_case: &e.worst_case,
        flags: &e.flags,
        subset: e.subset.as_ref(),
        settings: e.settings.as_ref(),
    })
}

/// Everything an evaluation records, borrowed from an event or a report.
pub struct Parts<'a> {
    pub examples: usize,
    pub clean_acc: f64,
    pub curves: &'a [AttackCurve],
    pub worst_case: &'a [AttackCurve],
    pub flags: &'a [MaskingFlag],
    pub subset: Option<&'a EvalSubset>,
    pub settings: Option<&'a AttackSettings>,
}

pub fn view(p: &Parts) -> EvalView {
    let n = p.examples;
    let point = |v: f64| {
        let (lo, hi) = wilson_acc(v, n);
        Point { value: v, lo, hi }
    };
    let mut tables = Vec::new();
    for l2 in [false, true] {
        let cols: Vec<(&AttackCurve, bool)> = p
            .curves
            .iter()
            .map(|c| (c, false))
            .chain(p.worst_case.iter().map(|c| (c, true)))
            .filter(|(c, _)| is_l2(&c.attack) == l2)
            .collect();
        if cols.is_empty() {
            continue;
        }
        let mut grid: Vec<f64> = cols.iter().flat_map(|(c, _)| c.grid.clone()).collect();
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let columns = cols
            .iter()
            .map(|(c, worst)| Column {
                attack: c.attack.clone(),
                label: label(&c.attack),
                worst: *worst,
                cells: grid
                    .iter()
                    .map(|g| {
                        c.grid
                            .iter()
                            .position(|x| x == g)
                            .and_then(|i| c.accuracy.get(i))
                            .map(|a| point(*a))
                    })
                    .collect(),
                auc: auc_point(c),
            })
            .collect();
        tables.push(Table {
            unit: if l2 { "RMS δ" } else { "L∞ ε" },
            grid,
            columns,
        });
    }
    let attacks: Vec<&str> = p.curves.iter().map(|c| c.attack.as_str()).collect();
    EvalView {
        examples: n,
        clean: point(p.clean_acc),
        tables,
        flags: p
            .flags
            .iter()
            .map(|f| format!("{}: {}", f.check, f.message))
            .collect(),
        sample: match p.subset {
            Some(s) if s.size < s.of => format!(
                "{} test images of {}: class-stratified random subset, seed {}",
                s.size, s.of, s.seed
            ),
            Some(s) => format!("{} test images (all)", s.of),
            None => format!("the first {n} test images (logged before subsets were drawn)"),
        },
        settings: p
            .settings
            .map(|s| settings_lines(s, &attacks))
            .unwrap_or_default(),
    }
}

fn auc_point(c: &AttackCurve) -> Point {
    match c.auc_se {
        Some(se) => Point {
            value: c.auc,
            lo: (c.auc - Z95 * se).max(0.0),
            hi: (c.auc + Z95 * se).min(1.0),
        },
        None => Point {
            value: c.auc,
            lo: c.auc,
            hi: c.auc,
        },
    }
}

/// One line per attack that ran, in [`ATTACKS`] order.
pub fn settings_lines(s: &AttackSettings, attacks: &[&str]) -> Vec<String> {
    let apgd = |norm: &str| {
        let t = if s.apgd_targets > 0 {
            format!(
                ", then APGD-T (targeted DLR, {} target classes) on the images it did not fool",
                s.apgd_targets
            )
        } else {
            " (APGD-T needs 4 classes: not run)".into()
        };
        format!(
            "APGD-CE{t}; {} steps, {} restart(s) each, ρ {}, momentum {}, {norm}; \
             AutoAttack-lite: FAB-T and Square are not included",
            s.apgd_steps, s.apgd_restarts, s.apgd_rho, s.apgd_momentum
        )
    };
    ATTACKS
        .iter()
        .filter(|a| attacks.contains(a))
        .map(|a| {
            let what = match *a {
                "fgsm" => "one signed-gradient step of ε on the labels' cross-entropy".into(),
                "pgd" => format!(
                    "{} steps of {} ε / {}, uniform random start, {} restart(s), seed {}",
                    s.pgd_steps, s.pgd_step_factor, s.pgd_steps, s.pgd_restarts, s.seed
                ),
                "apgd" => apgd("L∞ radius ε"),
                "apgd-l2" => apgd("L2 radius δ·√D"),
                _ => format!(
                    "{} iterations, {} candidate classes, overshoot {}, perturbation cut to \
                     RMS δ",
                    s.deepfool_iters, s.deepfool_candidates, s.deepfool_overshoot
                ),
            };
            format!("{a}: {what}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(attack: &str, grid: &[f64], acc: &[f64], se: Option<f64>) -> AttackCurve {
        AttackCurve {
            attack: attack.into(),
            grid: grid.to_vec(),
            accuracy: acc.to_vec(),
            auc: super::super::stats::auc(grid, acc),
            auc_se: se,
        }
    }

    #[test]
    fn rows_per_threat_model_with_intervals_and_flags() {
        let eps = [0.0, 0.1, 0.3];
        let deltas = [0.0, 0.1];
        let curves = vec![
            curve("fgsm", &eps, &[0.8, 0.6, 0.4], Some(0.02)),
            curve("deepfool", &deltas, &[0.8, 0.3], Some(0.03)),
            curve("pgd", &eps, &[0.8, 0.5, 0.1], Some(0.02)),
        ];
        let worst = vec![
            curve("worst-linf", &eps, &[0.8, 0.5, 0.1], Some(0.02)),
            curve("worst-l2", &deltas, &[0.8, 0.3], Some(0.03)),
        ];
        let flags = vec![MaskingFlag {
            check: "fgsm_above_pgd".into(),
            message: "FGSM accuracy 0.400 is 30.0 points above PGD's 0.100 at ε 0.3".into(),
        }];
        let subset = EvalSubset {
            seed: 4,
            size: 10,
            of: 10_000,
        };
        let v = view(&Parts {
            examples: 10,
            clean_acc: 0.8,
            curves: &curves,
            worst_case: &worst,
            flags: &flags,
            subset: Some(&subset),
            settings: None,
        });
        assert_eq!(v.tables.len(), 2);
        let linf = &v.tables[0];
        assert_eq!(linf.unit, "L∞ ε");
        assert_eq!(linf.grid, eps);
        let names: Vec<&str> = linf.columns.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(names, ["FGSM", "PGD", "worst L∞"]);
        assert!(linf.columns[2].worst && !linf.columns[0].worst);
        // 6 of 10: Wilson [0.3127, 0.8318].
        let p = linf.columns[0].cells[1].unwrap();
        assert_eq!(p.value, 0.6);
        assert!(
            (p.lo - 0.312_673).abs() < 1e-5 && (p.hi - 0.831_820).abs() < 1e-5,
            "{p:?}"
        );
        let auc = linf.columns[0].auc;
        assert!((auc.hi - auc.lo - 2.0 * Z95 * 0.02).abs() < 1e-12);
        let l2 = &v.tables[1];
        assert_eq!(l2.unit, "RMS δ");
        let names: Vec<&str> = l2.columns.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(names, ["DeepFool-cut", "worst L2"]);
        assert_eq!(v.clean.value, 0.8);
        assert_eq!(
            v.flags,
            ["fgsm_above_pgd: FGSM accuracy 0.400 is 30.0 points above PGD's 0.100 at ε 0.3"]
        );
        assert_eq!(
            v.sample,
            "10 test images of 10000: class-stratified random subset, seed 4"
        );
    }

    #[test]
    fn old_events_without_the_new_fields_still_make_a_view() {
        let line = r#"{"kind":"eval","step":5,"epoch":1,"examples":200,"clean_acc":0.9,"curves":[{"attack":"pgd","grid":[0.0,0.1],"accuracy":[0.9,0.5],"auc":0.7}],"seconds":2.0}"#;
        let ev: Event = serde_json::from_str(line).unwrap();
        let v = from_event(&ev).unwrap();
        assert_eq!(v.tables.len(), 1);
        let auc = v.tables[0].columns[0].auc;
        assert_eq!((auc.value, auc.lo, auc.hi), (0.7, 0.7, 0.7));
        assert!(v.flags.is_empty() && v.settings.is_empty());
        assert_eq!(
            v.sample,
            "the first 200 test images (logged before subsets were drawn)"
        );
    }
}
