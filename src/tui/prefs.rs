//! What the workbench remembers between sessions and how it looks: `<config>/settings.toml`
//! (the preset last trained or opened, the theme, the chart characters) and the themes, read and written through the
//! config store. A file that cannot be read or written never stops the workbench: what went
//! wrong comes back as a note for the message line.
use std::borrow::Cow;

use super::model::Level;
use crate::config::settings::{ChartStyle, Settings};
use crate::config::store::Store;
use crate::config::theme::Theme;

/// Messages for the log, in the order they happened.
pub type Notes = Vec<(Level, String)>;

pub struct Prefs {
    store: Store,
    settings: Settings,
    themes: Vec<Theme>,
    theme_idx: usize,
    /// `NO_COLOR`: the terminal's colours and modifiers only.
    monochrome: bool,
}

impl Prefs {
    /// Settings and themes from `store`. `theme` (from `--theme`) wins over the remembered one
    /// and is remembered in turn.
    pub fn load(store: Store, theme: Option<&str>) -> (Prefs, Notes) {
        let (settings, settings_note) = store.settings();
        let (themes, theme_errors) = store.themes();
        let mut notes = Notes::new();
        if let Some(n) = settings_note {
            notes.push((Level::Warn, n));
        }
        for e in theme_errors {
            notes.push((Level::Warn, format!("theme skipped: {e}")));
        }
        let mut p = Prefs {
            store,
            settings,
            themes,
            theme_idx: 0,
            monochrome: false,
        };
        let wanted = theme.map(str::to_string).or(p.settings.theme.clone());
        if let Some(name) = wanted {
            match p.themes.iter().position(|t| t.name == name) {
                Some(i) => {
                    p.theme_idx = i;
                    // `--theme` is remembered like `t`.
                    if p.settings.theme.as_deref() != Some(name.as_str()) {
                        p.settings.theme = Some(name);
                        notes.extend(p.save());
                    }
                }
                None => {
                    let names: Vec<&str> = p.themes.iter().map(|t| t.name.as_str()).collect();
                    let msg = format!("no theme named {name:?}; themes: {}", names.join(", "));
                    notes.push((Level::Warn, msg));
                }
            }
        }
        (p, notes)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn set_monochrome(&mut self, on: bool) {
        self.monochrome = on;
    }

    pub fn theme(&self) -> Cow<'_, Theme> {
        match self.themes.get(self.theme_idx) {
            Some(t) if !self.monochrome => Cow::Borrowed(t),
            _ => Cow::Owned(Theme::monochrome()),
        }
    }

    /// `t`: the next theme, remembered.
    pub fn cycle_theme(&mut self) -> Notes {
        if self.monochrome {
            return vec![(Level::Warn, "NO_COLOR is set: colours are off".into())];
        }
        if self.themes.is_empty() {
            return Notes::new();
        }
        self.theme_idx = (self.theme_idx + 1) % self.themes.len();
        let name = self.themes[self.theme_idx].name.clone();
        self.settings.theme = Some(name.clone());
        let mut notes = self.save();
        notes.push((Level::Info, format!("theme {name}")));
        notes
    }

    /// The characters charts are drawn with: `--charts`, else the remembered choice.
    pub fn charts(&self) -> ChartStyle {
        self.settings.charts.unwrap_or_default()
    }

    /// `--charts`: used now and remembered for the next sessions.
    pub fn set_charts(&mut self, charts: ChartStyle) -> Notes {
        if self.settings.charts == Some(charts) {
            return Notes::new();
        }
        self.settings.charts = Some(charts);
        self.save()
    }

    /// Whether the GPU strip is shown (on unless `g` turned it off).
    pub fn gpu_strip(&self) -> bool {
        self.settings.gpu_strip.unwrap_or(true)
    }

    /// `g`: remembered for the next sessions.
    pub fn set_gpu_strip(&mut self, shown: bool) -> Notes {
        self.settings.gpu_strip = Some(shown);
        self.save()
    }

    /// The preset `bapw` alone reopens.
    pub fn last_preset(&self) -> Option<&str> {
        self.settings.last_preset.as_deref()
    }

    /// Remembers `label` as the preset `bapw` alone reopens.
    pub fn remember_preset(&mut self, label: &str) -> Notes {
        self.settings.last_preset = Some(label.to_string());
        self.save()
    }

    fn save(&mut self) -> Notes {
        match self.store.save_settings(&self.settings) {
            Ok(()) => Notes::new(),
            Err(e) => vec![(Level::Warn, format!("settings not saved: {e:#}"))],
        }
    }
}
