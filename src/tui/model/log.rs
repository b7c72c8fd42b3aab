//! The message log: what the engine and the UI said, newest last, bounded. An error stays
//! "unread" until the log is opened (`!`) or the error is dismissed (Esc), so the message line
//! can keep showing it while newer, ordinary lines (a "paused" right after a NaN) arrive.
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
    /// Its place in the whole log (never reused, unlike an index into the bounded queue).
    pub seq: u64,
}

/// Messages from the engine and the UI, newest last, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageLog {
    entries: VecDeque<LogEntry>,
    next_seq: u64,
    /// Entries with a smaller `seq` have been read.
    read_seq: u64,
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
            seq: self.next_seq,
        });
        self.next_seq += 1;
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

    /// The newest error nobody has read yet: the message line shows it instead of the latest
    /// line until it is read.
    pub fn sticky(&self) -> Option<&LogEntry> {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.seq >= self.read_seq)
            .find(|e| e.level == Level::Error)
    }

    /// Entries newer than `e` (to say that more came after a sticky error).
    pub fn newer_than(&self, e: &LogEntry) -> usize {
        (self.next_seq - e.seq - 1) as usize
    }

    /// Everything so far has been read (the log was opened, or the error dismissed).
    pub fn mark_read(&mut self) {
        self.read_seq = self.next_seq;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_stays_until_read_while_newer_lines_arrive() {
        let mut log = MessageLog::default();
        log.push(Some(1), Level::Info, "started");
        assert!(log.sticky().is_none());
        log.push(Some(5), Level::Error, "loss became NaN/Inf");
        log.push(Some(5), Level::Info, "paused");
        assert_eq!(log.latest().unwrap().text, "paused");
        let sticky = log.sticky().unwrap();
        assert_eq!(sticky.text, "loss became NaN/Inf");
        assert_eq!(log.newer_than(sticky), 1);
        log.mark_read();
        assert!(log.sticky().is_none());
        log.push(Some(6), Level::Warn, "a warning does not stick");
        assert!(log.sticky().is_none());
    }

    #[test]
    fn the_bound_keeps_the_sequence() {
        let mut log = MessageLog::default();
        for i in 0..(LOG_CAP + 10) {
            log.push(None, Level::Info, format!("{i}"));
        }
        assert_eq!(log.len(), LOG_CAP);
        log.push(None, Level::Error, "late");
        assert_eq!(log.sticky().unwrap().seq, (LOG_CAP + 10) as u64);
    }
}
