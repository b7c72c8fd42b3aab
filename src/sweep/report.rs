//! A sweep's runs aggregated into the accuracy-efficiency-robustness (AER) comparison: one
//! table per sparsity and an overall table, as Markdown and CSV text (`publish` writes them,
//! with the plots, to files). Everything is computed from the runs' `events.jsonl`, so a
//! report can be rebuilt at any time.
use crate::events::{AttackCurve, EpochEnd, Eval, Event, Finished};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::folder::{run_dir, status_of, Plan, RunStatus};
use super::spec::{distinct_sorted, num, PlannedRun};

/// What one finished run contributes.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub run: PlannedRun,
    /// Accuracy on the whole test set at the end.
    pub clean_acc: f64,
    /// The last robustness evaluation.
    pub curves: Vec<AttackCurve>,
    /// Images the robustness evaluation used.
    pub eval_examples: usize,
}

/// Reads the finished runs of a sweep; unfinished ones are counted, not used.
pub fn collect(sweep_dir: &Path, plan: &Plan) -> Result<Vec<RunResult>> {
    let mut out = Vec::new();
    for r in &plan.runs {
        let dir = run_dir(sweep_dir, &r.id);
        // One read of the log serves both the state and the numbers.
        let Ok(run) = crate::run::RunDir::open(&dir) else {
            continue;
        };
        let Ok(events) = run.read_events() else {
            continue;
        };
        let row = crate::run::list::summarize_events(&run, &events);
        if status_of(&dir, &row.state) != RunStatus::Finished {
            continue;
        }
        out.extend(result_of(r, &events));
    }
    Ok(out)
}

/// The final clean accuracy and last evaluation of one run's events.
pub fn result_of(run: &PlannedRun, events: &[Event]) -> Option<RunResult> {
    let mut clean = None;
    let mut curves = None;
    for ev in events {
        match ev {
            Event::EpochEnd(EpochEnd { test_acc, .. }) => clean = Some(*test_acc),
            Event::Eval(Eval {
                curves: c,
                examples,
                ..
            }) if !c.is_empty() => curves = Some((c.clone(), *examples)),
            Event::Finished(Finished { test_acc, .. }) if test_acc.is_finite() => {
                clean = Some(*test_acc)
            }
            _ => {}
        }
    }
    let (curves, eval_examples) = curves?;
    Some(RunResult {
        run: run.clone(),
        clean_acc: clean?,
        curves,
        eval_examples,
    })
}

/// One (sparsity, method) cell: means over its processes and seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub sparsity: f64,
    pub method: String,
    pub runs: usize,
    pub clean_acc: f64,
    /// Per attack: mean accuracy at the report's budget (None when off the grid).
    pub robust: BTreeMap<String, Option<f64>>,
    /// Per attack: mean AUC.
    pub auc: BTreeMap<String, f64>,
    /// Mean over attacks of the mean AUC: the robustness figure R.
    pub auc_mean: f64,
    /// Max minus min, over pruning processes, of the per-process AUC mean (seeds averaged
    /// first). None with fewer than two processes.
    pub spread: Option<f64>,
    /// Per attack: the budget grid and the mean accuracy curve.
    pub curves: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
}

/// Per method, over the sparsity grid: the AER figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    pub method: String,
    pub sparsities: usize,
    /// A: mean clean accuracy.
    pub accuracy: f64,
    /// R: mean AUC (over attacks).
    pub robustness: f64,
    /// S: mean spread of AUC across pruning processes (lower is more stable).
    pub instability: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub base: String,
    pub planned: usize,
    pub finished: usize,
    pub eps: f64,
    pub delta: f64,
    pub eval_examples: usize,
    pub attacks: Vec<String>,
    pub cells: Vec<Cell>,
    pub overall: Vec<Overall>,
}

impl Report {
    /// The sparsities that have results, ascending.
    pub fn sparsities(&self) -> Vec<f64> {
        distinct_sorted(self.cells.iter().map(|c| c.sparsity))
    }
}

fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = v
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Accuracy at budget `b` on a curve, interpolating linearly between grid points.
pub fn accuracy_at(grid: &[f64], acc: &[f64], b: f64) -> Option<f64> {
    let i = grid.iter().position(|&g| (g - b).abs() < 1e-9);
    if let Some(i) = i {
        return acc.get(i).copied();
    }
    grid.windows(2).zip(acc.windows(2)).find_map(|(g, a)| {
        (g[0] < b && b < g[1]).then(|| a[0] + (a[1] - a[0]) * (b - g[0]) / (g[1] - g[0]))
    })
}

fn budget_for(attack: &str, eps: f64, delta: f64) -> f64 {
    if attack == "deepfool" {
        delta
    } else {
        eps
    }
}

/// Groups the results into cells and the overall table. Methods keep the plan's order,
/// sparsities go up, attacks are fgsm, pgd, deepfool as present.
pub fn aggregate(plan: &Plan, results: &[RunResult]) -> Report {
    let (eps, delta) = (plan.report.eps, plan.report.delta);
    let mut methods: Vec<String> = Vec::new();
    for r in &plan.runs {
        if !methods.contains(&r.method) {
            methods.push(r.method.clone());
        }
    }
    let sparsities = plan.sparsities();
    let mut attacks: Vec<String> = ["fgsm", "pgd", "deepfool"]
        .iter()
        .filter(|a| {
            results
                .iter()
                .any(|r| r.curves.iter().any(|c| c.attack == **a))
        })
        .map(|a| a.to_string())
        .collect();
    for r in results {
        for c in &r.curves {
            if !attacks.contains(&c.attack) {
                attacks.push(c.attack.clone());
            }
        }
    }
    let mut cells = Vec::new();
    for &s in &sparsities {
        for m in &methods {
            let rs: Vec<&RunResult> = results
                .iter()
                .filter(|r| r.run.sparsity == s && &r.run.method == m)
                .collect();
            if rs.is_empty() {
                continue;
            }
            cells.push(cell(s, m, &rs, &attacks, eps, delta));
        }
    }
    let overall = methods
        .iter()
        .filter_map(|m| {
            let cs: Vec<&Cell> = cells.iter().filter(|c| &c.method == m).collect();
            if cs.is_empty() {
                return None;
            }
            let spreads: Vec<f64> = cs.iter().filter_map(|c| c.spread).collect();
            Some(Overall {
                method: m.clone(),
                sparsities: cs.len(),
                accuracy: mean(cs.iter().map(|c| c.clean_acc)),
                robustness: mean(cs.iter().map(|c| c.auc_mean)),
                instability: (!spreads.is_empty()).then(|| mean(spreads)),
            })
        })
        .collect();
    Report {
        name: plan.name.clone(),
        base: plan.base.clone(),
        planned: plan.runs.len(),
        finished: results.len(),
        eps,
        delta,
        eval_examples: results.iter().map(|r| r.eval_examples).max().unwrap_or(0),
        attacks,
        cells,
        overall,
    }
}

fn run_auc_mean(r: &RunResult) -> f64 {
    mean(r.curves.iter().map(|c| c.auc))
}

fn cell(s: f64, m: &str, rs: &[&RunResult], attacks: &[String], eps: f64, delta: f64) -> Cell {
    let mut robust = BTreeMap::new();
    let mut auc = BTreeMap::new();
    let mut curves = BTreeMap::new();
    for a in attacks {
        let cs: Vec<&AttackCurve> = rs
            .iter()
            .filter_map(|r| r.curves.iter().find(|c| &c.attack == a))
            .collect();
        if cs.is_empty() {
            continue;
        }
        let b = budget_for(a, eps, delta);
        let at: Vec<Option<f64>> = cs
            .iter()
            .map(|c| accuracy_at(&c.grid, &c.accuracy, b))
            .collect();
        robust.insert(
            a.clone(),
            at.iter()
                .all(Option::is_some)
                .then(|| mean(at.iter().flatten().copied())),
        );
        auc.insert(a.clone(), mean(cs.iter().map(|c| c.auc)));
        // Mean curve on the first run's grid (the runs of a sweep share their grids).
        let grid = cs[0].grid.clone();
        let accs = grid
            .iter()
            .map(|&g| {
                mean(
                    cs.iter()
                        .filter_map(|c| accuracy_at(&c.grid, &c.accuracy, g)),
                )
            })
            .collect();
        curves.insert(a.clone(), (grid, accs));
    }
    let mut by_process: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in rs {
        by_process
            .entry(r.run.process.as_str())
            .or_default()
            .push(run_auc_mean(r));
    }
    let per_process: Vec<f64> = by_process
        .values()
        .map(|v| mean(v.iter().copied()))
        .collect();
    let spread = (per_process.len() > 1).then(|| {
        let max = per_process.iter().copied().fold(f64::MIN, f64::max);
        let min = per_process.iter().copied().fold(f64::MAX, f64::min);
        max - min
    });
    Cell {
        sparsity: s,
        method: m.to_string(),
        runs: rs.len(),
        clean_acc: mean(rs.iter().map(|r| r.clean_acc)),
        auc_mean: mean(rs.iter().map(|r| run_auc_mean(r))),
        robust,
        auc,
        spread,
        curves,
    }
}

fn attack_title(a: &str) -> &str {
    match a {
        "fgsm" => "FGSM",
        "pgd" => "PGD",
        "deepfool" => "DF-cut",
        other => other,
    }
}

/// The columns of a sparsity's table, as the Markdown report and the sweep view show them.
pub fn cell_header(r: &Report) -> Vec<String> {
    let mut head = vec!["method".to_string(), "runs".into(), "clean".into()];
    for a in &r.attacks {
        let b = budget_for(a, r.eps, r.delta);
        head.push(format!("{}@{}", attack_title(a), num(b)));
    }
    for a in &r.attacks {
        head.push(format!("AUC {}", attack_title(a)));
    }
    head.push("AUC mean".into());
    head.push("spread".into());
    head
}

/// One method's row under `cell_header`.
pub fn cell_row(r: &Report, c: &Cell) -> Vec<String> {
    let mut row = vec![c.method.clone(), c.runs.to_string(), f4(Some(c.clean_acc))];
    for a in &r.attacks {
        row.push(f4(c.robust.get(a).copied().flatten()));
    }
    for a in &r.attacks {
        row.push(f4(c.auc.get(a).copied()));
    }
    row.push(f4(Some(c.auc_mean)));
    row.push(f4(c.spread));
    row
}

/// Four decimals, `-` for a missing or non-finite value.
pub fn f4(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

/// The report as Markdown; `images` is the folder the SVGs are linked from.
pub fn markdown(r: &Report, images: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### Sweep `{}` (base preset `{}`)\n", r.name, r.base);
    let _ = writeln!(
        md,
        "{} of {} runs finished. Clean accuracy is on the whole test set; robust accuracy and AUC on {} test images. \
         Robust columns: FGSM and PGD at L-inf ε = {}, DeepFool-cut at RMS δ = {}. \
         AUC: area under accuracy-vs-budget divided by the budget range. \
         Spread: max − min over pruning processes of the mean AUC.\n",
        r.finished,
        r.planned,
        r.eval_examples,
        num(r.eps),
        num(r.delta)
    );
    for s in r.sparsities() {
        let _ = writeln!(md, "**Sparsity {}**\n", num(s));
        let head = cell_header(r);
        let _ = writeln!(md, "| {} |", head.join(" | "));
        let _ = writeln!(md, "|{}", " --- |".repeat(head.len()));
        for c in r.cells.iter().filter(|c| c.sparsity == s) {
            let _ = writeln!(md, "| {} |", cell_row(r, c).join(" | "));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "**Overall (AER)**: A = mean clean accuracy, R = mean AUC, S = mean spread, each averaged over the sparsities the method has.\n"
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
            f4(Some(o.accuracy)),
            f4(Some(o.robustness)),
            f4(o.instability)
        );
    }
    md.push('\n');
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

/// One CSV row per cell (report.csv) and one per run (runs.csv).
pub fn csv(r: &Report, results: &[RunResult]) -> (String, String) {
    let mut cells = String::from("sparsity,method,runs,clean_acc");
    for a in &r.attacks {
        let _ = write!(cells, ",{a}_at_budget");
    }
    for a in &r.attacks {
        let _ = write!(cells, ",auc_{a}");
    }
    cells.push_str(",auc_mean,auc_spread\n");
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
        let _ = writeln!(cells, ",{},{}", c.auc_mean, o(c.spread));
    }
    let mut runs = String::from("id,method,mode,sparsity,process,seed,clean_acc");
    for a in &r.attacks {
        let _ = write!(runs, ",auc_{a}");
    }
    runs.push('\n');
    for res in results {
        let x = &res.run;
        let _ = write!(
            runs,
            "{},{},{},{},{},{},{}",
            x.id, x.method, x.mode, x.sparsity, x.process, x.seed, res.clean_acc
        );
        for a in &r.attacks {
            let v = res.curves.iter().find(|c| &c.attack == a).map(|c| c.auc);
            let _ = write!(runs, ",{}", o(v));
        }
        runs.push('\n');
    }
    (cells, runs)
}
