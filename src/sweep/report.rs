//! A sweep's runs aggregated into the accuracy-efficiency-robustness (AER) comparison: one
//! table per sparsity and an overall table (`render` turns them into Markdown and CSV,
//! `publish` writes them with the plots). Everything is computed from the runs'
//! `events.jsonl`, so a report can be rebuilt at any time.
//!
//! The headline robustness **R** of a run is its worst-case AUC (`Eval::robust_auc`: the mean
//! over its threat models of the AUC of the worst case over that model's attacks); for logs
//! written before evaluations had a worst case it is the mean of the attacks' AUCs. Every
//! figure carries its uncertainty (`estimate`): the standard deviation across training seeds,
//! or with one seed a 95 % interval over the evaluated images.
use crate::events::{
    AttackCurve, AttackSettings, EpochEnd, Eval, EvalSubset, Event, Finished, MaskingFlag,
    RunStarted,
};
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::estimate::{Est, Sample};
use super::folder::{run_dir, status_of, Plan, RunStatus};
use super::spec::{distinct_sorted, num, PlannedRun};

/// What one finished run contributes.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub run: PlannedRun,
    /// Accuracy on the whole test set at the end.
    pub clean_acc: f64,
    /// Images of that test set (0 when the log does not say).
    pub test_examples: usize,
    /// The last robustness evaluation: per-attack curves, worst cases, flags, images used and
    /// attack settings.
    pub curves: Vec<AttackCurve>,
    pub worst_case: Vec<AttackCurve>,
    pub flags: Vec<MaskingFlag>,
    pub subset: Option<EvalSubset>,
    pub settings: Option<AttackSettings>,
    /// Images the robustness evaluation used.
    pub eval_examples: usize,
}

impl RunResult {
    /// The curve of an attack or a worst case (`worst-linf`, `worst-l2`).
    pub fn curve(&self, id: &str) -> Option<&AttackCurve> {
        self.curves
            .iter()
            .chain(&self.worst_case)
            .find(|c| c.attack == id)
    }

    /// R: the worst-case AUC (mean AUC for older logs), with its standard error.
    pub fn r(&self) -> Sample {
        let used = if self.worst_case.is_empty() {
            &self.curves
        } else {
            &self.worst_case
        };
        let k = used.len().max(1) as f64;
        Sample {
            seed: self.run.seed,
            value: used.iter().map(|c| c.auc).sum::<f64>() / k,
            se: used
                .iter()
                .map(|c| c.auc_se.unwrap_or(0.0).powi(2))
                .sum::<f64>()
                .sqrt()
                / k,
            count: None,
        }
    }
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
    let mut eval: Option<&Eval> = None;
    let mut test_examples = 0;
    for ev in events {
        match ev {
            Event::RunStarted(RunStarted {
                test_examples: n, ..
            }) => test_examples = *n,
            Event::EpochEnd(EpochEnd { test_acc, .. }) => clean = Some(*test_acc),
            Event::Eval(e) if !e.curves.is_empty() => eval = Some(e),
            Event::Finished(Finished { test_acc, .. }) if test_acc.is_finite() => {
                clean = Some(*test_acc)
            }
            _ => {}
        }
    }
    let e = eval?;
    Some(RunResult {
        run: run.clone(),
        clean_acc: clean?,
        test_examples,
        curves: e.curves.clone(),
        worst_case: e.worst_case.clone(),
        flags: e.flags.clone(),
        subset: e.subset.clone(),
        settings: e.settings.clone(),
        eval_examples: e.examples,
    })
}

/// One (sparsity, method) cell: means over its processes and seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub sparsity: f64,
    pub method: String,
    pub runs: usize,
    pub clean_acc: f64,
    /// Per attack and worst case: mean accuracy at the report's budget (None when off the
    /// grid).
    pub robust: BTreeMap<String, Option<f64>>,
    /// Per attack and worst case: mean AUC.
    pub auc: BTreeMap<String, f64>,
    /// Mean over attacks of the mean AUC (R before evaluations had a worst case).
    pub auc_mean: f64,
    /// R, the headline robustness: the mean over the runs of their worst-case AUC.
    pub r: f64,
    /// Max minus min of R over the pruning processes, per seed, averaged over the seeds that
    /// have two or more processes. None with fewer than two processes.
    pub spread: Option<f64>,
    /// Per attack and worst case: the budget grid and the mean accuracy curve.
    pub curves: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    /// The figures above with their uncertainty (`estimate`).
    pub clean_est: Est,
    pub robust_est: BTreeMap<String, Est>,
    pub auc_est: BTreeMap<String, Est>,
    pub r_est: Est,
    pub spread_est: Option<Est>,
    /// Runs with at least one gradient-masking flag.
    pub flagged: usize,
}

/// Per method, over the sparsity grid: the AER figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    pub method: String,
    pub sparsities: usize,
    /// A: mean clean accuracy.
    pub accuracy: f64,
    /// R: mean worst-case AUC (mean AUC over attacks for older logs).
    pub robustness: f64,
    /// S: mean spread of R across pruning processes (lower is more stable).
    pub instability: Option<f64>,
    /// A, R and S with their uncertainty.
    pub a_est: Est,
    pub r_est: Est,
    pub s_est: Option<Est>,
}

/// The runs of one method whose evaluations raised one gradient-masking check.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagNote {
    pub method: String,
    pub check: String,
    pub runs: usize,
    pub of: usize,
    /// One of them, with its message.
    pub example: (String, String),
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
    /// Test images of the clean accuracy (0 when the logs do not say).
    pub test_examples: usize,
    /// The training seeds with results.
    pub seeds: Vec<u64>,
    pub attacks: Vec<String>,
    /// The worst cases present: `worst-linf`, `worst-l2`.
    pub worst: Vec<String>,
    /// The first run's evaluation subset and attack settings, and whether every run had the
    /// same ones.
    pub subset: Option<EvalSubset>,
    pub settings: Option<AttackSettings>,
    pub uniform_eval: bool,
    pub cells: Vec<Cell>,
    pub overall: Vec<Overall>,
    pub flags: Vec<FlagNote>,
}

impl Report {
    /// The sparsities that have results, ascending.
    pub fn sparsities(&self) -> Vec<f64> {
        distinct_sorted(self.cells.iter().map(|c| c.sparsity))
    }

    /// Whether R is the worst-case AUC (every run recorded a worst case).
    pub fn r_is_worst_case(&self) -> bool {
        !self.worst.is_empty()
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

/// The report's budget for an attack: δ on the RMS-L2 grid, ε on the L∞ one.
pub fn budget_for(attack: &str, eps: f64, delta: f64) -> f64 {
    if crate::eval::is_l2(attack) {
        delta
    } else {
        eps
    }
}

/// Groups the results into cells and the overall table. Methods keep the plan's order,
/// sparsities go up, attacks are fgsm, pgd, apgd, deepfool, apgd-l2 as present.
pub fn aggregate(plan: &Plan, results: &[RunResult]) -> Report {
    let (eps, delta) = (plan.report.eps, plan.report.delta);
    let mut methods: Vec<String> = Vec::new();
    for r in &plan.runs {
        if !methods.contains(&r.method) {
            methods.push(r.method.clone());
        }
    }
    let sparsities = plan.sparsities();
    let present = |id: &str| {
        results
            .iter()
            .any(|r| r.curves.iter().chain(&r.worst_case).any(|c| c.attack == id))
    };
    let mut attacks: Vec<String> = crate::eval::ATTACKS
        .iter()
        .filter(|a| present(a))
        .map(|a| a.to_string())
        .collect();
    for r in results {
        for c in &r.curves {
            if !attacks.contains(&c.attack) {
                attacks.push(c.attack.clone());
            }
        }
    }
    // A worst case column only when every run has it, so R means one thing per report.
    let worst: Vec<String> = ["worst-linf", "worst-l2"]
        .iter()
        .filter(|w| {
            !results.is_empty()
                && results
                    .iter()
                    .all(|r| r.worst_case.iter().any(|c| c.attack == **w))
        })
        .map(|w| w.to_string())
        .collect();
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
            let ids: Vec<String> = attacks.iter().chain(&worst).cloned().collect();
            cells.push(cell(s, m, &rs, &ids, eps, delta));
        }
    }
    let overall = methods
        .iter()
        .filter_map(|m| {
            let cs: Vec<&Cell> = cells.iter().filter(|c| &c.method == m).collect();
            if cs.is_empty() {
                return None;
            }
            let spreads: Vec<&Est> = cs.iter().filter_map(|c| c.spread_est.as_ref()).collect();
            let a_est = Est::mean_of(&cs.iter().map(|c| &c.clean_est).collect::<Vec<_>>())?;
            let r_est = Est::mean_of(&cs.iter().map(|c| &c.r_est).collect::<Vec<_>>())?;
            Some(Overall {
                method: m.clone(),
                sparsities: cs.len(),
                accuracy: mean(cs.iter().map(|c| c.clean_acc)),
                robustness: mean(cs.iter().map(|c| c.r)),
                instability: (!spreads.is_empty()).then(|| mean(spreads.iter().map(|e| e.value))),
                a_est,
                r_est,
                s_est: Est::mean_of(&spreads),
            })
        })
        .collect();
    let first = results.first();
    let same =
        |f: &dyn Fn(&RunResult) -> String| results.iter().all(|r| Some(f(r)) == first.map(f));
    Report {
        name: plan.name.clone(),
        base: plan.base.clone(),
        planned: plan.runs.len(),
        finished: results.len(),
        eps,
        delta,
        eval_examples: results.iter().map(|r| r.eval_examples).max().unwrap_or(0),
        test_examples: results.iter().map(|r| r.test_examples).max().unwrap_or(0),
        seeds: distinct_sorted(results.iter().map(|r| r.run.seed as f64))
            .into_iter()
            .map(|s| s as u64)
            .collect(),
        attacks,
        worst,
        subset: first.and_then(|r| r.subset.clone()),
        settings: first.and_then(|r| r.settings.clone()),
        uniform_eval: same(&|r| format!("{:?}{:?}", r.subset, r.settings)),
        flags: flag_notes(&methods, results),
        cells,
        overall,
    }
}

fn run_auc_mean(r: &RunResult) -> f64 {
    mean(r.curves.iter().map(|c| c.auc))
}

fn cell(s: f64, m: &str, rs: &[&RunResult], ids: &[String], eps: f64, delta: f64) -> Cell {
    let mut robust = BTreeMap::new();
    let mut robust_est = BTreeMap::new();
    let mut auc = BTreeMap::new();
    let mut auc_est = BTreeMap::new();
    let mut curves = BTreeMap::new();
    for a in ids {
        let cs: Vec<(&RunResult, &AttackCurve)> = rs
            .iter()
            .filter_map(|r| r.curve(a).map(|c| (*r, c)))
            .collect();
        if cs.is_empty() {
            continue;
        }
        let b = budget_for(a, eps, delta);
        let at: Vec<Option<Sample>> = cs
            .iter()
            .map(|(r, c)| {
                accuracy_at(&c.grid, &c.accuracy, b)
                    .map(|v| Sample::accuracy(r.run.seed, v, r.eval_examples))
            })
            .collect();
        let on_grid = at.iter().all(Option::is_some);
        let at: Vec<Sample> = at.into_iter().flatten().collect();
        robust.insert(a.clone(), on_grid.then(|| mean(at.iter().map(|x| x.value))));
        if let (true, Some(e)) = (on_grid, Est::from_samples(&at)) {
            robust_est.insert(a.clone(), e);
        }
        let aucs: Vec<Sample> = cs
            .iter()
            .map(|(r, c)| Sample {
                seed: r.run.seed,
                value: c.auc,
                se: c.auc_se.unwrap_or(0.0),
                count: None,
            })
            .collect();
        auc.insert(a.clone(), mean(aucs.iter().map(|x| x.value)));
        if let Some(e) = Est::from_samples(&aucs) {
            auc_est.insert(a.clone(), e);
        }
        // Mean curve on the first run's grid (the runs of a sweep share their grids).
        let grid = cs[0].1.grid.clone();
        let accs = grid
            .iter()
            .map(|&g| {
                mean(
                    cs.iter()
                        .filter_map(|(_, c)| accuracy_at(&c.grid, &c.accuracy, g)),
                )
            })
            .collect();
        curves.insert(a.clone(), (grid, accs));
    }
    let clean: Vec<Sample> = rs
        .iter()
        .map(|r| match r.test_examples {
            0 => Sample {
                seed: r.run.seed,
                value: r.clean_acc,
                se: 0.0,
                count: None,
            },
            n => Sample::accuracy(r.run.seed, r.clean_acc, n),
        })
        .collect();
    let rsamples: Vec<Sample> = rs.iter().map(|r| r.r()).collect();
    let spread_est = spread(rs);
    let fallback = Est::default();
    Cell {
        sparsity: s,
        method: m.to_string(),
        runs: rs.len(),
        clean_acc: mean(rs.iter().map(|r| r.clean_acc)),
        auc_mean: mean(rs.iter().map(|r| run_auc_mean(r))),
        r: mean(rsamples.iter().map(|x| x.value)),
        robust,
        auc,
        spread: spread_est.as_ref().map(|e| e.value),
        curves,
        clean_est: Est::from_samples(&clean).unwrap_or_else(|| fallback.clone()),
        robust_est,
        auc_est,
        r_est: Est::from_samples(&rsamples).unwrap_or(fallback),
        spread_est,
        flagged: rs.iter().filter(|r| !r.flags.is_empty()).count(),
    }
}

/// Per seed, max − min of R over the pruning processes (each process's R the mean of its
/// runs at that seed); the seeds with two or more processes make the estimate. With one
/// seed, its standard error is that of a difference of the two extreme processes.
fn spread(rs: &[&RunResult]) -> Option<Est> {
    let mut by_seed: BTreeMap<u64, BTreeMap<&str, Vec<Sample>>> = BTreeMap::new();
    for r in rs {
        by_seed
            .entry(r.run.seed)
            .or_default()
            .entry(r.run.process.as_str())
            .or_default()
            .push(r.r());
    }
    let samples: Vec<Sample> = by_seed
        .iter()
        .filter(|(_, p)| p.len() > 1)
        .map(|(seed, processes)| {
            let per: Vec<(f64, f64)> = processes
                .values()
                .map(|v| {
                    let k = v.len() as f64;
                    let value = v.iter().map(|x| x.value).sum::<f64>() / k;
                    let se = v.iter().map(|x| x.se * x.se).sum::<f64>().sqrt() / k;
                    (value, se)
                })
                .collect();
            let hi = per
                .iter()
                .copied()
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or_default();
            let lo = per
                .iter()
                .copied()
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or_default();
            Sample {
                seed: *seed,
                value: hi.0 - lo.0,
                se: (hi.1 * hi.1 + lo.1 * lo.1).sqrt(),
                count: None,
            }
        })
        .collect();
    Est::from_samples(&samples)
}

/// Per method and check: how many of its runs raised it, and one example.
fn flag_notes(methods: &[String], results: &[RunResult]) -> Vec<FlagNote> {
    let mut out = Vec::new();
    for m in methods {
        let rs: Vec<&RunResult> = results.iter().filter(|r| &r.run.method == m).collect();
        let mut checks: Vec<&str> = Vec::new();
        for r in &rs {
            for f in &r.flags {
                if !checks.contains(&f.check.as_str()) {
                    checks.push(&f.check);
                }
            }
        }
        for c in checks {
            let with: Vec<(&RunResult, &MaskingFlag)> = rs
                .iter()
                .filter_map(|r| r.flags.iter().find(|f| f.check == c).map(|f| (*r, f)))
                .collect();
            let (r, f) = with[0];
            out.push(FlagNote {
                method: m.clone(),
                check: c.to_string(),
                runs: with.len(),
                of: rs.len(),
                example: (r.run.id.clone(), f.message.clone()),
            });
        }
    }
    out
}

pub fn attack_title(a: &str) -> &str {
    match a {
        "fgsm" => "FGSM",
        "pgd" => "PGD",
        "apgd" => "APGD",
        "deepfool" => "DF-cut",
        "apgd-l2" => "APGD-L2",
        "worst-linf" => "worst L∞",
        "worst-l2" => "worst L2",
        other => other,
    }
}

/// The columns of a sparsity's table as the sweep view shows them (the Markdown report adds
/// intervals): the worst cases and R only when the runs recorded worst cases.
pub fn cell_header(r: &Report) -> Vec<String> {
    let mut head = vec!["method".to_string(), "runs".into(), "clean".into()];
    for a in r.attacks.iter().chain(&r.worst) {
        let b = budget_for(a, r.eps, r.delta);
        head.push(format!("{}@{}", attack_title(a), num(b)));
    }
    for a in r.attacks.iter().chain(&r.worst) {
        head.push(format!("AUC {}", attack_title(a)));
    }
    head.push("AUC mean".into());
    if r.r_is_worst_case() {
        head.push("R".into());
    }
    head.push("spread".into());
    head
}

/// One method's row under `cell_header`.
pub fn cell_row(r: &Report, c: &Cell) -> Vec<String> {
    let mut row = vec![c.method.clone(), c.runs.to_string(), f4(Some(c.clean_acc))];
    for a in r.attacks.iter().chain(&r.worst) {
        row.push(f4(c.robust.get(a).copied().flatten()));
    }
    for a in r.attacks.iter().chain(&r.worst) {
        row.push(f4(c.auc.get(a).copied()));
    }
    row.push(f4(Some(c.auc_mean)));
    if r.r_is_worst_case() {
        row.push(f4(Some(c.r)));
    }
    row.push(f4(c.spread));
    row
}

/// Four decimals, `-` for a missing or non-finite value.
pub fn f4(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}
