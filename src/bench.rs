//! `bapw bench`: throughput of the real engine on the reference's workload (LeNet-5, MNIST,
//! batch 128, layer-wise cubic pruning to 90% over 14,070 steps with masks every 100 steps,
//! Adam 1e-3, label smoothing 0.1), timed from the consumer's side of the event stream, so
//! everything a user's run pays (events, logging, pruning) is in the figure.
use crate::events::{ErrorReport, Event, RunStarted, Step};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::config::preset::{Mode, Preset, UniformAttack};
use crate::device::DeviceChoice;
use crate::train::{self, RunSpec};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// natural, adversarial (FGSM eps 0.3, as the reference's `fgsm`) or bap.
    #[arg(long, default_value = "bap")]
    pub mode: String,
    /// Timed steps (one warm-up step runs before them).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// LibTorch intra-op threads (0 = LibTorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: i32,
    #[arg(long, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// mnist (needs `bapw data fetch mnist`) or synthetic (random MNIST-shaped images).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time the robustness evaluation (FGSM + PGD grids and DeepFool-100) instead of training,
    /// plus DeepFool alone beside the PyTorch peer's DeepFool on the same weights and images.
    #[arg(long)]
    pub eval: bool,
    /// Test images for `--eval`.
    #[arg(long, default_value_t = 1000)]
    pub subset: usize,
    /// LeNet-5 weights for `--eval` (a bapw checkpoint); default: the seeded initialisation.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Run the GPU/CPU monitor's sampler thread every this many ms while training (0: off), to
    /// measure what sampling costs; the result then has the sampler's statistics, its last
    /// sample and NVML's device table.
    #[arg(long, default_value_t = 0)]
    pub sample_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalBenchResult {
    pub images: usize,
    pub threads: i32,
    /// Full evaluation: FGSM and PGD-10 over the paper's ε grid, DeepFool-100 cut at every δ.
    pub eval_seconds: f64,
    /// DeepFool (5 iterations, 10 candidates) + cutoff-scale, as in training.
    pub deepfool_images_per_s: f64,
    /// The PyTorch peer's (`tests/python/bap_peer.py`) DeepFool on the same weights and images
    /// (None without Python/torch).
    pub reference_deepfool_images_per_s: Option<f64>,
}

/// `bapw bench --eval`.
pub fn run_eval(a: &BenchArgs) -> Result<EvalBenchResult> {
    use crate::attack::{Cut, CutoffScale, DeepFool};
    use tch::{Device, Tensor};
    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    let p = Preset::load("mnist-natural")?;
    let dir = crate::data::dataset_folder(&p.data)?;
    let ds = crate::data::load_idx_dir(&dir, "mnist")
        .map_err(|e| anyhow::anyhow!("{e:#} (run `bapw data fetch mnist`)"))?
        .subset(1, a.subset);
    tch::manual_seed(0);
    let net = crate::model::Net::new(&p.model, ds.shape(), ds.classes, Device::Cpu)?;
    let weights = tempfile::Builder::new().suffix(".safetensors").tempfile()?;
    if let Some(ck) = &a.checkpoint {
        let t = Tensor::read_safetensors(ck)?;
        net.load_tensors(&t, &ck.display().to_string())?;
    }
    crate::run::checkpoint::write_tensors_atomic(weights.path(), &net.named_params())?;
    let model: &dyn crate::attack::Classifier = &net;
    let mut spec = crate::eval::EvalSpec::from_preset(&p)?;
    spec.deepfool_iters = 100;
    let t0 = Instant::now();
    crate::eval::evaluate(model, &ds.test_x, &ds.test_y, &spec)?;
    let eval_seconds = t0.elapsed().as_secs_f64();

    let df = DeepFool::default();
    let cs = CutoffScale {
        cut: Cut::BatchMean,
        rho: 1.0,
    };
    let n = ds.n_test() as i64;
    let t1 = Instant::now();
    let mut i = 0;
    while i < n {
        let len = 128.min(n - i);
        let x = ds.test_x.narrow(0, i, len);
        let r = df.run(model, &x)?;
        let _ = cs.apply(&x, &r.x_adv);
        i += len;
    }
    let deepfool_images_per_s = n as f64 / t1.elapsed().as_secs_f64();

    let reference = reference_python().and_then(|py| {
        // The repository's eager-PyTorch peer (benches/README.md); absent in an installed copy.
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/bap_peer.py");
        if !script.exists() {
            return None;
        }
        let out_file = tempfile::Builder::new()
            .suffix(".safetensors")
            .tempfile()
            .ok()?;
        let out = std::process::Command::new(py)
            .arg(&script)
            .arg("--data")
            .arg(&dir)
            .arg("--weights")
            .arg(weights.path())
            .arg("--dump-deepfool")
            .arg(out_file.path())
            .args([
                "--images",
                &a.subset.to_string(),
                "--threads",
                &tch::get_num_threads().to_string(),
            ])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["deepfool_images_per_s"].as_f64()
    });
    Ok(EvalBenchResult {
        images: n as usize,
        threads: tch::get_num_threads(),
        eval_seconds,
        deepfool_images_per_s,
        reference_deepfool_images_per_s: reference,
    })
}

/// A Python with torch for the PyTorch peer: `BAPW_PYTHON`, else the LibTorch venv's.
fn reference_python() -> Option<PathBuf> {
    let p = std::env::var_os("BAPW_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let lt = std::env::var_os("LIBTORCH").map(PathBuf::from)?;
            Some(lt.join("../../../../bin/python"))
        })
        .or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from)?;
            Some(home.join(".cache/bapw/venv-torch-2.13.0/bin/python"))
        })?;
    p.exists().then_some(p)
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub mode: String,
    pub steps: usize,
    pub batch: usize,
    pub threads: i32,
    pub device: String,
    pub seconds: f64,
    pub samples_per_s: f64,
    pub ms_per_step: f64,
    pub attack_ms: f64,
    pub train_ms: f64,
    pub prune_ms: f64,
    pub peak_rss_mib: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorReport>,
}

/// `--sample-ms`: what the sampler did beside the run.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorReport {
    pub interval_ms: u64,
    pub stats: crate::monitor::SamplerStats,
    pub last: Option<crate::monitor::Sample>,
    /// NVML's devices and how CUDA's numbers map onto them (empty without NVML).
    pub nvml_gpus: Vec<crate::monitor::visible::NvmlGpu>,
    pub mapping: Option<crate::monitor::visible::Mapping>,
}

/// The preset the benchmark trains: the reference's set-up for `mode`.
pub fn bench_preset(a: &BenchArgs) -> Result<Preset> {
    let mut p = Preset::load("mnist-natural")?;
    p.name = format!("bench-{}", a.mode);
    p.train.mode = match a.mode.as_str() {
        "natural" => Mode::Natural,
        "adversarial" | "fgsm" => Mode::Adversarial,
        "bap" => Mode::Bap,
        other => bail!("--mode {other:?}: use natural, adversarial or bap"),
    };
    p.adv.attack = UniformAttack::Fgsm;
    p.adv.eps = 0.3;
    p.adv.budget_every = usize::MAX / 2;
    p.train.batch_size = a.batch;
    p.train.threads = a.threads;
    p.train.epochs = 1;
    p.train.log_every = usize::MAX / 2;
    // Same schedule as the reference: cubic 0 -> 0.9 over steps 0..14070, every 100.
    p.prune.begin_epoch = None;
    p.prune.end_epoch = None;
    p.prune.begin_step = Some(0);
    p.prune.end_step = Some(14_070);
    p.data.dataset = a.dataset.clone();
    if a.dataset == "synthetic" {
        p.data.synthetic.train = (a.steps + 1) * a.batch;
        p.data.synthetic.test = 16;
    }
    p.data.train_subset = (a.steps + 1) * a.batch;
    p.data.test_subset = 16;
    p.eval.every = 0;
    p.eval.subset = 16;
    p.eval.attacks = vec![];
    p.checkpoint.every = 0;
    Ok(p)
}

/// Peak resident memory of this process (VmHWM), MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn run(a: &BenchArgs) -> Result<BenchResult> {
    let preset = bench_preset(a)?;
    let runs = tempfile::tempdir()?;
    let label = preset.name.clone();
    let spec = RunSpec::new(preset, label, PathBuf::from(runs.path()))
        .named(Some("bench".into()))
        .on(a.device);
    let (sample_tx, mut samples) = tokio::sync::mpsc::channel(1024);
    let sampler = (a.sample_ms > 0)
        .then(|| {
            crate::monitor::Sampler::start(std::time::Duration::from_millis(a.sample_ms), sample_tx)
        })
        .transpose()?;
    let mut handle = train::spawn(spec)?;
    let (mut t_start, mut t_end) = (None, None);
    let (mut attack, mut trainm, mut prune) = (0.0, 0.0, 0.0);
    let (mut device, mut threads) = (String::new(), 0);
    let mut error = None;
    while let Some(ev) = handle.events.blocking_recv() {
        match ev {
            Event::RunStarted(RunStarted {
                device: d,
                threads: t,
                ..
            }) => {
                device = d;
                threads = t;
            }
            Event::Step(Step { step, timing, .. }) => {
                if step == 0 {
                    t_start = Some(Instant::now());
                } else if step <= a.steps {
                    attack += timing.attack_ms;
                    trainm += timing.train_ms;
                    prune += timing.prune_ms;
                    if step == a.steps {
                        t_end = Some(Instant::now());
                        let _ = handle.commands.send(train::Command::Stop);
                    }
                }
            }
            Event::Error(ErrorReport { message, .. }) => error = Some(message),
            _ => {}
        }
    }
    let _ = handle.thread.join();
    let monitor = sampler.map(|s| {
        let stats = s.stop();
        let mut last = None;
        while let Ok(sample) = samples.try_recv() {
            last = Some(sample);
        }
        let nvml = crate::monitor::NvmlSource::open().ok();
        MonitorReport {
            interval_ms: a.sample_ms,
            stats,
            last,
            nvml_gpus: nvml
                .as_ref()
                .map(|n| n.table().to_vec())
                .unwrap_or_default(),
            mapping: nvml.map(|n| n.mapping().clone()),
        }
    });
    if let Some(e) = error {
        bail!("{e}");
    }
    let (Some(t0), Some(t1)) = (t_start, t_end) else {
        bail!("the run ended before {} steps", a.steps);
    };
    let seconds = (t1 - t0).as_secs_f64();
    let n = a.steps as f64;
    Ok(BenchResult {
        mode: a.mode.clone(),
        steps: a.steps,
        batch: a.batch,
        threads,
        device,
        seconds,
        samples_per_s: n * a.batch as f64 / seconds,
        ms_per_step: seconds * 1e3 / n,
        attack_ms: attack / n,
        train_ms: trainm / n,
        prune_ms: prune / n,
        peak_rss_mib: peak_rss_mib(),
        monitor,
    })
}

pub fn print(r: &BenchResult, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("serialises"));
    } else {
        println!(
            "{} on {} ({} threads): {} steps of {} in {:.2} s = {:.1} samples/s\n  per step {:.1} ms: attack {:.1}, forward-backward {:.1}, pruning {:.2}; peak RSS {:.0} MiB",
            r.mode, r.device, r.threads, r.steps, r.batch, r.seconds, r.samples_per_s, r.ms_per_step,
            r.attack_ms, r.train_ms, r.prune_ms, r.peak_rss_mib
        );
        if let Some(m) = &r.monitor {
            println!(
                "  sampler every {} ms: {} samples, {:.2} ms busy in all, longest {:.2} ms{}",
                m.interval_ms,
                m.stats.samples,
                m.stats.busy_ms,
                m.stats.max_sample_ms,
                m.stats
                    .gpu_unavailable
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            );
        }
    }
}

/// `bapw bench`: the training throughput, or with `--eval` the evaluation's, printed as a
/// line (or JSON with `--json`).
pub fn cli(a: &BenchArgs) -> Result<()> {
    if !a.eval {
        let r = run(a)?;
        print(&r, a.json);
        return Ok(());
    }
    let r = run_eval(a)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "robustness evaluation of {} images ({} threads): {:.1} s\nDeepFool 5x10 + cutoff-scale: {:.1} images/s (reference: {})",
            r.images,
            r.threads,
            r.eval_seconds,
            r.deepfool_images_per_s,
            r.reference_deepfool_images_per_s
                .map(|v| format!("{v:.1} images/s"))
                .unwrap_or_else(|| "not run: no Python with torch".into())
        );
    }
    Ok(())
}
