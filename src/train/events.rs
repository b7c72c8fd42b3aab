//! The engine's one typed event stream. The TUI, the headless printer and the run's
//! `events.jsonl` all consume exactly these values, so a finished run replays exactly.
use serde::{Deserialize, Serialize};

/// One prunable tensor as the run starts: its PyTorch-style name and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub name: String,
    pub numel: i64,
}

/// Measured sparsity of one prunable tensor after a mask update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSparsity {
    pub name: String,
    pub kept: i64,
    pub total: i64,
    pub sparsity: f64,
}

/// Wall-clock split of one training step, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    pub attack_ms: f64,
    pub train_ms: f64,
    pub prune_ms: f64,
}

/// Summary statistics of one set of per-example values (distances or budgets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Left edge of the first bin and width of every bin.
    pub lo: f64,
    pub bin_width: f64,
    pub counts: Vec<u64>,
    pub p5: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub mean: f64,
    pub std: f64,
}

/// One attack's accuracy curve over the evaluation grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttackCurve {
    /// `fgsm`, `pgd`, `apgd`, `deepfool`, `apgd-l2`; `worst-linf` / `worst-l2` for the
    /// worst case over the attacks of one threat model.
    pub attack: String,
    /// The budgets (L-inf ε for FGSM/PGD/APGD, RMS-L2 δ for DeepFool-cut and APGD-L2).
    pub grid: Vec<f64>,
    /// Robust accuracy: the fraction of the images classified correctly clean and under the
    /// attack at every budget up to this one (logs before bapw 0.2 counted any correct
    /// prediction at that budget).
    pub accuracy: Vec<f64>,
    /// Trapezoid area under the curve divided by the grid's span.
    pub auc: f64,
    /// Standard error of the AUC over the images (the AUC is the mean of each image's own
    /// AUC); absent in older logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_se: Option<f64>,
}

/// Which test images an evaluation used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSubset {
    /// Seed of the class-stratified draw (`eval.subset_seed`).
    pub seed: u64,
    /// Images used, and of how many test images.
    pub size: usize,
    pub of: usize,
}

/// Every setting that decides an evaluation's attacks, recorded with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSettings {
    pub pgd_steps: usize,
    pub pgd_restarts: usize,
    /// PGD's step is this factor times ε / steps.
    pub pgd_step_factor: f64,
    pub apgd_steps: usize,
    pub apgd_restarts: usize,
    /// APGD-T's target classes (capped at classes - 1).
    pub apgd_targets: usize,
    pub apgd_rho: f64,
    pub apgd_momentum: f64,
    pub deepfool_iters: usize,
    pub deepfool_candidates: usize,
    pub deepfool_overshoot: f64,
    /// Seed of LibTorch's generator for the random starts.
    pub seed: i64,
}

/// A sign that an evaluation's gradients may mislead its attacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskingFlag {
    /// `fgsm_above_pgd`, `accuracy_rises` or `zero_gradients`.
    pub check: String,
    /// The check and its numbers, for people.
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    Finished,
    Stopped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        run_dir: String,
        preset: String,
        mode: String,
        dataset: String,
        model: String,
        device: String,
        threads: i32,
        epochs: usize,
        steps_per_epoch: usize,
        total_steps: usize,
        batch_size: usize,
        train_examples: usize,
        test_examples: usize,
        layers: Vec<LayerInfo>,
        /// Resolved pruning schedule (steps, not epochs), so a viewer can draw the target curve.
        schedule: crate::prune::ScheduleSpec,
        /// Step the run starts from (non-zero when resumed).
        start_step: usize,
    },
    Step {
        step: usize,
        epoch: usize,
        loss: f64,
        clean_loss: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adv_loss: Option<f64>,
        /// Fraction of the batch classified correctly (clean).
        train_acc: f64,
        target_sparsity: f64,
        sparsity: f64,
        samples_per_s: f64,
        timing: StepTiming,
    },
    MaskUpdate {
        step: usize,
        target_sparsity: f64,
        sparsity: f64,
        layers: Vec<LayerSparsity>,
    },
    EpochEnd {
        epoch: usize,
        step: usize,
        train_loss: f64,
        train_acc: f64,
        test_loss: f64,
        test_acc: f64,
        seconds: f64,
    },
    Budget {
        step: usize,
        mode: String,
        /// DeepFool RMS distances d_i (BAP) or absent (uniform).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distances: Option<Distribution>,
        /// Budgets actually used, eps_i = rho * min(d_i, delta) (BAP) or the constant ε.
        budgets: Distribution,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delta: Option<f64>,
        rho: f64,
        /// Fraction of examples whose perturbation was cut (BAP).
        cut_fraction: f64,
        /// Fraction of adversarial examples that flip the model's prediction.
        flip_rate: f64,
    },
    Eval {
        step: usize,
        epoch: usize,
        examples: usize,
        clean_acc: f64,
        curves: Vec<AttackCurve>,
        seconds: f64,
        /// The images used (absent in older logs: the first `examples` test images).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subset: Option<EvalSubset>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settings: Option<AttackSettings>,
        /// Per threat model, the worst case over its attacks at each budget.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        worst_case: Vec<AttackCurve>,
        /// Gradient-masking checks that fired.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flags: Vec<MaskingFlag>,
    },
    ParamChanged {
        step: usize,
        key: String,
        old: String,
        new: String,
    },
    Paused {
        step: usize,
    },
    Resumed {
        step: usize,
    },
    Checkpoint {
        step: usize,
        path: String,
    },
    Message {
        step: usize,
        text: String,
    },
    Error {
        step: usize,
        message: String,
    },
    Finished {
        step: usize,
        state: EndState,
        /// NaN (written as null) when the run failed before measuring.
        #[serde(deserialize_with = "f64_or_nan")]
        sparsity: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        test_acc: f64,
        seconds: f64,
    },
}

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Event {
    /// The `kind` tag as written to `events.jsonl`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::Step { .. } => "step",
            Event::MaskUpdate { .. } => "mask_update",
            Event::EpochEnd { .. } => "epoch_end",
            Event::Budget { .. } => "budget",
            Event::Eval { .. } => "eval",
            Event::ParamChanged { .. } => "param_changed",
            Event::Paused { .. } => "paused",
            Event::Resumed { .. } => "resumed",
            Event::Checkpoint { .. } => "checkpoint",
            Event::Message { .. } => "message",
            Event::Error { .. } => "error",
            Event::Finished { .. } => "finished",
        }
    }
}

/// Reads an `events.jsonl`. A truncated last line (a run killed mid-write) is skipped; a bad
/// line anywhere else is an error naming the file and line.
pub fn read_events(path: &std::path::Path) -> anyhow::Result<Vec<Event>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_events(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse_events(text: &str) -> anyhow::Result<Vec<Event>> {
    let lines: Vec<&str> = text.lines().collect();
    let complete = text.ends_with('\n');
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(ev) => out.push(ev),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => anyhow::bail!("line {}: {e}", i + 1),
        }
    }
    Ok(out)
}
