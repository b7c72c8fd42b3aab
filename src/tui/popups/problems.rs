//! A preset's validation problems (opening one from the picker that does not load), each with
//! its file and line.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::tui::keymap::Action;
use crate::tui::style::Styles;

#[derive(Debug, Clone, PartialEq)]
pub struct Problems {
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: u16,
}

impl Problems {
    /// True when the key closes it.
    pub fn on_action(&mut self, a: Action) -> bool {
        let scroll = &mut self.scroll;
        match a {
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => *scroll = scroll.saturating_add(1),
            Action::PageUp => *scroll = scroll.saturating_sub(10),
            Action::PageDown => *scroll = scroll.saturating_add(10),
            Action::Enter | Action::Cancel | Action::Help | Action::No => return true,
            _ => {}
        }
        false
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, s: &Styles) {
        draw(frame, area, &self.title, &self.lines, self.scroll, s);
    }
}

fn draw(frame: &mut Frame, area: Rect, title: &str, lines: &[String], scroll: u16, s: &Styles) {
    let h = (lines.len() as u16 + 5).min(area.height);
    let r = centered(area, area.width.saturating_sub(6).min(110), h);
    frame.render_widget(Clear, r);
    let title = format!(" {title} ");
    let mut body: Vec<Line> = lines
        .iter()
        .map(|l| Line::from(Span::styled(l.clone(), s.error())))
        .collect();
    body.push(Line::default());
    body.push(Line::from(Span::styled("Esc closes", s.dim())));
    let p = Paragraph::new(body)
        .block(frame_block(&title, s))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    frame.render_widget(p, r);
}
