//! The user's config folder: user presets (listed beside the shipped ones, loaded, saved),
//! user themes and the workbench's settings. One store serves the workbench (picker, `w`,
//! themes, `settings.toml`) and the CLI (`bapw presets list` and `save`), so both list and
//! save presets the same way. The folder is the caller's choice (the real one, or a temp
//! folder in tests); without one nothing is read or written and the shipped presets and themes
//! still work.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::paths::{self, check_name, write_atomic};
use super::preset::{Preset, PresetError, Problem, SHIPPED};
use super::settings::Settings;
use super::theme::{self, Theme, ThemeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Shipped,
    User(PathBuf),
}

/// One preset of the listing (a line of the picker and of `bapw presets list`).
#[derive(Debug, Clone, PartialEq)]
pub struct PresetEntry {
    pub name: String,
    pub origin: Origin,
    /// Its description, or the problems that keep it from loading.
    pub loads: Result<String, Vec<Problem>>,
}

impl PresetEntry {
    pub fn valid(&self) -> bool {
        self.loads.is_ok()
    }

    /// The description, or `invalid: KEY: MESSAGE` of the first problem.
    pub fn summary(&self) -> String {
        match &self.loads {
            Ok(d) => d.clone(),
            Err(problems) => match problems.first() {
                Some(p) if p.key.is_empty() => format!("invalid: {}", p.message),
                Some(p) => format!("invalid: {}: {}", p.key, p.message),
                None => "invalid".into(),
            },
        }
    }
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

    /// The user's config folder (`BAPW_CONFIG_DIR`, else the platform's); none without a home.
    pub fn user() -> Store {
        match paths::config_dir() {
            Ok(d) => Store::at(d),
            Err(_) => Store::ephemeral(),
        }
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
                let loads = Preset::from_toml_str(&format!("presets/{name}.toml"), text, &[])
                    .map(|p| p.description)
                    .map_err(|e| e.problems);
                PresetEntry {
                    name: name.to_string(),
                    origin: Origin::Shipped,
                    loads,
                }
            })
            .collect();
        let user = self
            .presets_dir()
            .map(|d| paths::toml_files(&d))
            .unwrap_or_default();
        for path in user {
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let loads = load_file(&path)
                .map(|p| p.description)
                .map_err(|e| e.problems);
            out.push(PresetEntry {
                name,
                origin: Origin::User(path),
                loads,
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

    /// Writes `preset` as `<config>/presets/<name>.toml` atomically (every key written out,
    /// `comment` above them when not empty) and returns the path. A user preset of that name is
    /// replaced only with `replace`.
    pub fn save_preset(
        &self,
        name: &str,
        preset: &Preset,
        replace: bool,
        comment: &str,
    ) -> Result<PathBuf> {
        let path = self.user_preset_path(name)?;
        if path.exists() && !replace {
            bail!(
                "user preset {} exists: add --force to replace it",
                path.display()
            );
        }
        let mut p = preset.clone();
        p.name = name.to_string();
        let mut text = String::new();
        for line in comment.lines() {
            text.push_str(&format!("# {line}\n"));
        }
        text.push_str(&p.to_toml());
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// `bapw presets save`: the settings a run started with (its `preset.toml`, at `source`)
    /// as user preset `name`, standing on their own (no `inherit`).
    pub fn save_run_preset(&self, name: &str, source: &Path, replace: bool) -> Result<PathBuf> {
        // Refused names and an existing preset are reported before the run is read.
        let path = self.user_preset_path(name)?;
        if path.exists() && !replace {
            bail!(
                "user preset {} exists: add --force to replace it",
                path.display()
            );
        }
        let text = std::fs::read_to_string(source)
            .with_context(|| format!("reading {}", source.display()))?;
        let mut p = Preset::from_toml_str(&source.display().to_string(), &text, &[])?;
        p.inherit = None;
        self.save_preset(name, &p, replace, "")
    }
}

fn load_file(path: &Path) -> Result<Preset, PresetError> {
    Preset::load_with(&path.display().to_string(), &[])
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
        assert!(list[..SHIPPED.len()].iter().all(|e| e.valid()));
        let broken = list.last().unwrap();
        assert_eq!(broken.name, "broken");
        assert!(!broken.valid());
        assert!(
            broken.summary().contains("final_sparsity"),
            "{}",
            broken.summary()
        );
    }

    #[test]
    fn saving_refuses_shipped_names_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path());
        let mut p = Preset::load("smoke").unwrap();
        assert!(store.save_preset("smoke", &p, true, "").is_err());
        assert!(store.save_preset("../x", &p, true, "").is_err());
        p.prune.final_sparsity = 0.5;
        let path = store.save_preset("mine", &p, false, "a comment").unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("# a comment\n"));
        let again = store.save_preset("mine", &p, false, "").unwrap_err();
        assert!(format!("{again:#}").contains("exists"), "{again:#}");
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
