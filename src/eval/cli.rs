//! `bapw eval CHECKPOINT`: the robustness evaluation of a saved checkpoint, with the model,
//! dataset and evaluation settings of its run folder (`preset.toml`) unless overridden.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::{Device, Tensor};

use super::{evaluate, EvalSpec, Report};
use crate::config::preset::Preset;
use crate::device::{resolve_device, DeviceChoice};
use crate::model::Net;
use crate::run::checkpoint::Checkpoints;

#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// A checkpoint (`<run>/checkpoints/step-N.safetensors`) or a run folder (its latest).
    pub checkpoint: PathBuf,
    /// Evaluate on this dataset instead of the run's (same image shape and classes).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Number of test images (0 = all; default: the run's eval.subset).
    #[arg(long)]
    pub subset: Option<usize>,
    /// Attacks, comma-separated: fgsm, pgd, deepfool (default: the run's eval.attacks).
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
    let subset = args.subset.unwrap_or(preset.eval.subset);
    let n = match subset {
        0 => data.n_test(),
        s => s.min(data.n_test()),
    } as i64;
    let x = data.test_x.narrow(0, 0, n);
    let y = data.test_y.narrow(0, 0, n);
    let model = |t: &Tensor| net.forward(t);
    let report = evaluate(&model, &x, &y, &spec)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&weights, &preset, &report))?
        );
    } else {
        print!("{}", table(&weights, &preset, &report));
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
    if let Some(s) = a.deepfool_iters {
        spec.deepfool_iters = s;
    }
    if let Some(b) = a.batch_size {
        spec.batch_size = b;
    }
    spec.checked()
}

fn json(weights: &Path, preset: &Preset, r: &Report) -> serde_json::Value {
    serde_json::json!({
        "checkpoint": weights.display().to_string(),
        "arch": preset.model.arch,
        "dataset": preset.data.dataset,
        "examples": r.examples,
        "clean_accuracy": r.clean_acc,
        "attacks": r.curves,
        "deepfool_rms": r.deepfool_rms,
        "seconds": r.seconds,
    })
}

/// One row per budget value (the union of the grids), one column per attack; FGSM and PGD
/// read the row as an L-inf ε, DeepFool as an RMS δ.
fn table(weights: &Path, preset: &Preset, r: &Report) -> String {
    let mut out = format!(
        "{} ({} on {}, {} test images, {:.1} s)\n",
        weights.display(),
        preset.model.arch,
        preset.data.dataset,
        r.examples,
        r.seconds
    );
    let mut rows: Vec<f64> = r.curves.iter().flat_map(|c| c.grid.clone()).collect();
    rows.sort_by(f64::total_cmp);
    rows.dedup();
    out.push_str(&format!("{:<8}", "budget"));
    for c in &r.curves {
        let unit = if c.attack == "deepfool" {
            "(RMS δ)"
        } else {
            "(L∞ ε)"
        };
        out.push_str(&format!(" {:>16}", format!("{} {unit}", c.attack)));
    }
    out.push('\n');
    for v in &rows {
        out.push_str(&format!("{v:<8.4}"));
        for c in &r.curves {
            let cell = c
                .grid
                .iter()
                .position(|g| g == v)
                .map(|i| format!("{:.4}", c.accuracy[i]))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(" {cell:>16}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("{:<8}", "AUC"));
    for c in &r.curves {
        out.push_str(&format!(" {:>16}", format!("{:.4}", c.auc)));
    }
    out.push('\n');
    out.push_str(&format!("clean accuracy {:.4}\n", r.clean_acc));
    if let Some(d) = &r.deepfool_rms {
        out.push_str(&format!(
            "DeepFool RMS distance: mean {:.4}, median {:.4} (p5 {:.4}, p95 {:.4})\n",
            d.mean, d.p50, d.p5, d.p95
        ));
    }
    out
}
