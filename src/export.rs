//! `bapw export`: a run's metrics, budget statistics and robustness tables as CSV or JSON, and
//! SVG plots for papers, all computed from `events.jsonl` (the same events every face reads).
use crate::events::{Budget, Event};
use crate::run::RunDir;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::config::paths::write_atomic;

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// Run name (under the runs folder) or path.
    pub run: String,
    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Folder for the tables (default: <run>/export).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write SVG plots into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
}

/// How the tables are written: one CSV file each, or one JSON file holding them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// The tables of one run, as rows of strings with a header.
pub struct Tables {
    pub steps: (Vec<&'static str>, Vec<Vec<String>>),
    pub epochs: (Vec<&'static str>, Vec<Vec<String>>),
    pub budget: (Vec<&'static str>, Vec<Vec<String>>),
    pub robustness: (Vec<&'static str>, Vec<Vec<String>>),
}

fn f(v: f64) -> String {
    format!("{v}")
}

pub fn tables(events: &[Event]) -> Tables {
    let mut t = Tables {
        steps: (
            vec![
                "step",
                "epoch",
                "loss",
                "clean_loss",
                "adv_loss",
                "train_acc",
                "target_sparsity",
                "sparsity",
                "samples_per_s",
            ],
            vec![],
        ),
        epochs: (
            vec![
                "epoch",
                "step",
                "train_loss",
                "train_acc",
                "test_loss",
                "test_acc",
                "seconds",
            ],
            vec![],
        ),
        budget: (
            vec![
                "step",
                "mode",
                "budget_p5",
                "budget_p25",
                "budget_p50",
                "budget_p75",
                "budget_p95",
                "budget_mean",
                "budget_std",
                "distance_p50",
                "distance_mean",
                "delta",
                "rho",
                "cut_fraction",
                "flip_rate",
            ],
            vec![],
        ),
        robustness: (
            vec![
                "step",
                "epoch",
                "attack",
                "budget",
                "accuracy",
                "auc",
                "clean_acc",
            ],
            vec![],
        ),
    };
    for ev in events {
        match ev {
            Event::Step(s) => t.steps.1.push(vec![
                s.step.to_string(),
                s.epoch.to_string(),
                f(s.loss),
                f(s.clean_loss),
                s.adv_loss.map(f).unwrap_or_default(),
                f(s.train_acc),
                f(s.target_sparsity),
                f(s.sparsity),
                f(s.samples_per_s),
            ]),
            Event::EpochEnd(e) => t.epochs.1.push(vec![
                e.epoch.to_string(),
                e.step.to_string(),
                f(e.train_loss),
                f(e.train_acc),
                f(e.test_loss),
                f(e.test_acc),
                f(e.seconds),
            ]),
            Event::Budget(b) => {
                let d = b.distances.as_ref();
                t.budget.1.push(vec![
                    b.step.to_string(),
                    b.mode.clone(),
                    f(b.budgets.p5),
                    f(b.budgets.p25),
                    f(b.budgets.p50),
                    f(b.budgets.p75),
                    f(b.budgets.p95),
                    f(b.budgets.mean),
                    f(b.budgets.std),
                    d.map(|d| f(d.p50)).unwrap_or_default(),
                    d.map(|d| f(d.mean)).unwrap_or_default(),
                    b.delta.map(f).unwrap_or_default(),
                    f(b.rho),
                    f(b.cut_fraction),
                    f(b.flip_rate),
                ])
            }
            Event::Eval(e) => {
                for c in &e.curves {
                    for (b, a) in c.grid.iter().zip(&c.accuracy) {
                        t.robustness.1.push(vec![
                            e.step.to_string(),
                            e.epoch.to_string(),
                            c.attack.clone(),
                            f(*b),
                            f(*a),
                            f(c.auc),
                            f(e.clean_acc),
                        ]);
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    s
}

fn json(header: &[&str], rows: &[Vec<String>]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let obj = header
                    .iter()
                    .zip(r)
                    .map(|(k, v)| {
                        let value = v
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(serde_json::Value::Number)
                            .unwrap_or_else(|| {
                                if v.is_empty() {
                                    serde_json::Value::Null
                                } else {
                                    serde_json::Value::String(v.clone())
                                }
                            });
                        (k.to_string(), value)
                    })
                    .collect();
                serde_json::Value::Object(obj)
            })
            .collect(),
    )
}

/// Writes the tables; returns the files written.
pub fn write_tables(events: &[Event], format: Format, out: &Path) -> Result<Vec<PathBuf>> {
    let all = [
        Table::Steps,
        Table::Epochs,
        Table::Budget,
        Table::Robustness,
    ];
    write_some_tables(events, &all, format, out)
}

/// One of the tables `bapw export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Steps,
    Epochs,
    Budget,
    Robustness,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Steps => "steps",
            Table::Epochs => "epochs",
            Table::Budget => "budget",
            Table::Robustness => "robustness",
        }
    }
}

/// Writes the tables in `which`: `<name>.csv` each, or one `run.json` holding them; returns
/// the files written.
pub fn write_some_tables(
    events: &[Event],
    which: &[Table],
    format: Format,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let t = tables(events);
    let named = which.iter().map(|w| {
        let table = match w {
            Table::Steps => &t.steps,
            Table::Epochs => &t.epochs,
            Table::Budget => &t.budget,
            Table::Robustness => &t.robustness,
        };
        (w.name(), table)
    });
    let mut written = Vec::new();
    match format {
        Format::Csv => {
            for (name, (h, rows)) in named {
                let p = out.join(format!("{name}.csv"));
                write_atomic(&p, csv(h, rows).as_bytes())?;
                written.push(p);
            }
        }
        Format::Json => {
            let obj: serde_json::Map<String, serde_json::Value> = named
                .map(|(name, (h, rows))| (name.to_string(), json(h, rows)))
                .collect();
            let p = out.join("run.json");
            write_atomic(&p, serde_json::to_string_pretty(&obj)?.as_bytes())?;
            written.push(p);
        }
    }
    Ok(written)
}

pub(crate) fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotting: {e:?}")
}

/// Loss and sparsity over steps, the latest budget histogram and the robustness curves.
pub fn write_plots(events: &[Event], dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    written.extend(plot_loss_sparsity(events, dir)?);
    written.extend(plot_budget(events, dir)?);
    written.extend(plot_robustness(events, dir)?);
    Ok(written)
}

/// `loss_sparsity.svg`: train loss over steps above target and measured sparsity; nothing
/// before the first step.
pub fn plot_loss_sparsity(events: &[Event], dir: &Path) -> Result<Option<PathBuf>> {
    let steps: Vec<(f64, f64, f64, f64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some((s.step as f64, s.loss, s.target_sparsity, s.sparsity)),
            _ => None,
        })
        .collect();
    if steps.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = dir.join("loss_sparsity.svg");
    {
        let root = SVGBackend::new(&p, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, bottom) = root.split_vertically(250);
        let xmax = steps.last().unwrap().0.max(1.0);
        let lmax = steps.iter().map(|s| s.1).fold(0.0, f64::max).max(1e-6);
        let mut c = ChartBuilder::on(&top)
            .caption("train loss", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..xmax, 0.0..lmax * 1.05)
            .map_err(plot_err)?;
        c.configure_mesh().draw().map_err(plot_err)?;
        c.draw_series(LineSeries::new(steps.iter().map(|s| (s.0, s.1)), &BLUE))
            .map_err(plot_err)?;
        let mut c = ChartBuilder::on(&bottom)
            .caption(
                "sparsity (target dashed red, measured blue)",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..xmax, 0.0..1.0)
            .map_err(plot_err)?;
        c.configure_mesh().x_desc("step").draw().map_err(plot_err)?;
        c.draw_series(LineSeries::new(steps.iter().map(|s| (s.0, s.2)), &RED))
            .map_err(plot_err)?;
        c.draw_series(LineSeries::new(steps.iter().map(|s| (s.0, s.3)), &BLUE))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(p))
}

/// `budget_histogram.svg`: the latest budget event's distances (BAP) or budgets, with the
/// cut-off δ marked; nothing before the first budget event.
pub fn plot_budget(events: &[Event], dir: &Path) -> Result<Option<PathBuf>> {
    let Some(Budget {
        budgets,
        distances,
        delta,
        ..
    }) = events.iter().rev().find_map(|e| match e {
        Event::Budget(b) => Some(b),
        _ => None,
    })
    else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = dir.join("budget_histogram.svg");
    {
        let root = SVGBackend::new(&p, (700, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let shown = distances.as_ref().unwrap_or(budgets);
        let bins = shown.counts.len().max(1);
        let hi = shown.lo + shown.bin_width * bins as f64;
        let cmax = shown.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let mut c = ChartBuilder::on(&root)
            .caption(
                match delta {
                    Some(d) => format!("per-example DeepFool distance (cut-off δ = {d:.4})"),
                    None => "per-example budget".to_string(),
                },
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(shown.lo..hi.max(shown.lo + 1e-9), 0.0..cmax * 1.1)
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc("RMS distance")
            .y_desc("examples")
            .draw()
            .map_err(plot_err)?;
        c.draw_series(shown.counts.iter().enumerate().map(|(i, &n)| {
            let x0 = shown.lo + i as f64 * shown.bin_width;
            Rectangle::new(
                [(x0, 0.0), (x0 + shown.bin_width, n as f64)],
                BLUE.mix(0.5).filled(),
            )
        }))
        .map_err(plot_err)?;
        if let Some(d) = delta {
            c.draw_series(LineSeries::new([(*d, 0.0), (*d, cmax * 1.1)], &RED))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Some(p))
}

/// `robustness_<attack>.svg`: accuracy over the budget grid of the latest evaluation, one
/// file per attack; nothing before the first evaluation.
pub fn plot_robustness(events: &[Event], dir: &Path) -> Result<Vec<PathBuf>> {
    let Some(curves) = events.iter().rev().find_map(|e| match e {
        Event::Eval(e) => Some(&e.curves),
        _ => None,
    }) else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for c in curves.iter().filter(|c| c.grid.len() > 1) {
        let p = dir.join(format!("robustness_{}.svg", c.attack));
        {
            let root = SVGBackend::new(&p, (700, 400)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let xmax = c.grid.iter().copied().fold(0.0, f64::max).max(1e-9);
            let mut ch = ChartBuilder::on(&root)
                .caption(
                    format!("accuracy under {} (AUC {:.4})", c.attack, c.auc),
                    ("sans-serif", 16),
                )
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(0.0..xmax, 0.0..1.0)
                .map_err(plot_err)?;
            ch.configure_mesh()
                .x_desc(if c.attack == "deepfool" {
                    "δ (RMS L2)"
                } else {
                    "ε (L-inf)"
                })
                .y_desc("accuracy")
                .draw()
                .map_err(plot_err)?;
            ch.draw_series(LineSeries::new(
                c.grid.iter().copied().zip(c.accuracy.iter().copied()),
                &BLUE,
            ))
            .map_err(plot_err)?;
            root.present().map_err(plot_err)?;
        }
        written.push(p);
    }
    Ok(written)
}

/// `bapw export`: writes the run's tables (and plots) and prints the paths.
pub fn cli(a: &ExportArgs) -> Result<()> {
    let runs_dir = crate::config::paths::runs_dir_or_default(a.runs_dir.clone())?;
    let run = RunDir::resolve(&runs_dir, &a.run)?;
    for p in self::run(a, &run)? {
        println!("{}", p.display());
    }
    Ok(())
}

pub fn run(a: &ExportArgs, run: &RunDir) -> Result<Vec<PathBuf>> {
    let events = run.read_events()?;
    let out = a.out.clone().unwrap_or_else(|| run.path().join("export"));
    let mut written = write_tables(&events, a.format, &out)?;
    if let Some(dir) = &a.plots {
        written.extend(write_plots(&events, dir)?);
    }
    let mut msg = String::new();
    for p in &written {
        let _ = writeln!(msg, "{}", p.display());
    }
    tracing::info!("exported {}", msg.trim());
    Ok(written)
}
