//! Presets (what to train), paths (where things live), themes (how it looks) and the TUI's
//! remembered settings.
pub mod paths;
pub mod preset;
pub mod settings;
pub mod theme;

pub use preset::{Preset, PresetError};
