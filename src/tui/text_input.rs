//! A one-line text box: the text and a cursor counted in characters (not bytes), so `ε` or
//! `δ` pasted into a field never splits a UTF-8 sequence; drawn with the cursor as a reversed
//! cell.
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::style::Styles;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    text: String,
    cursor: usize,
}

impl TextInput {
    pub fn new(text: &str) -> TextInput {
        TextInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len())
    }

    pub fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.chars().count() {
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.text.chars().count());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.chars().count();
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }

    /// The cells of the text in `width` columns, with the cursor's index among them: the whole
    /// text when it fits, else a window that scrolls to keep the cursor in view, with `…`
    /// where text is hidden on either side. The cursor may sit after the text (a blank cell).
    pub fn window(&self, width: usize) -> (String, usize) {
        let chars: Vec<char> = self.text.chars().collect();
        let c = self.cursor.min(chars.len());
        let total = chars.len() + 1;
        if total <= width || width < 3 {
            let shown: String = chars.iter().chain([' '].iter()).collect();
            return (shown, c);
        }
        // The cursor never sits under a mark: one cell of room on each side of it.
        let start = (c + 2).saturating_sub(width).min(total - width);
        let cells: String = (start..start + width)
            .map(|i| {
                let hidden_before = i == start && start > 0;
                let hidden_after = i == start + width - 1 && start + width < total;
                if hidden_before || hidden_after {
                    '…'
                } else {
                    chars.get(i).copied().unwrap_or(' ')
                }
            })
            .collect();
        (cells, c - start)
    }

    /// The text in `width` columns (see [`TextInput::window`]) with the cursor shown as a
    /// reversed cell.
    pub fn line<'a>(&self, s: &Styles, width: usize) -> Line<'a> {
        let (cells, c) = self.window(width);
        let chars: Vec<char> = cells.chars().collect();
        let before: String = chars[..c].iter().collect();
        let at: String = chars.get(c).map(|ch| ch.to_string()).unwrap_or(" ".into());
        let after: String = chars
            .get(c + 1..)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        Line::from(vec![
            Span::styled(before, s.text()),
            Span::styled(at, s.text().add_modifier(Modifier::REVERSED)),
            Span::styled(after.trim_end().to_string(), s.text()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_at_the_cursor_in_characters() {
        let mut t = TextInput::new("δ=1");
        t.home();
        t.right();
        t.insert('x');
        assert_eq!(t.text(), "δx=1");
        t.backspace();
        t.backspace();
        assert_eq!((t.text(), t.cursor()), ("=1", 0));
        t.delete();
        t.end();
        t.insert('5');
        assert_eq!(t.text(), "15");
        t.clear();
        assert_eq!((t.text(), t.cursor()), ("", 0));
        t.backspace();
        t.left();
        assert_eq!(t.cursor(), 0);
    }

    #[test]
    fn a_long_value_scrolls_to_the_cursor() {
        let mut t = TextInput::new("0.0001234567891");
        // At the end: the tail shows, with a mark for the hidden head.
        assert_eq!(t.window(8), ("…567891 ".to_string(), 7));
        t.home();
        assert_eq!(t.window(8), ("0.00012…".to_string(), 0));
        for _ in 0..9 {
            t.right();
        }
        // In the middle: marks on both sides, the cursor's character (`5`) in view.
        assert_eq!(t.window(8), ("…012345…".to_string(), 6));
        assert_eq!(TextInput::new("0.5").window(8), ("0.5 ".to_string(), 3));
    }
}
