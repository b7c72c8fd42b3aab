//! Broken weights and `R`: what the app says when a resume is refused, and the roll-back to
//! the last good checkpoint (at once after a NaN, asked first otherwise).
use super::App;
use crate::train::Command;
use crate::tui::model::{Level, RunState};
use crate::tui::popups::confirm::ConfirmKind;

impl App {
    /// What to do about broken weights, for a refused resume.
    pub(super) fn broken_advice(&self) -> String {
        match &self.run.broken {
            Some(b) => match b.checkpoint {
                Some(c) => format!(
                    "{} at step {}: the weights are broken; R rolls back to step {c} (lower \
                     the learning rate first if it diverged), then p resumes",
                    b.what, b.step
                ),
                None => format!(
                    "{} at step {}: the weights are broken and there is no checkpoint to go \
                     back to; x stops the run",
                    b.what, b.step
                ),
            },
            None => String::new(),
        }
    }

    /// `R`: back to the last good checkpoint. Broken weights go at once (nothing is lost);
    /// otherwise the steps since the checkpoint would be trained again, so it asks first.
    pub(super) fn roll_back(&mut self) {
        match self.run.state {
            RunState::Paused => match &self.run.broken {
                Some(b) => match b.checkpoint {
                    Some(c) => {
                        self.send(Command::RollBack);
                        self.note(Level::Info, format!("rolling back to step {c}…"));
                    }
                    None => {
                        let why = self.broken_advice();
                        self.note(Level::Warn, why)
                    }
                },
                None => self.confirm(ConfirmKind::RollBack {
                    from: self.run.progress.steps_done,
                    to: self.run.progress.last_checkpoint,
                }),
            },
            RunState::Running => self.note(
                Level::Warn,
                "pause the run first (p): R rolls a paused run back to its last checkpoint",
            ),
            RunState::Starting => self.note(Level::Warn, "the run is still starting"),
            _ => self.note(Level::Warn, "no run in progress to roll back"),
        }
    }
}
