//! Presets: one TOML file says everything about a run. Every section has defaults, so a preset
//! (or a user preset that `inherit`s a shipped one) sets only what differs.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::alerts::AlertsCfg;
use super::spans;
use crate::prune::{ScheduleKind, ScheduleSpec, Scope};

// Range and consistency checks of a parsed preset (`Preset::validate`, `Preset::warnings`).
mod validate;
pub use validate::suggest;

pub const SCHEMA_VERSION: u32 = 1;

/// Presets compiled into the binary, so it works wherever it is copied.
pub const SHIPPED: &[(&str, &str)] = &[
    ("smoke", include_str!("../../presets/smoke.toml")),
    (
        "mnist-quick",
        include_str!("../../presets/mnist-quick.toml"),
    ),
    (
        "mnist-natural",
        include_str!("../../presets/mnist-natural.toml"),
    ),
    (
        "mnist-adversarial",
        include_str!("../../presets/mnist-adversarial.toml"),
    ),
    ("mnist-bap", include_str!("../../presets/mnist-bap.toml")),
    (
        "mnist-bap-quick",
        include_str!("../../presets/mnist-bap-quick.toml"),
    ),
    (
        "mnist-bap-released",
        include_str!("../../presets/mnist-bap-released.toml"),
    ),
    (
        "fashion-bap",
        include_str!("../../presets/fashion-bap.toml"),
    ),
    (
        "cifar10-bap",
        include_str!("../../presets/cifar10-bap.toml"),
    ),
];

/// What `bapw` opens the first time and `bapw train` trains without `--preset`: the method
/// bapw exists for, sized to fill all four panes on a CPU in minutes.
pub const DEFAULT_PRESET: &str = "mnist-bap-quick";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Preset {
    pub schema_version: u32,
    pub name: String,
    pub description: String,
    /// Name of a shipped preset this one starts from (resolved at load time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherit: Option<String>,
    pub data: DataCfg,
    pub model: ModelCfg,
    pub train: TrainCfg,
    pub prune: PruneCfg,
    pub adv: AdvCfg,
    pub eval: EvalCfg,
    pub checkpoint: CheckpointCfg,
    pub alerts: AlertsCfg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataCfg {
    /// `mnist`, `fashion-mnist`, `cifar10` or `synthetic`.
    pub dataset: String,
    /// Folder with the files; empty = the user data folder (`bapw data fetch`).
    pub path: String,
    /// Use only the first N training / test examples (0 = all).
    pub train_subset: usize,
    pub test_subset: usize,
    pub synthetic: SyntheticCfg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticCfg {
    pub train: usize,
    pub test: usize,
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    pub classes: i64,
    /// Spread of each blob around its class centre.
    pub noise: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelCfg {
    /// `lenet5`, `mlp`, `cnn` (cleverhans basic CNN) or `fitnet`.
    pub arch: String,
    /// Hidden widths of `mlp`.
    pub hidden: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Natural,
    Adversarial,
    Bap,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Natural => "natural",
            Mode::Adversarial => "adversarial",
            Mode::Bap => "bap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Adam,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainCfg {
    pub mode: Mode,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: Optimizer,
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_eps: f64,
    pub label_smoothing: f64,
    pub seed: u64,
    /// LibTorch intra-op threads (0 = LibTorch's default).
    pub threads: i32,
    /// Headless progress line every N steps.
    pub log_every: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PruneCfg {
    pub schedule: ScheduleKind,
    pub initial_sparsity: f64,
    pub final_sparsity: f64,
    /// Begin / end in steps, or in epochs (converted with the real steps per epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub begin_step: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_step: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub begin_epoch: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_epoch: Option<f64>,
    pub frequency: usize,
    pub power: f64,
    pub scope: Scope,
    /// Prunable weights to leave dense, by name (e.g. `conv1.weight`).
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniformAttack {
    Fgsm,
    Pgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvLoss {
    /// `w * CE(clean) + (1 - w) * CE(adv)`.
    Mix,
    /// `CE(clean) + beta * KL(f(x) || f(x_adv))`.
    Trades,
}

/// Which labels the uniform attack's cross-entropy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvLabels {
    /// The model's own predictions on the clean batch (the authors' code gives cleverhans no
    /// labels, so its FGSM does this; no label leaking).
    Predicted,
    /// The true labels.
    True,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cutoff {
    /// delta = batch mean of the per-example RMS norms (the "estimated" cut-off).
    BatchMean,
    Fixed,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvCfg {
    /// Uniform-budget mode: the attack and its fixed L-inf budget.
    pub attack: UniformAttack,
    pub eps: f64,
    pub pgd_steps: usize,
    /// PGD step size as an absolute L-inf step (0 = 2.5 * eps / steps).
    pub pgd_step_size: f64,
    pub pgd_random_start: bool,
    /// Labels of the uniform attack's cross-entropy: `predicted` (default) or `true`.
    pub labels: AdvLabels,
    pub loss: AdvLoss,
    /// Weight of the clean loss in `mix`.
    pub clean_weight: f64,
    pub trades_beta: f64,
    /// BAP: DeepFool settings for the training examples.
    pub deepfool_iters: usize,
    pub candidates: usize,
    pub overshoot: f64,
    pub cutoff: Cutoff,
    /// Cut-off for `cutoff = "fixed"` (per-pixel RMS).
    pub delta: f64,
    pub rho: f64,
    /// Emit a `budget` event every N steps.
    pub budget_every: usize,
    /// Upper edge of the budget and distance histograms of `budget` events (30 fixed bins
    /// over [0, this]; larger values count in the last bin). Default 0.3 suits MNIST's RMS
    /// distances and ε; use about 0.05 on CIFAR.
    pub budget_hist_max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalCfg {
    /// Robustness evaluation every N epochs (0 = only at the end).
    pub every: usize,
    /// Test images used (0 = whole test set): a class-stratified random subset.
    pub subset: usize,
    /// Seed of the subset's draw (the same in every run, so runs compare on one sample).
    pub subset_seed: u64,
    /// Any of fgsm, pgd, apgd (APGD-CE + APGD-T, L-inf), deepfool, apgd-l2.
    pub attacks: Vec<String>,
    /// L-inf ε grid for FGSM and PGD.
    pub eps: Vec<f64>,
    /// RMS-L2 δ grid for the DeepFool-cut curve.
    pub deltas: Vec<f64>,
    pub pgd_steps: usize,
    pub pgd_restarts: usize,
    /// APGD iterations per run (AutoAttack: 100) and runs from fresh random starts.
    pub apgd_steps: usize,
    pub apgd_restarts: usize,
    pub deepfool_iters: usize,
    pub batch_size: usize,
    /// The ε shown as "robust accuracy" in the loss pane (PGD at this ε).
    pub robust_eps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointCfg {
    /// Write a checkpoint every N steps (0 = only at the end).
    pub every: usize,
    /// Keep the last K periodic checkpoints.
    pub keep: usize,
    /// Also keep `checkpoints/best.safetensors`, the weights with the best value of this
    /// metric so far: `test_acc` (at each epoch end), `robust_auc` (mean AUC of each
    /// evaluation) or `none`.
    pub best: BestMetric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BestMetric {
    None,
    TestAcc,
    RobustAuc,
}

impl BestMetric {
    pub fn as_str(&self) -> &'static str {
        match self {
            BestMetric::None => "none",
            BestMetric::TestAcc => "test_acc",
            BestMetric::RobustAuc => "robust_auc",
        }
    }
}

impl Default for Preset {
    fn default() -> Self {
        Preset {
            schema_version: SCHEMA_VERSION,
            name: String::new(),
            description: String::new(),
            inherit: None,
            data: DataCfg::default(),
            model: ModelCfg::default(),
            train: TrainCfg::default(),
            prune: PruneCfg::default(),
            adv: AdvCfg::default(),
            eval: EvalCfg::default(),
            checkpoint: CheckpointCfg::default(),
            alerts: AlertsCfg::default(),
        }
    }
}

impl Default for DataCfg {
    fn default() -> Self {
        DataCfg {
            dataset: "mnist".into(),
            path: String::new(),
            train_subset: 0,
            test_subset: 0,
            synthetic: SyntheticCfg::default(),
        }
    }
}

impl Default for SyntheticCfg {
    fn default() -> Self {
        SyntheticCfg {
            train: 2048,
            test: 512,
            channels: 1,
            height: 28,
            width: 28,
            classes: 10,
            noise: 0.15,
            seed: 7,
        }
    }
}

impl Default for ModelCfg {
    fn default() -> Self {
        ModelCfg {
            arch: "lenet5".into(),
            hidden: vec![256, 128],
        }
    }
}

impl Default for TrainCfg {
    fn default() -> Self {
        TrainCfg {
            mode: Mode::Natural,
            epochs: 70,
            batch_size: 128,
            optimizer: Optimizer::Adam,
            lr: 1e-3,
            momentum: 0.9,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            label_smoothing: 0.1,
            seed: 0,
            threads: 0,
            log_every: 50,
        }
    }
}

impl Default for PruneCfg {
    fn default() -> Self {
        PruneCfg {
            schedule: ScheduleKind::Polynomial,
            initial_sparsity: 0.0,
            final_sparsity: 0.9,
            begin_step: None,
            end_step: None,
            begin_epoch: None,
            end_epoch: None,
            frequency: 100,
            power: 3.0,
            scope: Scope::Layer,
            exclude: Vec::new(),
        }
    }
}

impl Default for AdvCfg {
    fn default() -> Self {
        AdvCfg {
            attack: UniformAttack::Fgsm,
            eps: 0.3,
            pgd_steps: 10,
            pgd_step_size: 0.0,
            pgd_random_start: true,
            labels: AdvLabels::Predicted,
            loss: AdvLoss::Mix,
            clean_weight: 0.5,
            trades_beta: 6.0,
            deepfool_iters: 5,
            candidates: 10,
            overshoot: 0.02,
            cutoff: Cutoff::BatchMean,
            delta: 0.1,
            rho: 1.0,
            budget_every: 20,
            budget_hist_max: 0.3,
        }
    }
}

impl Default for EvalCfg {
    fn default() -> Self {
        EvalCfg {
            every: 1,
            subset: 500,
            subset_seed: 0,
            attacks: vec!["fgsm".into(), "pgd".into(), "deepfool".into()],
            eps: vec![0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            deltas: vec![0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2],
            pgd_steps: 10,
            pgd_restarts: 1,
            apgd_steps: 100,
            apgd_restarts: 1,
            deepfool_iters: 20,
            batch_size: 250,
            robust_eps: 0.1,
        }
    }
}

impl Default for CheckpointCfg {
    fn default() -> Self {
        CheckpointCfg {
            every: 1000,
            keep: 3,
            best: BestMetric::TestAcc,
        }
    }
}

/// One problem found in a preset, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem of one preset file at once.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct PresetError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl PresetError {
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let loc = match p.line {
                Some(l) => format!("{}:{}", self.file, l),
                None => self.file.clone(),
            };
            if p.key.is_empty() {
                out.push_str(&format!("{loc}: {}", p.message));
            } else {
                out.push_str(&format!("{loc}: {}: {}", p.key, p.message));
            }
        }
        out
    }
}

pub const DATASETS: &[&str] = &["mnist", "fashion-mnist", "cifar10", "synthetic"];
pub const ARCHS: &[&str] = &["lenet5", "mlp", "cnn", "fitnet"];
pub const ATTACKS: &[&str] = &["fgsm", "pgd", "apgd", "deepfool", "apgd-l2"];

impl Preset {
    /// Resolves a preset name or path: an existing file path, then the user's presets, then
    /// the shipped ones.
    pub fn load(name_or_path: &str) -> Result<Preset, PresetError> {
        Self::load_with(name_or_path, &[])
    }

    /// Loads and applies `--set key=value` overrides before validating.
    pub fn load_with(name_or_path: &str, sets: &[String]) -> Result<Preset, PresetError> {
        let (file, text) = Self::source(name_or_path)?;
        Self::from_toml_str(&file, &text, sets)
    }

    fn source(name_or_path: &str) -> Result<(String, String), PresetError> {
        let err = |file: &str, msg: String| PresetError {
            file: file.to_string(),
            problems: vec![Problem {
                key: String::new(),
                line: None,
                message: msg,
            }],
        };
        let p = Path::new(name_or_path);
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if looks_like_path {
            return read_text(p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|m| err(&p.display().to_string(), m));
        }
        if let Ok(dir) = crate::config::paths::user_presets_dir() {
            let user = dir.join(format!("{name_or_path}.toml"));
            if user.exists() {
                return read_text(&user)
                    .map(|t| (user.display().to_string(), t))
                    .map_err(|m| err(&user.display().to_string(), m));
            }
        }
        if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
            return Ok((format!("presets/{name_or_path}.toml"), text.to_string()));
        }
        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        Err(err(
            name_or_path,
            format!(
                "no such preset{}; shipped presets: {}",
                suggest(name_or_path, &names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default(),
                names.join(", ")
            ),
        ))
    }

    /// Parses TOML text (with `inherit` and `--set` overrides) and validates it.
    pub fn from_toml_str(file: &str, text: &str, sets: &[String]) -> Result<Preset, PresetError> {
        let mut problems = Vec::new();
        let mut value: toml::Table = match text.parse::<toml::Table>() {
            Ok(v) => v,
            Err(e) => {
                return Err(PresetError {
                    file: file.into(),
                    problems: vec![toml_problem(text, &e)],
                })
            }
        };
        if !value.contains_key("schema_version") {
            problems.push(Problem {
                key: "schema_version".into(),
                line: None,
                message: if text.trim().is_empty() {
                    "the file is empty (a preset needs at least `schema_version = 1`)".into()
                } else {
                    format!("missing (add `schema_version = {SCHEMA_VERSION}` at the top)")
                },
            });
        }
        if let Some(toml::Value::String(base)) = value.get("inherit").cloned() {
            match SHIPPED.iter().find(|(n, _)| *n == base) {
                Some((_, base_text)) => {
                    let mut base_table: toml::Table =
                        base_text.parse().expect("shipped presets are valid TOML");
                    merge(&mut base_table, value);
                    base_table.remove("inherit");
                    value = base_table;
                    value.insert("inherit".into(), toml::Value::String(base));
                }
                None => problems.push(Problem {
                    key: "inherit".into(),
                    line: spans::line_of_key(text, "inherit"),
                    message: format!("no shipped preset named {base:?}"),
                }),
            }
        }
        for s in sets {
            if let Err(m) = super::keypath::apply_set(&mut value, s) {
                problems.push(Problem {
                    key: s.split('=').next().unwrap_or("").trim().to_string(),
                    line: None,
                    message: format!("--set {s}: {m}"),
                });
            }
        }
        if !problems.is_empty() {
            return Err(PresetError {
                file: file.into(),
                problems,
            });
        }
        // Deserialise the user's own text when nothing was merged in, so spans point into it.
        let merged = if value.contains_key("inherit") || !sets.is_empty() {
            toml::to_string(&value).unwrap_or_default()
        } else {
            text.to_string()
        };
        let preset: Preset = match toml::from_str(&merged) {
            Ok(p) => p,
            Err(e) => {
                let mut p = toml_problem(&merged, &e);
                if merged != text {
                    locate(&mut p, text, sets);
                }
                return Err(PresetError {
                    file: file.into(),
                    problems: vec![p],
                });
            }
        };
        let mut problems = preset.validate();
        for p in &mut problems {
            locate(p, text, sets);
        }
        if problems.is_empty() {
            Ok(preset)
        } else {
            Err(PresetError {
                file: file.into(),
                problems,
            })
        }
    }

    /// Steps per epoch for `n_train` examples: ceil(n / batch).
    pub fn steps_per_epoch(&self, n_train: usize) -> usize {
        n_train.div_ceil(self.train.batch_size.max(1)).max(1)
    }

    /// The pruning schedule in steps, epochs converted with the real steps per epoch.
    /// End defaults to the end of training.
    pub fn schedule(&self, steps_per_epoch: usize) -> ScheduleSpec {
        let p = &self.prune;
        let to_step = |e: f64| (e * steps_per_epoch as f64).round() as usize;
        let total = self.train.epochs * steps_per_epoch;
        let begin = p.begin_step.or(p.begin_epoch.map(to_step)).unwrap_or(0);
        let end = p.end_step.or(p.end_epoch.map(to_step)).unwrap_or(total);
        ScheduleSpec {
            kind: p.schedule,
            initial_sparsity: p.initial_sparsity,
            final_sparsity: p.final_sparsity,
            begin_step: begin,
            end_step: end,
            frequency: p.frequency,
            power: p.power,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a preset always serialises")
    }

    /// The first comment block of a shipped preset, for pickers and `presets list`.
    pub fn shipped_names() -> Vec<&'static str> {
        SHIPPED.iter().map(|(n, _)| *n).collect()
    }
}

pub(crate) fn read_text(p: &Path) -> Result<String, String> {
    if p.is_dir() {
        return Err("is a directory, not a preset file".into());
    }
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())
}

/// Turns a toml/serde error into a problem with a line, the dotted key (from the parser's
/// spans) and a suggestion.
pub(crate) fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let offset = e.span().map(|s| s.start);
    let line = offset.map(|o| spans::line_at(text, o));
    let key = offset
        .and_then(|o| spans::key_at(text, o))
        .unwrap_or_default();
    let msg = e.message().to_string();
    let mut message = msg.clone();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            message = match suggest(field, &expected) {
                Some(s) => format!("unknown key (did you mean `{s}`?)"),
                None => format!("unknown key; valid keys here: {}", expected.join(", ")),
            };
        }
    }
    Problem { key, line, message }
}

/// Points a problem about `p.key` at its line in the user's `text`, or at the `--set` that
/// gave the value (never at a line of the file the `--set` overrode).
fn locate(p: &mut Problem, text: &str, sets: &[String]) {
    let from_set = sets
        .iter()
        .rev()
        .find(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == p.key));
    match from_set {
        Some(s) => {
            p.line = None;
            p.message = format!("--set {s}: {}", p.message);
        }
        None => p.line = spans::line_of_key(text, &p.key),
    }
}

/// Deep-merges `over` into `base` (tables merge, everything else replaces).
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Keys (dotted) whose values differ between two presets, with both values as TOML.
pub fn diff(a: &Preset, b: &Preset) -> Vec<(String, String, String)> {
    fn flatten(
        prefix: &str,
        t: &toml::Table,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(sub) => flatten(&key, sub, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let (mut fa, mut fb) = (Default::default(), Default::default());
    flatten(
        "",
        &toml::Table::try_from(a).expect("presets serialise"),
        &mut fa,
    );
    flatten(
        "",
        &toml::Table::try_from(b).expect("presets serialise"),
        &mut fb,
    );
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    keys.into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| {
            let show = |m: &std::collections::BTreeMap<String, String>| {
                m.get(k).cloned().unwrap_or_else(|| "-".into())
            };
            (k.clone(), show(&fa), show(&fb))
        })
        .collect()
}
