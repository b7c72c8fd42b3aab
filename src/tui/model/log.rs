//! The message log: what the engine and the UI said, newest last, bounded.
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub step: Option<usize>,
    pub level: Level,
    pub text: String,
}

/// Messages from the engine and the UI, newest last, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageLog {
    entries: VecDeque<LogEntry>,
}

const LOG_CAP: usize = 500;

impl MessageLog {
    pub fn push(&mut self, step: Option<usize>, level: Level, text: impl Into<String>) {
        if self.entries.len() == LOG_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(LogEntry {
            step,
            level,
            text: text.into(),
        });
    }

    /// Adds `text` to the newest entry (nothing when the log is empty).
    pub fn amend_latest(&mut self, text: &str) {
        if let Some(e) = self.entries.back_mut() {
            e.text.push_str(text);
        }
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    pub fn latest(&self) -> Option<&LogEntry> {
        self.entries.back()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
