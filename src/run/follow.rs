//! Follows a run's `events.jsonl` as another process appends to it: `bapw watch` replays the
//! whole log, then picks up each new complete line. A line still being written stays buffered
//! until its newline arrives; a log that shrank (a resume cut it back to a checkpoint) restarts
//! the replay from the top.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::events::Event;

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
        // Whole lines are parsed in place and dropped from the buffer once: draining line by
        // line would move the rest of a long log for every line (quadratic on a replay).
        let mut events = Vec::new();
        let mut consumed = 0;
        let mut bad = None;
        for line in self.partial.split_inclusive(|&b| b == b'\n') {
            if line.last() != Some(&b'\n') {
                break;
            }
            consumed += line.len();
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end();
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Event>(text) {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    bad = Some(
                        anyhow::anyhow!(e)
                            .context(format!("{}: bad event line {text:?}", self.path.display())),
                    );
                    break;
                }
            }
        }
        self.partial.drain(..consumed);
        if let Some(e) = bad {
            return Err(e);
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
    use crate::events::Paused;
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
            Update::Events(vec![Event::Paused(Paused { step: 1 })])
        );
        assert_eq!(f.poll().unwrap(), Update::Events(vec![]));
        let mut file = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let l2 = line(2);
        file.write_all(&l2.as_bytes()[..5]).unwrap();
        assert_eq!(f.poll().unwrap(), Update::Events(vec![]));
        file.write_all(&l2.as_bytes()[5..]).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Events(vec![Event::Paused(Paused { step: 2 })])
        );
        // A resume rewrote the log shorter: start again.
        std::fs::write(&p, line(7)).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Reset(vec![Event::Paused(Paused { step: 7 })])
        );
        // ... or replaced it (atomic rename) with a longer one.
        let tmp = d.path().join("new");
        std::fs::write(&tmp, format!("{}{}{}", line(7), line(8), line(9))).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(
            f.poll().unwrap(),
            Update::Reset(vec![
                Event::Paused(Paused { step: 7 }),
                Event::Paused(Paused { step: 8 }),
                Event::Paused(Paused { step: 9 })
            ])
        );
    }
}
