//! `[alerts]`: the run-health rules the engine watches. A rule that fires pauses a run in the
//! workbench and stops a headless one with a checkpoint (exit code 3); each firing is an
//! `alert` event naming the rule and the numbers.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsCfg {
    /// Watch at all.
    pub enabled: bool,
    /// Diverging: the loss above `diverge_factor` × its moving average...
    pub diverge_factor: f64,
    /// ...for this many steps in a row...
    pub diverge_steps: usize,
    /// ...once this many steps have set the average.
    pub warmup_steps: usize,
    /// Stalled: no step finished for this many seconds while training (0 = never).
    pub stall_seconds: f64,
    /// Collapse: the training accuracy over the `collapse_window` steps after a mask update
    /// fell this much (absolute) below its level over the steps before it.
    pub collapse_drop: f64,
    pub collapse_window: usize,
}

impl Default for AlertsCfg {
    fn default() -> Self {
        AlertsCfg {
            enabled: true,
            diverge_factor: 4.0,
            diverge_steps: 10,
            warmup_steps: 50,
            stall_seconds: 600.0,
            collapse_drop: 0.3,
            collapse_window: 20,
        }
    }
}

impl AlertsCfg {
    /// Range checks: (dotted key, what is wrong) for each problem.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| out.push((format!("alerts.{key}"), message));
        if !(self.diverge_factor > 1.0 && self.diverge_factor.is_finite()) {
            bad(
                "diverge_factor",
                format!("{} must be > 1", self.diverge_factor),
            );
        }
        if self.diverge_steps == 0 {
            bad("diverge_steps", "must be at least 1".into());
        }
        if !(self.stall_seconds >= 0.0 && self.stall_seconds.is_finite()) {
            bad(
                "stall_seconds",
                format!("{} must be >= 0", self.stall_seconds),
            );
        }
        if !(self.collapse_drop > 0.0 && self.collapse_drop <= 1.0) {
            bad(
                "collapse_drop",
                format!("{} is outside (0, 1]", self.collapse_drop),
            );
        }
        if self.collapse_window == 0 {
            bad("collapse_window", "must be at least 1".into());
        }
        out
    }
}
