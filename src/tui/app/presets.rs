//! Opening and saving presets (`o` and `w`): the picker's choice is loaded through the config
//! store (its problems shown when it does not load), the settings saved as a user preset, and
//! either remembered as what `bapw` alone reopens.
use super::App;
use crate::config::preset::SHIPPED;
use crate::config::store::PresetEntry;
use crate::tui::model::Level;
use crate::tui::popups::confirm::{AfterDiscard, ConfirmKind};
use crate::tui::popups::preset_picker::PresetPicker;
use crate::tui::popups::problems::Problems;
use crate::tui::popups::save_as::SaveAs;
use crate::tui::popups::Popup;

impl App {
    pub(super) fn open_picker(&mut self) {
        if self.run.state.is_active() {
            self.note(Level::Warn, "stop the run before opening another preset");
            return;
        }
        if self.unsaved_edits() {
            return self.confirm(ConfirmKind::Discard {
                then: AfterDiscard::OpenPreset,
            });
        }
        self.show_picker();
    }

    pub(super) fn show_picker(&mut self) {
        let entries = self.prefs.store().list_presets();
        let picker = PresetPicker::new(entries, &self.run.label);
        self.ui.popup = Some(Popup::Picker(picker));
    }

    pub(super) fn load_entry(&mut self, e: &PresetEntry) {
        match self.prefs.store().load_preset(e) {
            Ok(p) => {
                self.ui.popup = None;
                self.run.open_settings(p, &e.name);
                self.ui.reset_panes();
                // User presets shadow shipped ones by name, so the name finds it again.
                let notes = self.prefs.remember_preset(&e.name);
                self.notes(notes);
                self.note(Level::Info, format!("opened preset {}", e.name));
            }
            Err(err) => {
                let title = format!("{} does not load; kept {}", e.name, self.run.label);
                let n = err.problems.len();
                self.note(Level::Error, format!("{title} ({n} problem(s))"));
                self.ui.popup = Some(Popup::Problems(Problems {
                    title,
                    lines: err.render().lines().map(str::to_string).collect(),
                    scroll: 0,
                }));
            }
        }
    }

    pub(super) fn open_save_as(&mut self) {
        let name = &self.run.preset.name;
        let is_shipped = SHIPPED.iter().any(|(n, _)| n == name);
        let start = if is_shipped || name.is_empty() {
            ""
        } else {
            name
        };
        self.ui.popup = Some(Popup::SaveAs(SaveAs::new(start, None)));
    }

    pub(super) fn save_as(&mut self, name: &str) {
        let mut preset = self.run.preset.clone();
        preset.description = self.saved_description();
        match self.prefs.store().save_preset(
            name,
            &preset,
            true,
            "Saved from the bapw workbench; every key is written out.",
        ) {
            Ok(path) => {
                self.ui.popup = None;
                self.run.preset.description = preset.description;
                self.run.saved_as(name);
                let notes = self.prefs.remember_preset(name);
                self.notes(notes);
                self.note(
                    Level::Info,
                    format!("saved preset {name} to {}", path.display()),
                );
            }
            Err(e) => {
                let error = Some(format!("{e:#}"));
                self.ui.popup = Some(Popup::SaveAs(SaveAs::new(name, error)));
            }
        }
    }
}

impl App {
    /// The description a saved preset gets: the named preset's own while the settings are
    /// its, else what they were made from and what changed (the shipped text, "used by tests",
    /// would describe settings the file no longer holds).
    fn saved_description(&self) -> String {
        let diffs = self.run.differences();
        if diffs.is_empty() {
            return self.run.preset.description.clone();
        }
        let p = &self.run.preset;
        let changes: Vec<String> = diffs
            .iter()
            .take(4)
            .map(|(k, _, now)| format!("{k} = {now}"))
            .collect();
        let more = match diffs.len() {
            n if n > 4 => format!(" and {} more", n - 4),
            _ => String::new(),
        };
        format!(
            "{} training of {} on {}, from {} with {}{more} (saved from the workbench)",
            p.train.mode.as_str(),
            p.model.arch,
            p.data.dataset,
            self.run.named.name,
            changes.join(", "),
        )
    }
}
