//! A question with buttons: stop the run, quit (background, stop, cancel), overwrite a user
//! preset, resume a run, roll one back, drop unsaved edits. Cancel is selected first, so a stray Enter never stops a run.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::tui::keymap::Action;
use crate::tui::style::Styles;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    Stop,
    /// Quit while this window's run is in progress.
    Quit,
    Overwrite {
        name: String,
    },
    /// Go back to the newest checkpoint of a paused run; the steps after it train again.
    RollBack {
        from: usize,
        to: Option<usize>,
    },
    /// Settings edited and not saved as a preset would be lost by `then`.
    Discard {
        then: AfterDiscard,
    },
    /// Continue a stopped or interrupted run (chosen in the run list) in this window.
    Resume {
        name: String,
        state: String,
        step: usize,
        total: usize,
    },
}

/// What dropping unsaved edits is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDiscard {
    Quit,
    /// Open another preset (the picker).
    OpenPreset,
}

/// What a question was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    /// Quit, leaving the run to a detached process.
    Background,
    /// Save the settings as a preset first (the name prompt).
    Save,
    Cancel,
}

/// One button of a question: its key, its label and what it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub key: char,
    pub label: &'static str,
    pub answer: Answer,
}

const fn choice(key: char, label: &'static str, answer: Answer) -> Choice {
    Choice { key, label, answer }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub kind: ConfirmKind,
    /// Index into [`Confirm::choices`].
    pub selected: usize,
}

impl Confirm {
    /// Cancel (always the last choice) is selected first, so a stray Enter never stops a run.
    pub fn new(kind: ConfirmKind) -> Confirm {
        let mut c = Confirm { kind, selected: 0 };
        c.selected = c.choices().len() - 1;
        c
    }

    pub fn choices(&self) -> Vec<Choice> {
        let cancel = choice('n', "Cancel", Answer::Cancel);
        let yes = |label| choice('y', label, Answer::Yes);
        match &self.kind {
            ConfirmKind::Stop => vec![yes("Stop the run"), cancel],
            ConfirmKind::Quit => vec![
                choice('b', "Keep running in the background", Answer::Background),
                yes("Stop the run and quit"),
                cancel,
            ],
            ConfirmKind::Overwrite { .. } => vec![yes("Overwrite it"), cancel],
            ConfirmKind::Resume { .. } => vec![yes("Resume it here"), cancel],
            ConfirmKind::RollBack { .. } => vec![yes("Roll back"), cancel],
            ConfirmKind::Discard { then } => vec![
                choice('w', "Save them as a preset", Answer::Save),
                yes(match then {
                    AfterDiscard::Quit => "Discard them and quit",
                    AfterDiscard::OpenPreset => "Discard them and open another",
                }),
                cancel,
            ],
        }
    }

    /// A key: Some(answer) when it answers the question.
    pub fn on_action(&mut self, a: Action) -> Option<Answer> {
        let choices = self.choices();
        let n = choices.len();
        match a {
            Action::Up | Action::Left => {
                self.selected = (self.selected + n - 1) % n;
                None
            }
            Action::Down | Action::Right => {
                self.selected = (self.selected + 1) % n;
                None
            }
            Action::Yes => Some(Answer::Yes),
            Action::Input(k) => choices.iter().find(|ch| ch.key == k).map(|ch| ch.answer),
            Action::Enter => Some(self.selected_answer()),
            Action::No | Action::Cancel => Some(Answer::Cancel),
            _ => None,
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, s: &Styles) {
        draw(frame, area, self, s);
    }

    /// The answer of the selected button.
    pub fn selected_answer(&self) -> Answer {
        self.choices()
            .get(self.selected)
            .map_or(Answer::Cancel, |c| c.answer)
    }

    fn text(&self) -> (&'static str, String) {
        match &self.kind {
            ConfirmKind::Stop => (
                " Stop the run? ",
                "Training stops after the current step; a checkpoint and summary.json are \
                 written."
                    .into(),
            ),
            ConfirmKind::Quit => (
                " Quit? ",
                "A run is in progress. In the background it stops at a checkpoint and a \
                 detached `bapw resume --headless` continues it exactly (`bapw watch` \
                 reattaches). Or stop it here (checkpoint and summary.json) and quit."
                    .into(),
            ),
            ConfirmKind::Overwrite { name } => (
                " Overwrite? ",
                format!("A user preset named {name} exists."),
            ),
            ConfirmKind::RollBack { from, to } => (
                " Roll back? ",
                format!(
                    "The run goes back from step {from} to {}; the steps after it train again \
                     with the current settings, and the run stays paused.",
                    match to {
                        Some(c) => format!("its checkpoint of step {c}"),
                        None => "its newest checkpoint".into(),
                    }
                ),
            ),
            ConfirmKind::Discard { .. } => (
                " Unsaved edits ",
                "The settings were edited and are not saved as a preset (D lists the \
                 differences). A run's folder keeps its own copy, but the preset does not."
                    .into(),
            ),
            ConfirmKind::Resume {
                name,
                state,
                step,
                total,
            } => (
                " Resume? ",
                format!(
                    "{name} is {state} at step {step}/{total}. Resume it in this window from \
                     its last checkpoint?"
                ),
            ),
        }
    }
}

/// A question with its buttons: side by side when there are two, else one per line.
fn draw(frame: &mut Frame, area: Rect, c: &Confirm, s: &Styles) {
    let (title, question) = c.text();
    let choices = c.choices();
    let stacked = choices.len() > 2;
    // Stacked buttons sit under a blank line of their own.
    let rows = if stacked { choices.len() as u16 + 1 } else { 1 };
    let r = centered(area, 60, if stacked { 6 } else { 7 } + rows);
    frame.render_widget(Clear, r);
    let block = frame_block(title, s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let [q, buttons] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(rows)]).areas(inner);
    frame.render_widget(
        Paragraph::new(question)
            .style(s.text())
            .wrap(Wrap { trim: true }),
        q,
    );
    let button = |i: usize, ch: &Choice| {
        let st = if i == c.selected {
            s.selected()
        } else {
            s.text()
        };
        Span::styled(format!(" [{}] {} ", ch.key, ch.label), st)
    };
    if stacked {
        let mut lines = vec![Line::default()];
        lines.extend(
            choices
                .iter()
                .enumerate()
                .map(|(i, ch)| Line::from(vec![Span::raw(" "), button(i, ch)])),
        );
        frame.render_widget(Paragraph::new(lines), buttons);
    } else {
        let mut spans = Vec::new();
        for (i, ch) in choices.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            spans.push(button(i, ch));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)).centered(), buttons);
    }
}
