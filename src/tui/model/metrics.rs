//! What a run measured, kept for the panes: the bounded loss, accuracy and sparsity series,
//! the budgets over the run, and the evaluations. The events' own structs are stored as they
//! came (`events::Budget`, `events::Eval`); only series are derived.
use crate::events::{AttackCurve, Budget, Eval};

use super::series::Series;

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

    /// The latest value of one series.
    pub fn last(&self, id: SeriesId) -> Option<f64> {
        self.get(id).last().map(|(_, v)| v)
    }

    /// Forgets what was measured after `step` (a roll-back).
    pub(super) fn truncate_after(&mut self, step: usize) {
        for s in &mut self.series {
            s.truncate_after(step as f64);
        }
    }

    pub(super) fn push(&mut self, id: SeriesId, x: usize, y: f64) {
        self.series[id as usize].push(x as f64, y);
    }
}

/// The latest `budget` event and how its quartiles and flip rate moved over the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetView {
    pub latest: Option<Budget>,
    /// Quartiles of the budgets used, over the run.
    pub p25: Series,
    pub p50: Series,
    pub p75: Series,
    pub flip_rate: Series,
    pub events: usize,
}

impl BudgetView {
    /// Forgets the budgets of the steps after `step` (a roll-back).
    pub(super) fn truncate_after(&mut self, step: usize) {
        for s in [
            &mut self.p25,
            &mut self.p50,
            &mut self.p75,
            &mut self.flip_rate,
        ] {
            s.truncate_after(step as f64);
        }
        if self.latest.as_ref().is_some_and(|l| l.step >= step) {
            self.latest = None;
        }
    }

    pub(super) fn push(&mut self, b: &Budget) {
        let x = b.step as f64;
        self.p25.push(x, b.budgets.p25);
        self.p50.push(x, b.budgets.p50);
        self.p75.push(x, b.budgets.p75);
        self.flip_rate.push(x, b.flip_rate);
        self.events += 1;
        self.latest = Some(b.clone());
    }
}

/// Looking up one attack's curve in an evaluation.
pub trait Curves {
    fn curve(&self, attack: &str) -> Option<&AttackCurve>;
}

impl Curves for Eval {
    fn curve(&self, attack: &str) -> Option<&AttackCurve> {
        self.curves.iter().find(|c| c.attack == attack)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evals {
    pub latest: Option<Eval>,
    pub previous: Option<Eval>,
    /// Chosen with `P`: deltas are taken against it instead of the previous evaluation.
    pub pinned: Option<Eval>,
    pub count: usize,
}

impl Evals {
    /// Forgets the evaluations after `step` (a roll-back); a pinned one stays pinned.
    pub(super) fn truncate_after(&mut self, step: usize) {
        for slot in [&mut self.latest, &mut self.previous] {
            if slot.as_ref().is_some_and(|e| e.step > step) {
                *slot = None;
            }
        }
        if self.latest.is_none() {
            self.latest = self.previous.take();
        }
    }

    /// What the latest evaluation is compared with, and whether that is the pinned one.
    pub fn baseline(&self) -> Option<(&Eval, bool)> {
        let latest_step = self.latest.as_ref().map(|e| e.step);
        match &self.pinned {
            Some(p) if Some(p.step) != latest_step => Some((p, true)),
            _ => self.previous.as_ref().map(|p| (p, false)),
        }
    }

    pub(super) fn push(&mut self, e: &Eval) {
        self.previous = self.latest.replace(e.clone());
        self.count += 1;
    }
}

/// Accuracy of `curve` at budget `x` when it was measured there (no value is made up for a
/// budget between two of its points): what another run's column shows.
pub fn measured_at(curve: &AttackCurve, x: f64) -> Option<f64> {
    let i = curve.grid.iter().position(|g| (g - x).abs() < 1e-9)?;
    curve.accuracy.get(i).copied()
}

/// Whether two curves were measured on different budget grids (their AUCs then span
/// different ranges).
pub fn grids_differ(a: &AttackCurve, b: &AttackCurve) -> bool {
    a.grid.len() != b.grid.len()
        || a.grid
            .iter()
            .zip(&b.grid)
            .any(|(x, y)| (x - y).abs() > 1e-9)
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
