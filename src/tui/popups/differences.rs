//! `D`: how the settings on screen differ from the preset they are named after, one key a
//! line with the preset's value and the current one, so "(edited)" in the header is one key
//! from what it means.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::tui::keymap::Action;
use crate::tui::style::Styles;
use crate::tui::text::clip;

#[derive(Debug, Clone, PartialEq)]
pub struct Differences {
    /// The preset compared against.
    pub named: String,
    /// (key, the preset's value, the current value), sorted by key.
    pub rows: Vec<(String, String, String)>,
    pub scroll: usize,
}

impl Differences {
    pub fn new(named: &str, rows: Vec<(String, String, String)>) -> Differences {
        Differences {
            named: named.to_string(),
            rows,
            scroll: 0,
        }
    }

    /// True when the key closes it.
    pub fn on_action(&mut self, a: Action) -> bool {
        let last = self.rows.len().saturating_sub(1);
        match a {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = (self.scroll + 1).min(last),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll = (self.scroll + 10).min(last),
            Action::Enter | Action::Cancel | Action::No | Action::Input('D') => return true,
            _ => {}
        }
        false
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, s: &Styles) {
        let h = (self.rows.len() as u16 + 5).max(6);
        let r = centered(area, area.width.saturating_sub(4).min(100), h);
        frame.render_widget(Clear, r);
        let title = format!(" Differences from {} ", self.named);
        let block = frame_block(&title, s);
        let inner = block.inner(r);
        frame.render_widget(block, r);
        let w = inner.width as usize;
        let mut lines = Vec::new();
        if self.rows.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("The settings are {}'s: nothing differs.", self.named),
                s.text(),
            )));
        } else {
            // The key column as wide as the longest key; the two values share the rest.
            let key_w = self.rows.iter().map(|r| r.0.chars().count()).max();
            let key_w = key_w.unwrap_or(0).clamp(3, w / 2);
            let val_w = w.saturating_sub(key_w + 4) / 2;
            let cell = |t: &str, n: usize| format!("{:<n$}", clip(t, n));
            lines.push(Line::from(Span::styled(
                format!(
                    "{}  {}  {}",
                    cell("key", key_w),
                    cell(&self.named, val_w),
                    cell("now", val_w)
                ),
                s.dim(),
            )));
            let body = inner.height.saturating_sub(3) as usize;
            let start = self.scroll.min(self.rows.len().saturating_sub(body.max(1)));
            for (k, was, now) in self.rows.iter().skip(start).take(body) {
                lines.push(Line::from(vec![
                    Span::styled(cell(k, key_w), s.text()),
                    Span::raw("  "),
                    Span::styled(cell(was, val_w), s.dim()),
                    Span::raw("  "),
                    Span::styled(cell(now, val_w), s.accent()),
                ]));
            }
        }
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "w saves them as a preset · Esc closes",
            s.dim(),
        )));
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
