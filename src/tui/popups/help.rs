//! The help (`?`): every normal-mode key from the keymap's own table (so it cannot drift from
//! the keys), then the keys of text boxes and dialogs. Two columns when they fit, else one
//! scrolling list.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::tui::keymap::{self, Action};
use crate::tui::style::Styles;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Help {
    pub scroll: u16,
}

impl Help {
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
        draw(frame, area, self.scroll, s);
    }
}

fn draw(frame: &mut Frame, area: Rect, scroll: u16, s: &Styles) {
    let row = |k: &str, what: &str| {
        Line::from(vec![
            Span::styled(format!("  {k:<15}"), s.accent()),
            Span::styled(what.to_string(), s.text()),
        ])
    };
    let mut keys = vec![Line::from(Span::styled("Keys", s.accent()))];
    keys.extend(keymap::NORMAL.iter().map(|b| row(b.label, b.help)));
    let mut other = vec![Line::from(Span::styled(
        "While editing a value",
        s.accent(),
    ))];
    other.extend(keymap::EDITING_HELP.iter().map(|(k, w)| row(k, w)));
    other.push(Line::default());
    other.push(Line::from(Span::styled("In dialogs", s.accent())));
    other.extend(keymap::DIALOG_HELP.iter().map(|(k, w)| row(k, w)));
    // Two columns when they fit side by side, else one scrolling list.
    let two = area.width >= 116 && area.height as usize >= keys.len() + 2;
    let (w, h) = if two {
        (116, keys.len().max(other.len()) as u16 + 2)
    } else {
        (60, (keys.len() + other.len() + 3) as u16)
    };
    let r = centered(area, w, h.min(area.height));
    frame.render_widget(Clear, r);
    let title = if two {
        " Help (Esc closes) "
    } else {
        " Help (Esc closes, ↑↓ scroll) "
    };
    let block = frame_block(title, s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    if two {
        let [l, rc] =
            Layout::horizontal([Constraint::Length(60), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(keys), l);
        frame.render_widget(Paragraph::new(other), rc);
    } else {
        keys.push(Line::default());
        keys.extend(other);
        frame.render_widget(Paragraph::new(keys).scroll((scroll, 0)), inner);
    }
}
