//! The preset picker (`o`): the shipped presets and the user's, with their descriptions; a
//! user file that does not load is listed with its first problem.
use std::path::Path;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::config::store::{Origin, PresetEntry};
use crate::tui::keymap::Action;
use crate::tui::style::Styles;
use crate::tui::text::fit_words;

#[derive(Debug, Clone, PartialEq)]
pub struct PresetPicker {
    pub entries: Vec<PresetEntry>,
    pub selected: usize,
}

/// What a key in the picker asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum PickerReply {
    Stay,
    Close,
    /// Open this preset (the picker closes when it loads, else its problems are shown).
    Open(PresetEntry),
}

impl PresetPicker {
    /// The entries, with the preset named `current` selected.
    pub fn new(entries: Vec<PresetEntry>, current: &str) -> PresetPicker {
        let selected = entries.iter().position(|e| e.name == current).unwrap_or(0);
        PresetPicker { entries, selected }
    }

    pub fn on_action(&mut self, a: Action) -> PickerReply {
        let n = self.entries.len();
        let selected = &mut self.selected;
        match a {
            Action::Up => *selected = selected.saturating_sub(1),
            Action::Down => *selected = (*selected + 1).min(n.saturating_sub(1)),
            Action::PageUp | Action::Home => *selected = 0,
            Action::PageDown | Action::End => *selected = n.saturating_sub(1),
            Action::Enter => {
                if let Some(e) = self.entries.get(*selected) {
                    return PickerReply::Open(e.clone());
                }
            }
            Action::Cancel | Action::No => return PickerReply::Close,
            _ => {}
        }
        PickerReply::Stay
    }

    /// `current` is the preset on screen (marked •); `config_dir` where user presets live.
    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        current: &str,
        config_dir: Option<&Path>,
        s: &Styles,
    ) {
        draw(frame, area, self, current, config_dir, s);
    }
}

fn draw(
    frame: &mut Frame,
    area: Rect,
    p: &PresetPicker,
    current: &str,
    config_dir: Option<&Path>,
    s: &Styles,
) {
    let (entries, selected) = (&p.entries, p.selected);
    let h = (entries.len() as u16 + 4).min(area.height);
    let r = centered(area, area.width.saturating_sub(6).min(110), h);
    frame.render_widget(Clear, r);
    let block = frame_block(" Open a preset (Enter opens, Esc closes) ", s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let name_w = entries
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(4)
        + 2;
    let visible = inner.height.saturating_sub(1) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let mut lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, e)| {
            let origin = match e.origin {
                Origin::Shipped => "shipped",
                Origin::User(_) => "user",
            };
            let current = if e.name == current { "•" } else { " " };
            let text = format!("{current} {:<name_w$}{origin:<9}", e.name);
            // The description is cut after a word, with `…`, never inside one.
            let room = (inner.width as usize).saturating_sub(text.chars().count());
            let text = format!("{text}{}", fit_words(&e.summary(), room));
            let st = if i == selected {
                s.selected()
            } else if !e.valid() {
                s.error()
            } else {
                s.text()
            };
            Line::from(Span::styled(text, st))
        })
        .collect();
    let dir = config_dir
        .map(|d| format!("user presets: {}/presets/", d.display()))
        .unwrap_or_else(|| "no config folder: shipped presets only".into());
    lines.push(Line::from(Span::styled(dir, s.dim())));
    frame.render_widget(Paragraph::new(lines), inner);
}
