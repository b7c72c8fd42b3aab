//! Pruning schedules with TF-MOT semantics (`PolynomialDecay`, `ConstantSparsity`) plus one-shot.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// No pruning at all: masks stay full.
    None,
    /// `s(t) = s_f + (s_i - s_f) (1 - p)^power`, p the progress between begin and end.
    Polynomial,
    /// `final_sparsity` at every scheduled update between begin and end.
    Constant,
    /// A single mask update to `final_sparsity` at `begin_step`, then frozen.
    OneShot,
}

/// A schedule resolved to steps (epochs already converted with the real steps per epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub kind: ScheduleKind,
    pub initial_sparsity: f64,
    pub final_sparsity: f64,
    pub begin_step: usize,
    pub end_step: usize,
    pub frequency: usize,
    pub power: f64,
}

impl ScheduleSpec {
    /// Target sparsity at global step `t` (what the mask would be if updated at `t`).
    /// Before `begin` the initial sparsity, after `end` the final one.
    pub fn sparsity_at(&self, t: usize) -> f64 {
        match self.kind {
            ScheduleKind::None => 0.0,
            ScheduleKind::Constant => {
                if t >= self.begin_step {
                    self.final_sparsity
                } else {
                    0.0
                }
            }
            ScheduleKind::OneShot => {
                if t >= self.begin_step {
                    self.final_sparsity
                } else {
                    0.0
                }
            }
            ScheduleKind::Polynomial => {
                let span = self.end_step.saturating_sub(self.begin_step).max(1) as f64;
                let p = ((t as f64 - self.begin_step as f64) / span).clamp(0.0, 1.0);
                self.final_sparsity
                    + (self.initial_sparsity - self.final_sparsity) * (1.0 - p).powf(self.power)
            }
        }
    }

    /// Whether the masks are recomputed at step `t` (TF-MOT: begin <= t <= end and
    /// (t - begin) % frequency == 0; one-shot: only at begin).
    pub fn updates_at(&self, t: usize) -> bool {
        match self.kind {
            ScheduleKind::None => false,
            ScheduleKind::OneShot => t == self.begin_step,
            ScheduleKind::Polynomial | ScheduleKind::Constant => {
                t >= self.begin_step
                    && t <= self.end_step
                    && (t - self.begin_step).is_multiple_of(self.frequency.max(1))
            }
        }
    }

    /// The sparsity the masks hold at step `t`: the target at the last update at or before `t`
    /// (0 before the first update). This is the staircase the measured sparsity follows.
    pub fn mask_sparsity_at(&self, t: usize) -> f64 {
        match self.last_update_at_or_before(t) {
            Some(u) => self.sparsity_at(u),
            None => 0.0,
        }
    }

    fn last_update_at_or_before(&self, t: usize) -> Option<usize> {
        match self.kind {
            ScheduleKind::None => None,
            ScheduleKind::OneShot => (t >= self.begin_step).then_some(self.begin_step),
            ScheduleKind::Polynomial | ScheduleKind::Constant => {
                if t < self.begin_step {
                    return None;
                }
                let f = self.frequency.max(1);
                let last_t = t.min(self.end_step);
                Some(self.begin_step + (last_t - self.begin_step) / f * f)
            }
        }
    }

    /// Checks the values a user typed; the message names the key.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        for (key, v) in [
            ("initial_sparsity", self.initial_sparsity),
            ("final_sparsity", self.final_sparsity),
        ] {
            if !(0.0..1.0).contains(&v) || !v.is_finite() {
                errs.push((key.to_string(), format!("{v} is outside [0, 1)")));
            }
        }
        if self.kind == ScheduleKind::Polynomial && self.end_step <= self.begin_step {
            errs.push((
                "end".to_string(),
                format!(
                    "end step {} is not after begin step {}",
                    self.end_step, self.begin_step
                ),
            ));
        }
        if self.frequency == 0 {
            errs.push(("frequency".into(), "must be at least 1".into()));
        }
        if self.power.is_nan() || self.power <= 0.0 || !self.power.is_finite() {
            errs.push(("power".into(), format!("{} must be > 0", self.power)));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cubic(begin: usize, end: usize, freq: usize) -> ScheduleSpec {
        ScheduleSpec {
            kind: ScheduleKind::Polynomial,
            initial_sparsity: 0.0,
            final_sparsity: 0.9,
            begin_step: begin,
            end_step: end,
            frequency: freq,
            power: 3.0,
        }
    }

    #[test]
    fn cubic_schedule_exact_values() {
        let s = cubic(0, 14070, 100);
        assert_eq!(s.sparsity_at(0), 0.0);
        // Halfway: 0.9 * (1 - 0.5^3) = 0.7875
        assert!((s.sparsity_at(7035) - 0.7875).abs() < 1e-12);
        assert!((s.sparsity_at(14070) - 0.9).abs() < 1e-12);
        assert!((s.sparsity_at(20000) - 0.9).abs() < 1e-12);
        // p = 100/14070
        let p: f64 = 100.0 / 14070.0;
        assert!((s.sparsity_at(100) - 0.9 * (1.0 - (1.0 - p).powi(3))).abs() < 1e-12);
    }

    #[test]
    fn updates_follow_tfmot_frequency_rule() {
        let s = cubic(10, 310, 100);
        let ups: Vec<usize> = (0..400).filter(|&t| s.updates_at(t)).collect();
        assert_eq!(ups, vec![10, 110, 210, 310]);
        assert_eq!(s.mask_sparsity_at(9), 0.0);
        assert_eq!(s.mask_sparsity_at(150), s.sparsity_at(110));
        assert_eq!(s.mask_sparsity_at(1000), s.sparsity_at(310));
    }

    #[test]
    fn one_shot_and_constant() {
        let mut s = cubic(5, 50, 10);
        s.kind = ScheduleKind::OneShot;
        assert!(s.updates_at(5) && !s.updates_at(15));
        assert_eq!(s.sparsity_at(4), 0.0);
        assert_eq!(s.mask_sparsity_at(100), 0.9);
        s.kind = ScheduleKind::Constant;
        assert!(s.updates_at(15) && !s.updates_at(60));
        assert_eq!(s.sparsity_at(5), 0.9);
    }

    #[test]
    fn validation_names_keys() {
        let mut s = cubic(100, 50, 0);
        s.final_sparsity = 1.0;
        let keys: Vec<String> = s.validate().into_iter().map(|e| e.0).collect();
        assert_eq!(keys, vec!["final_sparsity", "end", "frequency"]);
    }
}
