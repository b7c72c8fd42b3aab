//! The engine's one typed event stream. The TUI, the headless printer and the run's
//! `events.jsonl` all consume exactly these values, so a finished run replays exactly.
use serde::{Deserialize, Serialize};

use crate::prune::LayerSparsity;

/// One prunable tensor as the run starts: its PyTorch-style name and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub name: String,
    pub numel: i64,
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
    /// attack at every budget up to this one (older logs counted any correct prediction at
    /// that budget).
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
    /// `fgsm_above_pgd`, `fgsm_above_apgd`, `accuracy_rises` or `zero_gradients`.
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

impl EndState {
    /// As written in `events.jsonl` and shown by `bapw runs`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndState::Finished => "finished",
            EndState::Stopped => "stopped",
            EndState::Failed => "failed",
        }
    }
}

/// The run begins (or resumes): what it trains, where, and its resolved schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub run_id: String,
    pub run_dir: String,
    pub preset: String,
    pub mode: String,
    pub dataset: String,
    pub model: String,
    pub device: String,
    /// The device's model (the GPU's from NVML, the CPU's from /proc/cpuinfo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    /// Its memory in bytes: the GPU's, or the machine's for the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_memory: Option<u64>,
    pub threads: i32,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub batch_size: usize,
    pub train_examples: usize,
    pub test_examples: usize,
    pub layers: Vec<LayerInfo>,
    /// Resolved pruning schedule (steps, not epochs), so a viewer can draw the target curve.
    pub schedule: crate::prune::ScheduleSpec,
    /// Step the run starts from (non-zero when resumed).
    pub start_step: usize,
}

/// One training step done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub clean_loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_loss: Option<f64>,
    /// Fraction of the batch classified correctly (clean).
    pub train_acc: f64,
    pub target_sparsity: f64,
    pub sparsity: f64,
    pub samples_per_s: f64,
    pub timing: StepTiming,
}

/// The pruning masks were recomputed for a new target sparsity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskUpdate {
    pub step: usize,
    pub target_sparsity: f64,
    pub sparsity: f64,
    pub layers: Vec<LayerSparsity>,
}

/// An epoch ended; the test set was measured on the current weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochEnd {
    pub epoch: usize,
    pub step: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub seconds: f64,
}

/// Statistics of the adversarial budgets of one batch (every `adv.budget_every` steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub step: usize,
    pub mode: String,
    /// DeepFool RMS distances d_i (BAP) or absent (uniform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distances: Option<Distribution>,
    /// Budgets actually used, eps_i = rho * min(d_i, delta) (BAP) or the constant ε.
    pub budgets: Distribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    pub rho: f64,
    /// Fraction of examples whose perturbation was cut (BAP).
    pub cut_fraction: f64,
    /// Fraction of adversarial examples that flip the model's prediction.
    pub flip_rate: f64,
}

/// A robustness evaluation of the current weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    pub step: usize,
    pub epoch: usize,
    pub examples: usize,
    pub clean_acc: f64,
    pub curves: Vec<AttackCurve>,
    pub seconds: f64,
    /// The images used (absent in older logs: the first `examples` test images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<EvalSubset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<AttackSettings>,
    /// Per threat model, the worst case over its attacks at each budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worst_case: Vec<AttackCurve>,
    /// Gradient-masking checks that fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<MaskingFlag>,
}

/// A hyperparameter changed mid-run (applies from the next step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamChanged {
    pub step: usize,
    pub key: String,
    pub old: String,
    pub new: String,
}

/// The run paused before this step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paused {
    pub step: usize,
}

/// The run resumed at this step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    pub step: usize,
}

/// The run went back to the checkpoint of `to_step` (`R` after a non-finite loss):
/// everything reported after that checkpoint no longer holds, and the log was cut back to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    /// Where the run was.
    pub step: usize,
    pub to_step: usize,
}

/// A run-health rule of `[alerts]` fired: the run pauses (workbench) or stops with a checkpoint
/// (headless, exit code 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub step: usize,
    /// `diverging`, `collapse` or `stall`.
    pub rule: String,
    /// The rule and the numbers, as the user reads them.
    pub message: String,
}

/// A checkpoint was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub step: usize,
    pub path: String,
}

/// A note for the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub step: usize,
    pub text: String,
}

/// Something went wrong, or a command was refused; the run may go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub step: usize,
    pub message: String,
}

/// The run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    pub step: usize,
    pub state: EndState,
    /// NaN (written as null) when the run failed before measuring.
    #[serde(deserialize_with = "f64_or_nan")]
    pub sparsity: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub test_acc: f64,
    pub seconds: f64,
}

impl Eval {
    /// The mean of the curves' AUCs (what `bapw runs` and `checkpoint.best = "robust_auc"`
    /// rank by); NaN without curves.
    pub fn mean_auc(&self) -> f64 {
        self.curves.iter().map(|c| c.auc).sum::<f64>() / self.curves.len() as f64
    }

    /// The headline robustness of an evaluation: the mean over its threat models of the
    /// worst-case AUC (an image counts only if it survives every attack of that threat model);
    /// the mean AUC for logs that predate the worst case.
    pub fn robust_auc(&self) -> f64 {
        if self.worst_case.is_empty() {
            return self.mean_auc();
        }
        self.worst_case.iter().map(|c| c.auc).sum::<f64>() / self.worst_case.len() as f64
    }
}

/// Declares [`Event`], one variant per kind holding its named struct, and `From` for each
/// struct (`sink.emit(Step { .. }.into())`). Serialised with the struct's fields beside
/// `"kind"`, exactly as the struct variants of earlier versions were, so old logs still read.
macro_rules! events {
    ($($variant:ident($ty:ident) = $kind:literal),* $(,)?) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Event {
            $(#[serde(rename = $kind)] $variant($ty),)*
        }

        impl Event {
            /// The `kind` tag as written to `events.jsonl`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => $kind,)*
                }
            }
        }

        $(impl From<$ty> for Event {
            fn from(e: $ty) -> Event {
                Event::$variant(e)
            }
        })*
    };
}

events!(
    RunStarted(RunStarted) = "run_started",
    Step(Step) = "step",
    MaskUpdate(MaskUpdate) = "mask_update",
    EpochEnd(EpochEnd) = "epoch_end",
    Budget(Budget) = "budget",
    Eval(Eval) = "eval",
    ParamChanged(ParamChanged) = "param_changed",
    Paused(Paused) = "paused",
    Resumed(Resumed) = "resumed",
    Checkpoint(Checkpoint) = "checkpoint",
    RolledBack(RolledBack) = "rolled_back",
    Alert(Alert) = "alert",
    Message(Message) = "message",
    Error(ErrorReport) = "error",
    Finished(Finished) = "finished",
);

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
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
