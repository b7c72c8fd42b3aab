//! The message log (`!`): every message of the engine and the UI, newest at the bottom,
//! wrapped to the width.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::tui::keymap::Action;
use crate::tui::model::MessageLog;
use crate::tui::style::Styles;
use crate::tui::text::wrapped_rows;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Messages {
    /// Lines up from the newest message, so new messages do not move the view.
    pub scroll: usize,
}

impl Messages {
    /// True when the key closes it. `len` is the log's length.
    pub fn on_action(&mut self, a: Action, len: usize) -> bool {
        let scroll = &mut self.scroll;
        let max = len.saturating_sub(1);
        match a {
            Action::Up => *scroll = (*scroll + 1).min(max),
            Action::Down => *scroll = scroll.saturating_sub(1),
            Action::PageUp => *scroll = (*scroll + 10).min(max),
            Action::PageDown => *scroll = scroll.saturating_sub(10),
            Action::Home => *scroll = max,
            Action::End => *scroll = 0,
            Action::Enter | Action::Cancel | Action::Messages | Action::No => return true,
            _ => {}
        }
        false
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, log: &MessageLog, s: &Styles) {
        draw(frame, area, log, self.scroll, s);
    }
}

fn draw(frame: &mut Frame, area: Rect, log: &MessageLog, scroll: usize, s: &Styles) {
    let r = centered(
        area,
        area.width.saturating_sub(8).max(40),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, r);
    let inner_h = r.height.saturating_sub(2);
    let inner_w = r.width.saturating_sub(2);
    let n = log.len();
    let end = n.saturating_sub(scroll);
    // Newest at the bottom: walk back from `end` while the wrapped lines still fit.
    let mut start = end;
    let mut rows = 0;
    for e in log.entries().take(end).rev() {
        let h = wrapped_rows(&s.log_line(e), inner_w);
        if rows + h > inner_h && start < end {
            break;
        }
        rows += h;
        start -= 1;
    }
    let lines: Vec<Line> = log
        .entries()
        .skip(start)
        .take(end - start)
        .map(|e| s.log_line(e))
        .collect();
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled("no messages yet", s.dim()))]
    } else {
        lines
    };
    let title = format!(
        " Messages {}-{} of {n} (↑↓ scroll, Esc closes) ",
        start + 1,
        end
    );
    let p = Paragraph::new(body)
        .block(frame_block(&title, s))
        .wrap(Wrap { trim: false });
    frame.render_widget(p, r);
}
