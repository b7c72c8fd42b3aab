//! Follows a run's `events.jsonl` as another process appends to it: `bapw watch` replays the
//! whole log, then picks up each new complete line. A line still being written stays buffered
//! until its newline arrives; a log that shrank (a resume cut it back to a checkpoint) restarts
//! the replay from the top.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::events::Event;

pub struct Follower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// The log's inode: a resume replaces the file (atomic rename), which changes it.
    inode: Option<u64>,
}

/// What a poll found.
#[derive(Debug, PartialEq)]
pub enum Update {
    /// New events after the ones already seen.
    Events(Vec<Event>),
    /// The log was rewritten: drop what you have and apply these from scratch.
    Reset(Vec<Event>),
}

impl Follower {
    pub fn new(path: &Path) -> Self {
        Follower {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            inode: None,
        }
    }

    pub fn poll(&mut self) -> Result<Update> {
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        use std::os::unix::fs::MetadataExt;
        let meta = f.metadata()?;
        let len = meta.len();
        let reset = len < self.offset || self.inode.is_some_and(|i| i != meta.ino());
        self.inode = Some(meta.ino());
        if reset {
            self.offset = 0;
            self.partial.clear();
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut events = Vec::new();
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            let ev: Event = serde_json::from_str(text.trim_end()).with_context(|| {
                format!(
                    "{}: bad event line {:?}",
                    self.path.display(),
                    text.trim_end()
                )
            })?;
            events.push(ev);
        }
        Ok(if reset {
            Update::Reset(events)
        } else {
            Update::Events(events)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(step: usize) -> String {
        format!("{{\"kind\":\"paused\",\"step\":{step}}}\n")
    }

    #[test]
    fn picks_up_appended_lines_and_waits_for_partial_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.jsonl");
        std::fs::write(&p, line(1)).unwrap();
        let mut f = Follower::new(&p);
        assert_eq!(
            f.poll().unwrap(),
            Update::Events(vec![Event::Paused { step: 1 }])
        );
        assert_eq!(f.poll().unwrap(), Update::Events(vec![]));
        let mut file = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let l2 = line(2);
        file.write_all(&l2.as_bytes()[..5]).unwrap();
        assert_eq!(f.poll().unwrap(), Update::Events(vec![]));
        file.write_all(&l2.as_bytes()[5..]).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Events(vec![Event::Paused { step: 2 }])
        );
        // A resume rewrote the log shorter: start again.
        std::fs::write(&p, line(7)).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Reset(vec![Event::Paused { step: 7 }])
        );
        // ... or replaced it (atomic rename) with a longer one.
        let tmp = d.path().join("new");
        std::fs::write(&tmp, format!("{}{}{}", line(7), line(8), line(9))).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Reset(vec![
                Event::Paused { step: 7 },
                Event::Paused { step: 8 },
                Event::Paused { step: 9 }
            ])
        );
    }
}
