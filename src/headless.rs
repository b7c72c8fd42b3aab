//! The headless face: one compact progress line per interval and a final summary, built from
//! the same events the TUI draws.
use crate::train::events::{EndState, Event};

#[derive(Default)]
pub struct Printer {
    total_steps: usize,
    log_every: usize,
    epochs: usize,
    batch: usize,
    last_loss: f64,
    test_acc: Option<f64>,
}

impl Printer {
    pub fn new(log_every: usize) -> Self {
        Printer {
            log_every: log_every.max(1),
            ..Default::default()
        }
    }

    /// The line(s) to print for one event, if any.
    pub fn on_event(&mut self, ev: &Event) -> Option<String> {
        match ev {
            Event::RunStarted {
                run_dir,
                preset,
                mode,
                dataset,
                model,
                device,
                threads,
                total_steps,
                epochs,
                train_examples,
                start_step,
                batch_size,
                ..
            } => {
                self.total_steps = *total_steps;
                self.batch = *batch_size;
                self.epochs = *epochs;
                Some(format!(
                    "run {run_dir}\n  preset {preset} | mode {mode} | {dataset} ({train_examples} train) | {model} | device {device} ({threads} threads) | {epochs} epochs, {total_steps} steps{}",
                    if *start_step > 0 { format!(" | resuming at step {start_step}") } else { String::new() }
                ))
            }
            Event::Step {
                step,
                epoch,
                loss,
                adv_loss,
                target_sparsity,
                sparsity,
                samples_per_s,
                ..
            } => {
                self.last_loss = *loss;
                let done = step + 1;
                if done % self.log_every != 0 && done != self.total_steps {
                    return None;
                }
                let left = self.total_steps.saturating_sub(done) as f64;
                let eta = if *samples_per_s > 0.0 { fmt_secs(left * self.batch as f64 / samples_per_s) } else { "?".into() };
                Some(format!(
                    "step {done:>6}/{} ep {}/{} loss {loss:.4}{} sparsity {sparsity:.3} (target {target_sparsity:.3}) {samples_per_s:.0} samples/s eta {eta}",
                    self.total_steps,
                    epoch + 1,
                    self.epochs,
                    adv_loss.map(|a| format!(" (adv {a:.4})")).unwrap_or_default(),
                ))
            }
            Event::EpochEnd {
                epoch,
                train_acc,
                test_acc,
                test_loss,
                seconds,
                ..
            } => {
                self.test_acc = Some(*test_acc);
                Some(format!(
                    "epoch {} done in {}: train acc {:.4} | test acc {:.4} loss {:.4}",
                    epoch + 1,
                    fmt_secs(*seconds),
                    train_acc,
                    test_acc,
                    test_loss
                ))
            }
            Event::MaskUpdate { .. } => None,
            Event::Budget {
                step,
                budgets,
                delta,
                cut_fraction,
                flip_rate,
                ..
            } => ((step + 1) % self.log_every == 0).then(|| {
                format!(
                    "  budget: median {:.4} (p5 {:.4}, p95 {:.4}){} cut {:.0}% flip {:.0}%",
                    budgets.p50,
                    budgets.p5,
                    budgets.p95,
                    delta.map(|d| format!(" delta {d:.4}")).unwrap_or_default(),
                    cut_fraction * 100.0,
                    flip_rate * 100.0
                )
            }),
            Event::Eval {
                clean_acc,
                curves,
                examples,
                seconds,
                ..
            } => {
                let mut s = format!(
                    "robustness on {examples} test images ({}): clean {clean_acc:.4}",
                    fmt_secs(*seconds)
                );
                for c in curves {
                    s.push_str(&format!(" | {} AUC {:.4}", c.attack, c.auc));
                }
                Some(s)
            }
            Event::ParamChanged { step, key, old, new } => {
                Some(format!("step {step}: {key} {old} -> {new}"))
            }
            Event::Paused { step } => Some(format!("paused at step {step}")),
            Event::Resumed { step } => Some(format!("resumed at step {step}")),
            Event::Checkpoint { .. } => None,
            Event::Message { text, .. } => Some(format!("note: {text}")),
            Event::Error { message, .. } => Some(format!("error: {message}")),
            Event::Finished {
                step,
                state,
                sparsity,
                test_acc,
                seconds,
            } => Some(match state {
                EndState::Failed => format!("run failed at step {step}"),
                _ => format!(
                    "{} at step {step} after {}: sparsity {sparsity:.4}, test accuracy {test_acc:.4}",
                    if *state == EndState::Finished { "finished" } else { "stopped" },
                    fmt_secs(*seconds)
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
