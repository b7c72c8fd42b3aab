//! What the TUI remembers between sessions: the last used preset, the theme, the chart
//! characters and whether the GPU strip shows, in `<config>/settings.toml`. A missing or
//! unreadable file is never fatal: the defaults apply and the caller gets a note to show.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Preset name (shipped or user) or path last opened or trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_preset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// The characters charts are drawn with (`--charts` sets and remembers it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charts: Option<ChartStyle>,
    /// The workbench's GPU strip is shown (`g` toggles and remembers it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_strip: Option<bool>,
}

/// How charts draw their lines: Unicode braille (2x4 dots a cell, the finest, but some fonts
/// lack the braille block and show boxes or nothing), half blocks (2x1 a cell, in every font
/// with the box-drawing set), or plain ASCII (one character a cell, a different one per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ChartStyle {
    #[default]
    Braille,
    Block,
    Ascii,
}

impl ChartStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            ChartStyle::Braille => "braille",
            ChartStyle::Block => "block",
            ChartStyle::Ascii => "ascii",
        }
    }
}

pub fn settings_path() -> anyhow::Result<PathBuf> {
    Ok(crate::config::paths::config_dir()?.join("settings.toml"))
}

impl Settings {
    /// Reads `path`; a missing file gives the defaults, a broken one the defaults and a note.
    /// Unknown keys are ignored so a newer bapw's file still loads.
    pub fn load(path: &Path) -> (Settings, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None)
            }
            Err(e) => {
                return (
                    Settings::default(),
                    Some(format!("{}: {e}; using defaults", path.display())),
                )
            }
        };
        match toml::from_str(&text) {
            Ok(s) => (s, None),
            Err(e) => (
                Settings::default(),
                Some(format!(
                    "{}: {}; using defaults",
                    path.display(),
                    e.message()
                )),
            ),
        }
    }

    /// Writes atomically, so a crash mid-write never leaves half a file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string(self)?;
        crate::config::paths::write_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_missing_or_unknown() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.toml");
        assert_eq!(Settings::load(&p), (Settings::default(), None));
        let s = Settings {
            last_preset: Some("smoke".into()),
            theme: Some("light".into()),
            charts: Some(ChartStyle::Ascii),
            gpu_strip: Some(false),
        };
        s.save(&p).unwrap();
        assert_eq!(Settings::load(&p), (s, None));
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("charts = \"ascii\""));
        std::fs::write(&p, "theme = \"ansi16\"\nfuture_key = 3\n").unwrap();
        assert_eq!(Settings::load(&p).0.theme.as_deref(), Some("ansi16"));
    }

    #[test]
    fn a_broken_file_gives_defaults_and_a_note() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.toml");
        std::fs::write(&p, "theme = [").unwrap();
        let (s, note) = Settings::load(&p);
        assert_eq!(s, Settings::default());
        assert!(note.unwrap().contains("settings.toml"));
    }
}
