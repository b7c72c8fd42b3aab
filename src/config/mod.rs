//! Presets (what to train) and their edits by key path, paths (where things live), themes (how
//! it looks), the TUI's remembered settings, and the store of user presets, themes and
//! settings in the config folder.
pub mod alerts;
pub mod edit;
pub mod keypath;
pub mod paths;
pub mod preset;
pub mod settings;
pub mod spans;
pub mod store;
pub mod theme;

pub use preset::{Preset, PresetError};

/// A mistake in a command's arguments (a checkpoint step that does not exist, an unknown
/// format), said in full: what was given and what would have been accepted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Whether `e` is a mistake in the user's input (a preset, a theme, an argument), which the CLI
/// reports with exit code 2 rather than 1.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.downcast_ref::<PresetError>().is_some()
        || e.downcast_ref::<theme::ThemeError>().is_some()
        || e.downcast_ref::<BadInput>().is_some()
}

/// Checks `--theme NAME` against the shipped themes and the user's `<config>/themes/`.
pub fn check_theme_choice(name: &str) -> Result<(), theme::ThemeError> {
    let dir = paths::config_dir().ok().map(|d| d.join("themes"));
    theme::check_choice(name, dir.as_deref())
}
