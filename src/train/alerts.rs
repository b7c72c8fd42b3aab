//! Run-health rules (`[alerts]`): a loss running away from its moving average, the training
//! accuracy collapsing after a mask update, and a step that does not finish (the stall clock,
//! read by a watchdog thread, since a stalled engine cannot notice itself). The rules are plain
//! arithmetic over what each step reports; the engine decides what a firing does.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::config::alerts::AlertsCfg;

/// A rule that fired: its name (`diverging`, `collapse`, `stall`) and the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: &'static str,
    pub message: String,
}

/// Weight of the newest loss in the moving average.
const EMA_WEIGHT: f64 = 0.05;

/// The per-step rules.
#[derive(Debug, Clone)]
pub struct Watch {
    cfg: AlertsCfg,
    ema: Option<f64>,
    steps_seen: usize,
    over: usize,
    recent_acc: VecDeque<f64>,
    after_update: Option<AfterUpdate>,
}

#[derive(Debug, Clone)]
struct AfterUpdate {
    step: usize,
    before: f64,
    sparsity: (f64, f64),
    accs: Vec<f64>,
}

impl Watch {
    pub fn new(cfg: AlertsCfg) -> Watch {
        Watch {
            cfg,
            ema: None,
            steps_seen: 0,
            over: 0,
            recent_acc: VecDeque::new(),
            after_update: None,
        }
    }

    /// New settings (a live change of `alerts.*`); what was measured stays.
    pub fn set_cfg(&mut self, cfg: AlertsCfg) {
        self.cfg = cfg;
    }

    /// The masks changed from `from` to `to` sparsity before `step`: the accuracy of the next
    /// steps is compared with that of the steps before.
    pub fn on_mask_update(&mut self, step: usize, from: f64, to: f64) {
        let w = self.cfg.collapse_window;
        // Too few steps before it to say what the accuracy was; a window already open
        // covers this update too.
        if self.recent_acc.len() < w.div_ceil(2) || self.after_update.is_some() || to <= from {
            return;
        }
        self.after_update = Some(AfterUpdate {
            step,
            before: mean(self.recent_acc.iter().copied()),
            sparsity: (from, to),
            accs: Vec::with_capacity(w),
        });
    }

    /// One finished step's loss and batch accuracy.
    pub fn on_step(&mut self, step: usize, loss: f64, acc: f64) -> Option<Fired> {
        if !self.cfg.enabled {
            return None;
        }
        self.steps_seen += 1;
        let fired = self.diverging(step, loss).or_else(|| self.collapse(acc));
        self.recent_acc.push_back(acc);
        while self.recent_acc.len() > self.cfg.collapse_window {
            self.recent_acc.pop_front();
        }
        fired
    }

    fn diverging(&mut self, step: usize, loss: f64) -> Option<Fired> {
        let Some(ema) = self.ema else {
            self.ema = Some(loss);
            return None;
        };
        let k = self.cfg.diverge_factor;
        if self.steps_seen > self.cfg.warmup_steps && loss > k * ema {
            // The average keeps the healthy level: outliers do not pull it up.
            self.over += 1;
            if self.over >= self.cfg.diverge_steps {
                self.over = 0;
                return Some(Fired {
                    rule: "diverging",
                    message: format!(
                        "loss diverging: {} steps in a row above {k} x its moving average \
                         {ema:.4} (now {loss:.4} at step {step})",
                        self.cfg.diverge_steps
                    ),
                });
            }
            return None;
        }
        self.over = 0;
        self.ema = Some((1.0 - EMA_WEIGHT) * ema + EMA_WEIGHT * loss);
        None
    }

    fn collapse(&mut self, acc: f64) -> Option<Fired> {
        let w = self.cfg.collapse_window;
        let open = self.after_update.as_mut()?;
        open.accs.push(acc);
        if open.accs.len() < w {
            return None;
        }
        let done = self.after_update.take()?;
        let after = mean(done.accs.iter().copied());
        (done.before - after >= self.cfg.collapse_drop).then(|| Fired {
            rule: "collapse",
            message: format!(
                "accuracy collapse: training accuracy fell from {:.3} to {after:.3} over the \
                 {w} steps after the mask update at step {} (sparsity {:.3} to {:.3})",
                done.before, done.step, done.sparsity.0, done.sparsity.1
            ),
        })
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f64
}

/// When the engine last started a step, shared with the watchdog: armed while training,
/// disarmed while paused, evaluating or finishing, so only a step that does not finish counts.
#[derive(Debug)]
pub struct StallClock {
    origin: Instant,
    started_ms: AtomicU64,
    armed: AtomicBool,
    step: AtomicU64,
    limit_ms: AtomicU64,
}

impl StallClock {
    pub fn new(stall_seconds: f64) -> StallClock {
        let clock = StallClock {
            origin: Instant::now(),
            started_ms: AtomicU64::new(0),
            armed: AtomicBool::new(false),
            step: AtomicU64::new(0),
            limit_ms: AtomicU64::new(0),
        };
        clock.set_limit(stall_seconds);
        clock
    }

    /// `alerts.stall_seconds` (0 = never), also when it changes mid-run.
    pub fn set_limit(&self, stall_seconds: f64) {
        self.limit_ms
            .store((stall_seconds * 1e3) as u64, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// A step starts.
    pub fn beat(&self, step: usize) {
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.step.store(step as u64, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
    }

    /// No step is expected (paused, evaluating, checkpointing, done).
    pub fn idle(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// The stall, once: a step has run longer than the limit. Disarms until the next beat.
    pub fn check(&self) -> Option<Fired> {
        self.check_at(self.now_ms())
    }

    /// `check` at `now` milliseconds on this clock.
    fn check_at(&self, now: u64) -> Option<Fired> {
        let limit = self.limit_ms.load(Ordering::Relaxed);
        if limit == 0 || !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let took = now.saturating_sub(self.started_ms.load(Ordering::Relaxed));
        if took < limit || !self.armed.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(Fired {
            rule: "stall",
            message: format!(
                "stalled: step {} has not finished after {:.0} s (alerts.stall_seconds {})",
                self.step.load(Ordering::Relaxed),
                took as f64 / 1e3,
                limit as f64 / 1e3
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AlertsCfg {
        AlertsCfg {
            warmup_steps: 5,
            diverge_steps: 3,
            diverge_factor: 4.0,
            collapse_window: 4,
            collapse_drop: 0.3,
            ..AlertsCfg::default()
        }
    }

    #[test]
    fn a_loss_far_above_its_average_for_n_steps_fires_once_and_names_the_numbers() {
        let mut w = Watch::new(cfg());
        for s in 0..10 {
            assert_eq!(w.on_step(s, 1.0, 0.5), None);
        }
        // Two steps above 4x are not enough; a step back below resets the count.
        assert_eq!(w.on_step(10, 5.0, 0.5), None);
        assert_eq!(w.on_step(11, 5.0, 0.5), None);
        assert_eq!(w.on_step(12, 1.0, 0.5), None);
        assert_eq!(w.on_step(13, 5.0, 0.5), None);
        assert_eq!(w.on_step(14, 5.0, 0.5), None);
        let f = w.on_step(15, 6.0, 0.5).expect("three in a row");
        assert_eq!(f.rule, "diverging");
        assert_eq!(
            f.message,
            "loss diverging: 3 steps in a row above 4 x its moving average 1.0000 (now 6.0000 \
             at step 15)"
        );
    }

    #[test]
    fn the_warm_up_and_a_disabled_watch_say_nothing() {
        let mut w = Watch::new(cfg());
        w.on_step(0, 1.0, 0.5);
        for s in 1..5 {
            assert_eq!(w.on_step(s, 100.0, 0.5), None, "still warming up at {s}");
        }
        let mut off = Watch::new(AlertsCfg {
            enabled: false,
            ..cfg()
        });
        for s in 0..50 {
            assert_eq!(off.on_step(s, if s < 10 { 1.0 } else { 99.0 }, 0.5), None);
        }
    }

    #[test]
    fn accuracy_that_falls_after_a_mask_update_fires_and_one_that_holds_does_not() {
        let mut w = Watch::new(cfg());
        for s in 0..8 {
            w.on_step(s, 1.0, 0.9);
        }
        w.on_mask_update(8, 0.5, 0.9);
        let accs = [0.5, 0.6, 0.55, 0.55];
        let fired: Vec<Option<Fired>> = accs
            .iter()
            .enumerate()
            .map(|(i, a)| w.on_step(8 + i, 1.0, *a))
            .collect();
        assert!(fired[..3].iter().all(Option::is_none));
        let f = fired[3].clone().expect("0.9 to 0.55");
        assert_eq!(f.rule, "collapse");
        assert!(
            f.message.contains("fell from 0.900 to 0.550"),
            "{}",
            f.message
        );
        assert!(f.message.contains("at step 8 (sparsity 0.500 to 0.900)"));

        let mut w = Watch::new(cfg());
        for s in 0..8 {
            w.on_step(s, 1.0, 0.9);
        }
        w.on_mask_update(8, 0.5, 0.9);
        for s in 8..12 {
            assert_eq!(w.on_step(s, 1.0, 0.7), None, "a drop of 0.2 is allowed");
        }
    }

    #[test]
    fn the_stall_clock_fires_once_per_stalled_step_and_never_when_idle() {
        let clock = StallClock::new(0.0);
        clock.beat(3);
        let start = clock.started_ms.load(Ordering::Relaxed);
        assert_eq!(
            clock.check_at(start + 3_600_000),
            None,
            "a limit of 0 never fires"
        );
        clock.set_limit(2.0);
        clock.idle();
        assert_eq!(clock.check_at(start + 5_000), None, "idle");
        clock.beat(4);
        let start = clock.started_ms.load(Ordering::Relaxed);
        assert_eq!(clock.check_at(start + 1_999), None, "within the limit");
        let f = clock
            .check_at(start + 2_500)
            .expect("step 4 is over its limit");
        assert_eq!(
            f.message,
            "stalled: step 4 has not finished after 2 s (alerts.stall_seconds 2)"
        );
        assert_eq!(clock.check_at(start + 9_000), None, "once");
    }
}
