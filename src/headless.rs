//! The headless face: one compact progress line per interval and a final summary, built from
//! the same events the TUI draws.
use crate::events::{EndState, Event};

#[derive(Default)]
pub struct Printer {
    total_steps: usize,
    log_every: usize,
    epochs: usize,
    batch: usize,
    last_loss: f64,
    test_acc: Option<f64>,
    /// Where a resumed run is in replaying its log up to the checkpoint.
    replay: Replay,
}

/// A resumed run first replays its log up to the checkpoint (from its `run_started` to the
/// "resumed from" note): those lines were printed by the run that wrote them, so they are not
/// printed again. What comes before the replay (a checkpoint that does not load) is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Replay {
    #[default]
    None,
    Expected,
    Under,
}

impl Printer {
    pub fn new(log_every: usize) -> Self {
        Printer {
            log_every: log_every.max(1),
            ..Default::default()
        }
    }

    /// A printer for a resumed run: silent through the replayed log, it starts with the
    /// resume.
    pub fn resuming(log_every: usize) -> Self {
        Printer {
            replay: Replay::Expected,
            ..Printer::new(log_every)
        }
    }

    /// The line(s) to print for one event, if any.
    pub fn on_event(&mut self, ev: &Event) -> Option<String> {
        let line = self.line(ev);
        match (self.replay, ev) {
            (Replay::Expected, Event::RunStarted(_)) => {
                self.replay = Replay::Under;
                None
            }
            (Replay::Under, Event::Message(m)) if m.text.starts_with("resumed from") => {
                self.replay = Replay::None;
                Some(format!(
                    "resuming at step {} of {}: {}",
                    m.step, self.total_steps, m.text
                ))
            }
            (Replay::Under, _) => None,
            _ => line,
        }
    }

    fn line(&mut self, ev: &Event) -> Option<String> {
        match ev {
            Event::RunStarted(r) => {
                self.total_steps = r.total_steps;
                self.batch = r.batch_size;
                self.epochs = r.epochs;
                let resuming = if r.start_step > 0 {
                    format!(" | resuming at step {}", r.start_step)
                } else {
                    String::new()
                };
                let what = match (&r.device_model, r.device_memory) {
                    (Some(m), Some(b)) => {
                        format!("{m}, {:.1} GiB, ", b as f64 / (1u64 << 30) as f64)
                    }
                    (Some(m), None) => format!("{m}, "),
                    _ => String::new(),
                };
                Some(format!(
                    "run {}\n  preset {} | mode {} | {} ({} train) | {} | device {} ({what}{} threads) | {} epochs, {} steps{resuming}",
                    r.run_dir, r.preset, r.mode, r.dataset, r.train_examples, r.model, r.device,
                    r.threads, r.epochs, r.total_steps
                ))
            }
            Event::Step(s) => {
                self.last_loss = s.loss;
                let done = s.step + 1;
                if done % self.log_every != 0 && done != self.total_steps {
                    return None;
                }
                let left = self.total_steps.saturating_sub(done) as f64;
                let eta = if s.samples_per_s > 0.0 {
                    fmt_secs(left * self.batch as f64 / s.samples_per_s)
                } else {
                    "?".into()
                };
                Some(format!(
                    "step {done:>6}/{} ep {}/{} loss {:.4}{} sparsity {:.3} (target {:.3}) {:.0} samples/s eta {eta}",
                    self.total_steps,
                    s.epoch + 1,
                    self.epochs,
                    s.loss,
                    s.adv_loss.map(|a| format!(" (adv {a:.4})")).unwrap_or_default(),
                    s.sparsity,
                    s.target_sparsity,
                    s.samples_per_s,
                ))
            }
            Event::EpochEnd(e) => {
                self.test_acc = Some(e.test_acc);
                Some(format!(
                    "epoch {} done in {}: train acc {:.4} | test acc {:.4} loss {:.4}",
                    e.epoch + 1,
                    fmt_secs(e.seconds),
                    e.train_acc,
                    e.test_acc,
                    e.test_loss
                ))
            }
            // A roll-back is explained by the message that follows it.
            Event::MaskUpdate(_) | Event::Checkpoint(_) | Event::RolledBack(_) => None,
            Event::Budget(b) => ((b.step + 1) % self.log_every == 0).then(|| {
                format!(
                    "  budget: median {:.4} (p5 {:.4}, p95 {:.4}){} cut {:.0}% flip {:.0}%",
                    b.budgets.p50,
                    b.budgets.p5,
                    b.budgets.p95,
                    b.delta
                        .map(|d| format!(" delta {d:.4}"))
                        .unwrap_or_default(),
                    b.cut_fraction * 100.0,
                    b.flip_rate * 100.0
                )
            }),
            Event::Eval(e) => {
                let mut s = format!(
                    "robustness on {} test images ({}): clean {:.4}",
                    e.examples,
                    fmt_secs(e.seconds),
                    e.clean_acc
                );
                for c in &e.curves {
                    s.push_str(&format!(" | {} AUC {:.4}", c.attack, c.auc));
                }
                Some(s)
            }
            Event::ParamChanged(c) => {
                Some(format!("step {}: {} {} -> {}", c.step, c.key, c.old, c.new))
            }
            Event::Paused(p) => Some(format!("paused at step {}", p.step)),
            Event::Resumed(r) => Some(format!("resumed at step {}", r.step)),
            Event::Message(m) => Some(format!("note: {}", m.text)),
            Event::Error(e) => Some(format!("error: {}", e.message)),
            Event::Alert(a) => Some(format!("alert ({}): {}", a.rule, a.message)),
            Event::Finished(f) => Some(match f.state {
                EndState::Failed => format!("run failed at step {}", f.step),
                state => format!(
                    "{} at step {} after {}: sparsity {:.4}, test accuracy {:.4}",
                    if state == EndState::Finished {
                        "finished"
                    } else {
                        "stopped"
                    },
                    f.step,
                    fmt_secs(f.seconds),
                    f.sparsity,
                    f.test_acc
                ),
            }),
        }
    }
}

pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
