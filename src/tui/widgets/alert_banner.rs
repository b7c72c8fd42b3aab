//! The alert banner under the progress bar: while a run-health alert holds the run (the engine
//! paused it, or a watched headless run stopped on it), the rule and its numbers in full, up to
//! three lines, since the message line beside the keys has room for only its start.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::model::{RunModel, RunState};
use crate::tui::style::Styles;
use crate::tui::text::wrap;

const MAX_LINES: usize = 3;

/// The banner's text: None while no alert holds the run (none fired, or it resumed).
/// `watching`: the run is another window's, which alone can resume it.
fn text(run: &RunModel, watching: bool) -> Option<String> {
    let a = run.alert.as_ref()?;
    let next = match run.state {
        RunState::Paused if watching => "paused until its own window resumes it",
        RunState::Paused => "paused: change a setting, p resumes, x stops",
        RunState::Stopped => "the run stopped with a checkpoint (bapw resume continues it)",
        _ => return None,
    };
    Some(format!("⚠ alert ({}): {} — {next}", a.rule, a.message))
}

/// Rows the banner takes at `width`.
pub fn height(run: &RunModel, watching: bool, width: u16) -> u16 {
    text(run, watching).map_or(0, |t| {
        wrap(&t, width.saturating_sub(2) as usize, MAX_LINES).len() as u16
    })
}

pub fn render(frame: &mut Frame, area: Rect, run: &RunModel, watching: bool, s: &Styles) {
    let Some(t) = text(run, watching) else {
        return;
    };
    let lines: Vec<Line> = wrap(&t, area.width.saturating_sub(2) as usize, MAX_LINES)
        .into_iter()
        .map(|l| Line::from(Span::styled(format!(" {l}"), s.error())))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
