//! The TUI's files: user presets, user themes and settings, all under one config folder that
//! the caller chooses (the real one, or a temp folder in tests). Without a folder nothing is
//! read or written and the shipped presets and themes still work.
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::paths::{check_name, write_atomic};
use crate::config::preset::{Preset, PresetError, SHIPPED};
use crate::config::settings::Settings;
use crate::config::theme::{self, Theme, ThemeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Shipped,
    User(PathBuf),
}

/// One line of the preset picker.
#[derive(Debug, Clone, PartialEq)]
pub struct PresetEntry {
    pub name: String,
    pub origin: Origin,
    /// The description, or why the file does not load.
    pub description: String,
    pub valid: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Store {
    config_dir: Option<PathBuf>,
}

impl Store {
    pub fn at(config_dir: impl Into<PathBuf>) -> Store {
        Store {
            config_dir: Some(config_dir.into()),
        }
    }

    /// No config folder: shipped presets and themes only, nothing saved.
    pub fn ephemeral() -> Store {
        Store { config_dir: None }
    }

    pub fn config_dir(&self) -> Option<&Path> {
        self.config_dir.as_deref()
    }

    fn presets_dir(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("presets"))
    }

    pub fn settings(&self) -> (Settings, Option<String>) {
        match &self.config_dir {
            Some(d) => Settings::load(&d.join("settings.toml")),
            None => (Settings::default(), None),
        }
    }

    pub fn save_settings(&self, s: &Settings) -> Result<()> {
        match &self.config_dir {
            Some(d) => s.save(&d.join("settings.toml")),
            None => Ok(()),
        }
    }

    pub fn themes(&self) -> (Vec<Theme>, Vec<ThemeError>) {
        let dir = self.config_dir.as_ref().map(|d| d.join("themes"));
        theme::load_all(dir.as_deref())
    }

    /// Shipped presets, then the user's, each with its description (or its first problem).
    pub fn list_presets(&self) -> Vec<PresetEntry> {
        let mut out: Vec<PresetEntry> = SHIPPED
            .iter()
            .map(|(name, text)| {
                let (description, valid) =
                    match Preset::from_toml_str(&format!("presets/{name}.toml"), text, &[]) {
                        Ok(p) => (p.description, true),
                        Err(e) => (first_problem(&e), false),
                    };
                PresetEntry {
                    name: name.to_string(),
                    origin: Origin::Shipped,
                    description,
                    valid,
                }
            })
            .collect();
        let user = self
            .presets_dir()
            .map(|d| crate::config::paths::toml_files(&d))
            .unwrap_or_default();
        for path in user {
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let (description, valid) = match load_file(&path) {
                Ok(p) => (p.description, true),
                Err(e) => (first_problem(&e), false),
            };
            out.push(PresetEntry {
                name,
                origin: Origin::User(path),
                description,
                valid,
            });
        }
        out
    }

    pub fn load_preset(&self, entry: &PresetEntry) -> Result<Preset, PresetError> {
        match &entry.origin {
            Origin::User(path) => load_file(path),
            // Straight from the compiled-in text: a user file of the same name must not
            // stand in for the shipped preset the user picked.
            Origin::Shipped => {
                let text = SHIPPED
                    .iter()
                    .find(|(n, _)| *n == entry.name)
                    .map(|(_, t)| *t)
                    .unwrap_or_default();
                Preset::from_toml_str(&format!("presets/{}.toml", entry.name), text, &[])
            }
        }
    }

    /// Where `name` would be saved; refuses names that are not plain file names and the names
    /// of shipped presets (a user file would shadow them everywhere).
    pub fn user_preset_path(&self, name: &str) -> Result<PathBuf> {
        check_name("preset", name)?;
        if SHIPPED.iter().any(|(n, _)| *n == name) {
            bail!("{name} is a shipped preset: choose another name");
        }
        match self.presets_dir() {
            Some(d) => Ok(d.join(format!("{name}.toml"))),
            None => bail!("no config folder to save presets in (set BAPW_CONFIG_DIR)"),
        }
    }

    /// Writes `preset` as `<config>/presets/<name>.toml` atomically and returns the path.
    pub fn save_preset(&self, name: &str, preset: &Preset) -> Result<PathBuf> {
        let path = self.user_preset_path(name)?;
        let mut p = preset.clone();
        p.name = name.to_string();
        let text = format!(
            "# Saved from the bapw workbench; every key is written out.\n{}",
            p.to_toml()
        );
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }
}

fn load_file(path: &Path) -> Result<Preset, PresetError> {
    Preset::load_with(&path.display().to_string(), &[])
}

fn first_problem(e: &PresetError) -> String {
    match e.problems.first() {
        Some(p) if p.key.is_empty() => format!("invalid: {}", p.message),
        Some(p) => format!("invalid: {}: {}", p.key, p.message),
        None => "invalid".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_shipped_then_user_presets_with_problems() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path());
        std::fs::create_dir_all(d.path().join("presets")).unwrap();
        std::fs::write(
            d.path().join("presets/broken.toml"),
            "schema_version = 1\ninherit = \"smoke\"\n[prune]\nfinal_sparsity = 2.0\n",
        )
        .unwrap();
        let list = store.list_presets();
        assert_eq!(list.len(), SHIPPED.len() + 1);
        assert!(list[..SHIPPED.len()].iter().all(|e| e.valid));
        let broken = list.last().unwrap();
        assert_eq!(broken.name, "broken");
        assert!(!broken.valid);
        assert!(
            broken.description.contains("final_sparsity"),
            "{}",
            broken.description
        );
    }

    #[test]
    fn saving_refuses_shipped_names_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path());
        let mut p = Preset::load("smoke").unwrap();
        assert!(store.save_preset("smoke", &p).is_err());
        assert!(store.save_preset("../x", &p).is_err());
        p.prune.final_sparsity = 0.5;
        let path = store.save_preset("mine", &p).unwrap();
        let entry = store.list_presets().pop().unwrap();
        assert_eq!(entry.origin, Origin::User(path));
        let back = store.load_preset(&entry).unwrap();
        assert_eq!(back.prune.final_sparsity, 0.5);
        assert_eq!(back.name, "mine");
    }

    #[test]
    fn ephemeral_store_saves_nothing() {
        let store = Store::ephemeral();
        assert!(store.save_settings(&Settings::default()).is_ok());
        assert!(store.user_preset_path("mine").is_err());
        assert_eq!(store.list_presets().len(), SHIPPED.len());
    }
}
