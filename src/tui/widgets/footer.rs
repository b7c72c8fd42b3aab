//! The message line: a message on the left (`!` opens the log), the keys that matter now on
//! the right. The message is the newest unread error while there is one (it stays until `!`
//! or Esc), else the latest line. When both do not fit, the hints go first (whole, least
//! important first, `? help` last), then the message is cut after a word with `…`.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::model::Context;
use crate::tui::model::{Level, RunState};
use crate::tui::style::Styles;
use crate::tui::text::fit_line;

/// The keys worth showing now, most important first.
pub fn hints(ctx: &Context) -> Vec<(&'static str, &'static str)> {
    let run = ctx.run;
    let mut keys: Vec<(&str, &str)> = match run.state {
        _ if ctx.watching => vec![("r", "runs"), ("c", "compare"), ("E", "export")],
        RunState::Running => vec![("p", "pause"), ("x", "stop"), ("e", "eval")],
        RunState::Paused if run.broken.is_some() => vec![("R", "roll back"), ("x", "stop")],
        RunState::Paused => vec![("p", "resume"), ("x", "stop"), ("e", "eval")],
        RunState::Starting => vec![("x", "stop")],
        _ => vec![("s", "start"), ("o", "presets"), ("w", "save")],
    };
    keys.push(("?", "help"));
    keys.push(("q", if ctx.watching { "leave" } else { "quit" }));
    keys
}

fn hint_line<'a>(keys: &[(&'a str, &'a str)], s: &Styles) -> Line<'a> {
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k}"), s.accent()));
        spans.push(Span::styled(format!(" {what}"), s.dim()));
    }
    Line::from(spans)
}

/// The message to show: the broken weights of a paused run (with what to do), the newest
/// unread error, or the latest line.
pub fn message<'a>(ctx: &Context, s: &Styles) -> Option<Line<'a>> {
    let log = &ctx.run.log;
    let mut line = match (&ctx.run.broken, log.sticky()) {
        (Some(b), Some(e)) if e.step == Some(b.step) && ctx.run.state == RunState::Paused => {
            let what = match b.checkpoint {
                Some(c) => format!("R rolls back to step {c}"),
                None => "no checkpoint to go back to: x stops".into(),
            };
            Line::from(vec![
                Span::styled(format!("step {:<6} ", b.step), s.dim()),
                Span::styled(format!("{} · {what}", b.what), s.level(Level::Error)),
            ])
        }
        (_, Some(e)) => s.log_line(e),
        (_, None) => s.log_line(log.latest()?),
    };
    if log.len() > 1 {
        line.spans.insert(0, Span::styled("! ", s.accent()));
    }
    Some(line)
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Context, s: &Styles) {
    let width = area.width as usize;
    let msg = message(ctx, s);
    let msg_w = msg.as_ref().map_or(0, |l| l.width());
    let mut keys = hints(ctx);
    let hints_w = |keys: &[(&str, &str)]| hint_line(keys, s).width() + 1;
    // The message keeps at least 60% of the line (or all it needs); hints that would leave it
    // less go, from the least important. `? help` always stays.
    let wanted = msg_w.min(width * 3 / 5);
    while width.saturating_sub(hints_w(&keys)) < wanted {
        // The state's keys from the last, then `q`.
        match keys.iter().position(|(k, _)| *k == "?") {
            Some(i) if i > 0 => keys.remove(i - 1),
            Some(i) if i + 1 < keys.len() => keys.remove(i + 1),
            _ => break,
        };
    }
    let right = hint_line(&keys, s);
    let rw = (right.width() as u16 + 1).min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(rw)]).areas(area);
    if let Some(line) = msg {
        let fitted = fit_line(&line, left_area.width as usize);
        frame.render_widget(Paragraph::new(fitted), left_area);
    }
    frame.render_widget(Paragraph::new(right).right_aligned(), right_area);
}
