//! What a run has reported so far, pane by pane: bounded series, the latest budget and
//! evaluations, and the message log. Plain data; `App::apply` fills it from events.
use std::collections::VecDeque;

use crate::events::{AttackCurve, Distribution};

use super::history::Series;

/// What `run_started` says about the run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub run_dir: String,
    pub preset: String,
    pub mode: String,
    pub dataset: String,
    pub model: String,
    pub device: String,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub batch_size: usize,
    pub train_examples: usize,
    pub prunable_weights: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Steps done (the last step event's index + 1).
    pub steps_done: usize,
    pub epoch: usize,
    pub samples_per_s: f64,
    pub last_test_acc: Option<f64>,
    pub final_sparsity: Option<f64>,
    /// Step of the last periodic checkpoint (what `bapw resume` would continue from).
    pub last_checkpoint: Option<usize>,
    /// Wall seconds per step over whole epochs (test pass and checkpoints included).
    pub secs_per_step: Option<f64>,
    /// Wall seconds of the last robustness evaluation.
    pub eval_secs: Option<f64>,
}

/// The series the Loss pane can show, in legend order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesId {
    CleanLoss,
    AdvLoss,
    TestAcc,
    RobustAcc,
    Target,
    Measured,
}

impl SeriesId {
    pub const ALL: [SeriesId; 6] = [
        SeriesId::CleanLoss,
        SeriesId::AdvLoss,
        SeriesId::TestAcc,
        SeriesId::RobustAcc,
        SeriesId::Target,
        SeriesId::Measured,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SeriesId::CleanLoss => "clean loss",
            SeriesId::AdvLoss => "adv loss",
            SeriesId::TestAcc => "test acc",
            SeriesId::RobustAcc => "robust acc",
            SeriesId::Target => "target sparsity",
            SeriesId::Measured => "sparsity",
        }
    }

    /// Losses share one chart (their own scale); the rest live in [0, 1].
    pub fn is_loss(self) -> bool {
        matches!(self, SeriesId::CleanLoss | SeriesId::AdvLoss)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    series: [Series; 6],
}

impl Metrics {
    pub fn get(&self, id: SeriesId) -> &Series {
        &self.series[id as usize]
    }

    pub(super) fn push(&mut self, id: SeriesId, x: usize, y: f64) {
        self.series[id as usize].push(x as f64, y);
    }

    /// Forgets what was measured after `step` (a roll-back).
    pub(super) fn truncate_after(&mut self, step: usize) {
        for s in &mut self.series {
            s.truncate_after(step as f64);
        }
    }
}

/// The latest `budget` event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetSnapshot {
    pub step: usize,
    pub mode: String,
    pub distances: Option<Distribution>,
    pub budgets: Distribution,
    pub delta: Option<f64>,
    pub rho: f64,
    pub cut_fraction: f64,
    pub flip_rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetView {
    pub latest: Option<BudgetSnapshot>,
    /// Quartiles of the budgets used, over the run.
    pub p25: Series,
    pub p50: Series,
    pub p75: Series,
    pub flip_rate: Series,
    pub events: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalSnapshot {
    pub step: usize,
    pub epoch: usize,
    pub examples: usize,
    pub clean_acc: f64,
    pub curves: Vec<AttackCurve>,
    pub seconds: f64,
}

impl EvalSnapshot {
    pub fn curve(&self, attack: &str) -> Option<&AttackCurve> {
        self.curves.iter().find(|c| c.attack == attack)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evals {
    pub latest: Option<EvalSnapshot>,
    pub previous: Option<EvalSnapshot>,
    /// Chosen with `P`: deltas are taken against it instead of the previous evaluation.
    pub pinned: Option<EvalSnapshot>,
    pub count: usize,
}

impl Evals {
    /// What the latest evaluation is compared with, and whether that is the pinned one.
    pub fn baseline(&self) -> Option<(&EvalSnapshot, bool)> {
        let latest_step = self.latest.as_ref().map(|e| e.step);
        match &self.pinned {
            Some(p) if Some(p.step) != latest_step => Some((p, true)),
            _ => self.previous.as_ref().map(|p| (p, false)),
        }
    }
}

/// Accuracy of `curve` at budget `x`: exact at a grid point, linear between two.
pub fn curve_at(curve: &AttackCurve, x: f64) -> Option<f64> {
    let pts: Vec<(f64, f64)> = curve
        .grid
        .iter()
        .copied()
        .zip(curve.accuracy.iter().copied())
        .collect();
    if let Some(&(_, a)) = pts.iter().find(|(g, _)| (g - x).abs() < 1e-9) {
        return Some(a);
    }
    pts.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        (x0 < x && x < x1).then(|| y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub step: Option<usize>,
    pub level: Level,
    pub text: String,
}

/// Messages from the engine and the UI, newest last, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageLog {
    entries: VecDeque<LogEntry>,
}

const LOG_CAP: usize = 500;

impl MessageLog {
    pub fn push(&mut self, step: Option<usize>, level: Level, text: impl Into<String>) {
        if self.entries.len() == LOG_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(LogEntry {
            step,
            level,
            text: text.into(),
        });
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    pub fn latest(&self) -> Option<&LogEntry> {
        self.entries.back()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
