//! The report as text: Markdown (a header saying which images, attacks and counting produced
//! the numbers, a table per sparsity, the overall AER table, the gradient-masking flags) and
//! CSV (one row per cell, one per run).
use std::fmt::Write as _;

use super::estimate::show;
use super::report::{attack_title, budget_for, Report, RunResult};
use super::spec::num;

/// The column titles of a sparsity's Markdown table.
fn header(r: &Report) -> Vec<String> {
    let mut head = vec!["method".to_string(), "runs".into(), "clean".into()];
    for a in r.attacks.iter().chain(&r.worst) {
        let b = budget_for(a, r.eps, r.delta);
        head.push(format!("{}@{}", attack_title(a), num(b)));
    }
    for a in r.attacks.iter().chain(&r.worst) {
        head.push(format!("AUC {}", attack_title(a)));
    }
    head.push(if r.r_is_worst_case() { "R" } else { "AUC mean" }.into());
    head.push("spread".into());
    if r.r_is_worst_case() {
        head.push("flagged".into());
    }
    head
}

/// What the header says about the uncertainty shown.
fn uncertainty_note(r: &Report) -> String {
    match r.seeds.len() {
        0 | 1 => "Each figure is the mean over the cell's runs with, in brackets, a 95 % \
                  interval over the evaluated images (one training seed): Wilson for \
                  accuracies, ± 1.96 standard errors for AUCs and spreads."
            .into(),
        n => format!(
            "Each figure is the mean over the cell's runs ± the sample standard deviation \
             across the {n} training seeds (each seed's value being the mean over its runs); \
             `(n k)` marks a figure that only k seeds have. With {n} seeds a difference smaller \
             than about {:.1} standard deviations is within the seed-to-seed noise (Student's \
             t, 95 %).",
            t975(n - 1) * (2.0 / n as f64).sqrt()
        ),
    }
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (df >= 1).
fn t975(df: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    T.get(df.max(1) - 1).copied().unwrap_or(1.96)
}

/// The report as Markdown; `images` is the folder the SVGs are linked from.
pub fn markdown(r: &Report, images: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### Sweep `{}` (base preset `{}`)\n", r.name, r.base);
    let seeds: Vec<String> = r.seeds.iter().map(|s| s.to_string()).collect();
    let clean_on = match r.test_examples {
        0 => "the whole test set".to_string(),
        n => format!("the whole test set ({n} images)"),
    };
    let images_used = match &r.subset {
        Some(s) if s.size < s.of => format!(
            "{} test images, the same in every run: a class-stratified random draw from the {} \
             with subset seed {}",
            s.size, s.of, s.seed
        ),
        Some(s) => format!("all {} test images", s.of),
        None => format!("the first {} test images", r.eval_examples),
    };
    let _ = writeln!(
        md,
        "{} of {} runs finished, training seeds {}. Clean accuracy is on {clean_on}; robust \
         accuracy and AUC on {images_used}.\n",
        r.finished,
        r.planned,
        seeds.join(", "),
    );
    if let Some(s) = &r.settings {
        let attacks: Vec<&str> = r.attacks.iter().map(String::as_str).collect();
        let lines = crate::eval::view::settings_lines(s, &attacks);
        let _ = writeln!(
            md,
            "Attacks{}: {}.\n",
            if r.uniform_eval {
                ""
            } else {
                " (of the first run; the runs' settings differ)"
            },
            lines.join("; ")
        );
    }
    let _ = writeln!(
        md,
        "Robust columns: at L∞ ε = {} and RMS δ = {}; an image counts as robust only if it is \
         classified correctly clean and under the attack at every budget up to that one. \
         AUC: area under robust accuracy against budget divided by the budget range.{} \
         Spread: max − min of {} over the pruning processes, per seed.\n",
        num(r.eps),
        num(r.delta),
        if r.r_is_worst_case() {
            " Worst L∞ / worst L2: an image counts only if it survives every attack of that \
             threat model. **R** = the worst-case AUC (the mean over the threat models of its \
             worst case's AUC). Flagged: runs with a gradient-masking flag (listed below)."
        } else {
            " R = the mean of the attacks' AUCs (these runs recorded no worst case)."
        },
        if r.r_is_worst_case() {
            "R"
        } else {
            "the AUC mean"
        },
    );
    let _ = writeln!(md, "{}\n", uncertainty_note(r));
    let n_seeds = r.seeds.len();
    for s in r.sparsities() {
        let _ = writeln!(md, "**Sparsity {}**\n", num(s));
        let head = header(r);
        let _ = writeln!(md, "| {} |", head.join(" | "));
        let _ = writeln!(md, "|{}", " --- |".repeat(head.len()));
        for c in r.cells.iter().filter(|c| c.sparsity == s) {
            let mut row = vec![
                c.method.clone(),
                c.runs.to_string(),
                show(Some(&c.clean_est), n_seeds),
            ];
            for a in r.attacks.iter().chain(&r.worst) {
                row.push(show(c.robust_est.get(a), n_seeds));
            }
            for a in r.attacks.iter().chain(&r.worst) {
                row.push(show(c.auc_est.get(a), n_seeds));
            }
            row.push(show(Some(&c.r_est), n_seeds));
            row.push(show(c.spread_est.as_ref(), n_seeds));
            if r.r_is_worst_case() {
                row.push(format!("{} of {}", c.flagged, c.runs));
            }
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "**Overall (AER)**: A = mean clean accuracy, R = mean {}, S = mean spread, each \
         averaged over the sparsities the method has.\n",
        if r.r_is_worst_case() {
            "worst-case AUC"
        } else {
            "AUC"
        }
    );
    let _ = writeln!(
        md,
        "| method | sparsities | A | R | S |\n| --- | --- | --- | --- | --- |"
    );
    for o in &r.overall {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            o.method,
            o.sparsities,
            show(Some(&o.a_est), n_seeds),
            show(Some(&o.r_est), n_seeds),
            show(o.s_est.as_ref(), n_seeds)
        );
    }
    md.push('\n');
    if r.r_is_worst_case() {
        if r.flags.is_empty() {
            let _ = writeln!(md, "Gradient-masking flags: none.\n");
        } else {
            let _ = writeln!(md, "Gradient-masking flags (per method and check):\n");
            for f in &r.flags {
                let _ = writeln!(
                    md,
                    "- {}: `{}` in {} of {} runs, e.g. `{}`: {}",
                    f.method, f.check, f.runs, f.of, f.example.0, f.example.1
                );
            }
            md.push('\n');
        }
    }
    let sep = if images.is_empty() || images.ends_with('/') {
        ""
    } else {
        "/"
    };
    let _ = writeln!(md, "![AUC vs sparsity]({images}{sep}auc-vs-sparsity.svg)\n");
    for s in r.sparsities() {
        let _ = writeln!(
            md,
            "![robustness at sparsity {}]({images}{sep}robustness-s{}.svg)",
            num(s),
            num(s)
        );
    }
    md
}

/// One CSV row per cell (report.csv) and one per run (runs.csv). report.csv's first columns
/// are those of reports before worst cases; the worst cases, R and the standard deviations
/// across seeds follow.
pub fn csv(r: &Report, results: &[RunResult]) -> (String, String) {
    let mut cells = String::from("sparsity,method,runs,clean_acc");
    for a in &r.attacks {
        let _ = write!(cells, ",{a}_at_budget");
    }
    for a in &r.attacks {
        let _ = write!(cells, ",auc_{a}");
    }
    cells.push_str(",auc_mean,auc_spread");
    for w in &r.worst {
        let _ = write!(cells, ",{w}_at_budget,auc_{w}");
    }
    cells.push_str(",r,seeds,clean_acc_sd,r_sd,spread_sd,flagged_runs\n");
    let o = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for c in &r.cells {
        let _ = write!(
            cells,
            "{},{},{},{}",
            c.sparsity, c.method, c.runs, c.clean_acc
        );
        for a in &r.attacks {
            let _ = write!(cells, ",{}", o(c.robust.get(a).copied().flatten()));
        }
        for a in &r.attacks {
            let _ = write!(cells, ",{}", o(c.auc.get(a).copied()));
        }
        let _ = write!(cells, ",{},{}", c.auc_mean, o(c.spread));
        for w in &r.worst {
            let _ = write!(
                cells,
                ",{},{}",
                o(c.robust.get(w).copied().flatten()),
                o(c.auc.get(w).copied())
            );
        }
        let _ = writeln!(
            cells,
            ",{},{},{},{},{},{}",
            c.r,
            c.r_est.seeds(),
            o(c.clean_est.sd()),
            o(c.r_est.sd()),
            o(c.spread_est.as_ref().and_then(|e| e.sd())),
            c.flagged
        );
    }
    let mut runs = String::from("id,method,mode,sparsity,process,seed,clean_acc");
    for a in r.attacks.iter().chain(&r.worst) {
        let _ = write!(runs, ",auc_{a},auc_se_{a}");
    }
    runs.push_str(",r,eval_images,subset_seed,flags\n");
    for res in results {
        let x = &res.run;
        let _ = write!(
            runs,
            "{},{},{},{},{},{},{}",
            x.id, x.method, x.mode, x.sparsity, x.process, x.seed, res.clean_acc
        );
        for a in r.attacks.iter().chain(&r.worst) {
            let c = res.curve(a);
            let _ = write!(
                runs,
                ",{},{}",
                o(c.map(|c| c.auc)),
                o(c.and_then(|c| c.auc_se))
            );
        }
        let checks: Vec<&str> = res.flags.iter().map(|f| f.check.as_str()).collect();
        let _ = writeln!(
            runs,
            ",{},{},{},{}",
            res.r().value,
            res.eval_examples,
            o(res.subset.as_ref().map(|s| s.seed as f64)),
            checks.join(";")
        );
    }
    (cells, runs)
}
