//! The message line: the latest message on the left (`!` opens the log), the keys that matter
//! now on the right.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::model::Context;
use crate::tui::model::RunState;
use crate::tui::style::Styles;

pub fn render(frame: &mut Frame, area: Rect, ctx: &Context, s: &Styles) {
    let keys: &[(&str, &str)] = match ctx.run.state {
        _ if ctx.watching => &[("r", "runs"), ("c", "compare"), ("E", "export")],
        RunState::Running => &[("p", "pause"), ("e", "eval"), ("x", "stop")],
        RunState::Paused => &[("p", "resume"), ("e", "eval"), ("x", "stop")],
        RunState::Starting => &[("x", "stop")],
        _ => &[("s", "start"), ("o", "presets"), ("w", "save")],
    };
    let quit = if ctx.watching { "leave" } else { "quit" };
    let mut right = Vec::new();
    for (k, what) in keys.iter().chain(&[("?", "help"), ("q", quit)]) {
        right.push(Span::styled(format!(" {k}"), s.accent()));
        right.push(Span::styled(format!(" {what}"), s.dim()));
    }
    let right = Line::from(right);
    let rw = (right.width() as u16 + 1).min(area.width / 2);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(rw)]).areas(area);
    let log = &ctx.run.log;
    if let Some(e) = log.latest() {
        let mut line = s.log_line(e);
        if log.len() > 1 {
            line.spans.insert(0, Span::styled("! ", s.accent()));
        }
        frame.render_widget(Paragraph::new(line), left_area);
    }
    frame.render_widget(Paragraph::new(right).right_aligned(), right_area);
}
