//! Presets (what to train), paths (where things live) and themes (how it looks).
pub mod paths;
pub mod preset;

pub use preset::{Preset, PresetError};
