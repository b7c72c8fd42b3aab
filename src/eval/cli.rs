//! `bapw eval CHECKPOINT`: the robustness evaluation of a saved checkpoint, with the model,
//! dataset and evaluation settings of its run folder (`preset.toml`) unless overridden.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{Device, Tensor};

use super::view::{view, EvalView, Parts, Point};
use super::{evaluate_test_set, EvalSpec, Report};
use crate::config::preset::Preset;
use crate::device::{resolve_device, DeviceChoice};
use crate::events::EvalSubset;
use crate::model::Net;
use crate::run::checkpoint::Checkpoints;

#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// A checkpoint (`<run>/checkpoints/step-N.safetensors`) or a run folder (its latest).
    pub checkpoint: PathBuf,
    /// Evaluate on this dataset instead of the run's (same image shape and classes).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Number of test images, a class-stratified random subset (0 = all; default: the run's
    /// eval.subset).
    #[arg(long)]
    pub subset: Option<usize>,
    /// Seed of the subset's draw (default: the run's eval.subset_seed).
    #[arg(long)]
    pub subset_seed: Option<u64>,
    /// Attacks, comma-separated: fgsm, pgd, apgd, deepfool, apgd-l2 (default: the run's
    /// eval.attacks).
    #[arg(long, value_delimiter = ',')]
    pub attack: Vec<String>,
    /// L-inf ε grid of FGSM and PGD, comma-separated (default: the run's eval.eps).
    #[arg(long, value_delimiter = ',')]
    pub eps: Vec<f64>,
    /// RMS δ grid of the DeepFool-cut curve, comma-separated (default: the run's eval.deltas).
    #[arg(long, value_delimiter = ',')]
    pub deltas: Vec<f64>,
    /// PGD steps (default: the run's eval.pgd_steps).
    #[arg(long)]
    pub pgd_steps: Option<usize>,
    /// PGD restarts (default: the run's eval.pgd_restarts).
    #[arg(long)]
    pub pgd_restarts: Option<usize>,
    /// APGD steps per run (default: the run's eval.apgd_steps).
    #[arg(long)]
    pub apgd_steps: Option<usize>,
    /// APGD restarts (default: the run's eval.apgd_restarts).
    #[arg(long)]
    pub apgd_restarts: Option<usize>,
    /// DeepFool iterations (default: the run's eval.deepfool_iters).
    #[arg(long)]
    pub deepfool_iters: Option<usize>,
    /// Images per batch (default: the run's eval.batch_size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

pub fn run_eval_cli(args: &EvalArgs) -> Result<()> {
    let (weights, run_dir) = resolve_checkpoint(&args.checkpoint)?;
    let preset_path = run_dir.join("preset.toml");
    let text = std::fs::read_to_string(&preset_path)
        .with_context(|| format!("reading {}", preset_path.display()))?;
    let mut preset = Preset::from_toml_str(&preset_path.display().to_string(), &text, &[])?;
    if let Some(d) = &args.dataset {
        if *d != preset.data.dataset {
            preset.data.dataset = d.clone();
            preset.data.path = String::new();
        }
    }
    // Only test images are evaluated: keep one training image to load less onto the device.
    preset.data.train_subset = 1;
    let spec = spec_from(&preset, args)?;
    let (device, note) = resolve_device(args.device);
    if let Some(n) = note {
        eprintln!("bapw: {n}");
    }
    if preset.train.threads > 0 {
        tch::set_num_threads(preset.train.threads);
    }
    let data = crate::data::load(&preset.data, device)
        .with_context(|| format!("loading dataset {:?}", preset.data.dataset))?;
    let net = load_net(&weights, &preset, data.shape(), data.classes, device)?;
    let n = args.subset.unwrap_or(preset.eval.subset);
    let seed = args.subset_seed.unwrap_or(preset.eval.subset_seed);
    // The net's own input gradients (model::input_grad), as a training run's evaluation and
    // `bapw bench --eval` use, not autograd through `Net::forward`.
    let (report, subset) = evaluate_test_set(&net, &data.test_x, &data.test_y, n, seed, &spec)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&weights, &preset, &report, &subset))?
        );
    } else {
        print!("{}", table(&weights, &preset, &report, &subset));
    }
    Ok(())
}

/// The checkpoint file and its run folder for a checkpoint path or a run folder.
pub fn resolve_checkpoint(path: &Path) -> Result<(PathBuf, PathBuf)> {
    if path.is_dir() {
        let dir = if path.join("checkpoints").is_dir() {
            path.join("checkpoints")
        } else {
            path.to_path_buf()
        };
        let checkpoints = Checkpoints::new(dir.clone());
        let Some(step) = checkpoints.latest() else {
            bail!("{} holds no checkpoint (no step-N.json)", dir.display());
        };
        let weights = checkpoints.files(step).weights;
        let run_dir = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        return Ok((weights, run_dir));
    }
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    if !name.ends_with(".safetensors") || name.ends_with(".optim.safetensors") {
        bail!(
            "{} is not a checkpoint: give <run>/checkpoints/step-N.safetensors or a run folder",
            path.display()
        );
    }
    let run_dir = path
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not inside <run>/checkpoints/", path.display()))?
        .to_path_buf();
    Ok((path.to_path_buf(), run_dir))
}

/// Builds the run's model and loads the checkpoint's weights, with its masks applied.
pub fn load_net(
    weights: &Path,
    preset: &Preset,
    shape: (i64, i64, i64),
    classes: i64,
    device: Device,
) -> Result<Net> {
    let source = weights.display().to_string();
    let net = Net::new(&preset.model, shape, classes, device)
        .with_context(|| format!("building model {:?}", preset.model.arch))?;
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(weights)
        .with_context(|| format!("reading {source}"))?
        .into_iter()
        .map(|(n, t)| (n, t.to_device(device)))
        .collect();
    net.load_tensors(&tensors, &source)?;
    // Checkpointed weights are already masked; applying the masks again makes that certain.
    let vars = net.vs.variables();
    for (name, mask) in &tensors {
        if let Some(param) = name.strip_suffix("_mask").and_then(|p| vars.get(p)) {
            if param.size() != mask.size() {
                bail!("{source}: {name} has shape {:?}", mask.size());
            }
            let mut p = param.shallow_clone();
            tch::no_grad(|| {
                let _ = p.g_mul_(mask);
            });
        }
    }
    Ok(net)
}

fn spec_from(preset: &Preset, a: &EvalArgs) -> Result<EvalSpec> {
    let mut spec = EvalSpec::from_preset(preset)?;
    if !a.attack.is_empty() {
        spec.attacks = a.attack.iter().map(|s| s.trim().to_lowercase()).collect();
    }
    if !a.eps.is_empty() {
        spec.eps = a.eps.clone();
    }
    if !a.deltas.is_empty() {
        spec.deltas = a.deltas.clone();
    }
    if let Some(s) = a.pgd_steps {
        spec.pgd_steps = s;
    }
    if let Some(s) = a.pgd_restarts {
        spec.pgd_restarts = s;
    }
    if let Some(s) = a.apgd_steps {
        spec.apgd_steps = s;
    }
    if let Some(s) = a.apgd_restarts {
        spec.apgd_restarts = s;
    }
    if let Some(s) = a.deepfool_iters {
        spec.deepfool_iters = s;
    }
    if let Some(b) = a.batch_size {
        spec.batch_size = b;
    }
    spec.checked()
}

fn report_view(r: &Report, subset: &EvalSubset) -> EvalView {
    view(&Parts {
        examples: r.examples,
        clean_acc: r.clean_acc,
        curves: &r.curves,
        worst_case: &r.worst_case,
        flags: &r.flags,
        subset: Some(subset),
        settings: Some(&r.settings),
    })
}

/// The report as JSON: every curve with a 95 % Wilson interval per point and an interval for
/// its AUC, the worst case, the flags, the subset and the attack settings.
fn json(weights: &Path, preset: &Preset, r: &Report, subset: &EvalSubset) -> serde_json::Value {
    let v = report_view(r, subset);
    let interval = |p: &Point| serde_json::json!([p.lo, p.hi]);
    let with_intervals = |curves: &[crate::events::AttackCurve]| -> Vec<serde_json::Value> {
        curves
            .iter()
            .map(|c| {
                let col = v
                    .tables
                    .iter()
                    .flat_map(|t| t.columns.iter().map(move |col| (t, col)))
                    .find(|(_, col)| col.attack == c.attack);
                let mut o = serde_json::to_value(c).unwrap_or_default();
                if let Some((t, col)) = col {
                    let points: Vec<serde_json::Value> = c
                        .grid
                        .iter()
                        .filter_map(|g| t.grid.iter().position(|x| x == g))
                        .filter_map(|i| col.cells[i].as_ref().map(interval))
                        .collect();
                    o["interval"] = serde_json::Value::Array(points);
                    o["auc_interval"] = interval(&col.auc);
                }
                o
            })
            .collect()
    };
    serde_json::json!({
        "checkpoint": weights.display().to_string(),
        "arch": preset.model.arch,
        "dataset": preset.data.dataset,
        "examples": r.examples,
        "subset": subset,
        "settings": r.settings,
        "counting": "robust at a budget = correct on the clean image and under the attack at every budget of the grid up to it",
        "clean_accuracy": r.clean_acc,
        "clean_interval": interval(&v.clean),
        "attacks": with_intervals(&r.curves),
        "worst_case": with_intervals(&r.worst_case),
        "flags": r.flags,
        "zero_gradients": r.zero_gradients,
        "deepfool_rms": r.deepfool_rms,
        "seconds": r.seconds,
    })
}

/// `0.912 [0.883, 0.934]`: an accuracy and its 95 % interval.
fn cell(p: &Point) -> String {
    format!("{:.3} [{:.3}, {:.3}]", p.value, p.lo, p.hi)
}

/// One table per threat model (rows = budgets, columns = the attacks then the worst case),
/// then the clean accuracy, the flags, the images and the settings.
fn table(weights: &Path, preset: &Preset, r: &Report, subset: &EvalSubset) -> String {
    let v = report_view(r, subset);
    let mut out = format!(
        "{} ({} on {}, {:.1} s)\nimages: {}\n",
        weights.display(),
        preset.model.arch,
        preset.data.dataset,
        r.seconds,
        v.sample
    );
    out.push_str(
        "robust accuracy = correct on the clean image and under the attack at every budget up \
         to the row's; [95 % Wilson interval]; AUC ± 1.96 standard errors over the images\n",
    );
    const W: usize = 21;
    for t in &v.tables {
        out.push('\n');
        out.push_str(&format!("{:<8}", t.unit));
        for c in &t.columns {
            // Attacks by the names --attack takes; the worst case by what it is.
            let name = if c.worst { &c.label } else { &c.attack };
            out.push_str(&format!(" {name:<W$}"));
        }
        out.push('\n');
        for (i, g) in t.grid.iter().enumerate() {
            out.push_str(&format!("{g:<8}"));
            for c in &t.columns {
                let s = c.cells[i].as_ref().map(cell).unwrap_or_else(|| "-".into());
                out.push_str(&format!(" {s:<W$}"));
            }
            out.push('\n');
        }
        out.push_str(&format!("{:<8}", "AUC"));
        for c in &t.columns {
            out.push_str(&format!(" {:<W$}", cell(&c.auc)));
        }
        out.push('\n');
    }
    out.push_str(&format!("\nclean accuracy {}\n", cell(&v.clean)));
    if v.flags.is_empty() {
        out.push_str("gradient-masking flags: none\n");
    } else {
        out.push_str("gradient-masking flags:\n");
        for f in &v.flags {
            out.push_str(&format!("  ! {f}\n"));
        }
    }
    out.push_str("attacks:\n");
    for s in &v.settings {
        out.push_str(&format!("  {s}\n"));
    }
    if let Some(d) = &r.deepfool_rms {
        out.push_str(&format!(
            "DeepFool RMS distance: mean {:.4}, median {:.4} (p5 {:.4}, p95 {:.4})\n",
            d.mean, d.p50, d.p5, d.p95
        ));
    }
    out
}
