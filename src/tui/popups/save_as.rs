//! The name prompt of `w`: saves the current settings as a user preset. Names that are not
//! plain file names and shipped names are refused in place; an existing user preset is
//! replaced only after asking.
use std::path::Path;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::frame::{centered, frame_block};
use crate::config::store::Store;
use crate::tui::keymap::Action;
use crate::tui::style::Styles;
use crate::tui::text_input::TextInput;

#[derive(Debug, Clone, PartialEq)]
pub struct SaveAs {
    pub input: TextInput,
    /// Why the name was refused (until it changes).
    pub error: Option<String>,
}

/// What a key in the prompt asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveReply {
    Stay,
    Close,
    /// Save under this name (checked; no user preset of that name exists).
    Save(String),
    /// A user preset of this name exists: ask before replacing it.
    AskOverwrite(String),
}

impl SaveAs {
    pub fn new(name: &str, error: Option<String>) -> SaveAs {
        SaveAs {
            input: TextInput::new(name),
            error,
        }
    }

    /// A key; `store` checks the name on Enter.
    pub fn on_action(&mut self, a: Action, store: &Store) -> SaveReply {
        let input = &mut self.input;
        match a {
            Action::Input(c) => input.insert(c),
            Action::Backspace => input.backspace(),
            Action::Delete => input.delete(),
            Action::Left => input.left(),
            Action::Right => input.right(),
            Action::Home => input.home(),
            Action::End => input.end(),
            Action::ClearInput => input.clear(),
            Action::Cancel => return SaveReply::Close,
            Action::Enter => {
                let name = input.text().trim().to_string();
                return match store.user_preset_path(&name) {
                    Err(e) => {
                        self.error = Some(format!("{e:#}"));
                        SaveReply::Stay
                    }
                    Ok(path) if path.exists() => SaveReply::AskOverwrite(name),
                    Ok(_) => SaveReply::Save(name),
                };
            }
            _ => return SaveReply::Stay,
        }
        // The reason disappears as soon as the name changes.
        self.error = None;
        SaveReply::Stay
    }

    /// `config_dir` is where user presets live.
    pub fn render(&self, frame: &mut Frame, area: Rect, config_dir: Option<&Path>, s: &Styles) {
        draw(
            frame,
            area,
            config_dir,
            &self.input,
            self.error.as_deref(),
            s,
        );
    }
}

fn draw(
    frame: &mut Frame,
    area: Rect,
    config_dir: Option<&Path>,
    input: &TextInput,
    error: Option<&str>,
    s: &Styles,
) {
    let r = centered(area, 64, 8);
    frame.render_widget(Clear, r);
    let block = frame_block(" Save settings as a user preset ", s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut lines = vec![
        Line::from(Span::styled("Name (letters, digits, - _ .):", s.text())),
        input.line(s, inner.width as usize),
    ];
    match error {
        Some(e) => lines.push(Line::from(Span::styled(e.to_string(), s.error()))),
        None => {
            let to = config_dir
                .map(|d| format!("→ {}/presets/{}.toml", d.display(), input.text().trim()))
                .unwrap_or_default();
            lines.push(Line::from(Span::styled(to, s.dim())));
        }
    }
    lines.push(Line::from(Span::styled(
        "Enter saves · Esc cancels",
        s.dim(),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
