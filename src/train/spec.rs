//! What a run is asked to be: [`RunSpec`], built in one place for every face that starts or
//! continues a run (the CLI, the workbench, a sweep's child, the background hand-over).
use std::path::PathBuf;

use anyhow::Result;

use crate::config::preset::Preset;
use crate::device::DeviceChoice;
use crate::run::RunDir;

/// How a preset's name is marked once its settings were edited.
pub const EDITED: &str = " (edited)";

/// Everything needed to start (or resume) a run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub preset: Preset,
    /// Name shown for the preset (its name or path).
    pub preset_label: String,
    pub runs_dir: PathBuf,
    /// Folder name of the run; default `<preset>-<timestamp>`.
    pub run_name: Option<String>,
    pub device: DeviceChoice,
    /// Start training at once, or wait for `Command::Start`.
    pub autostart: bool,
    /// Resume the run in this folder from its last checkpoint.
    pub resume: Option<PathBuf>,
    /// With `resume`: from this checkpoint instead of the newest (`bapw resume --from`); the
    /// newer ones are dropped.
    pub resume_step: Option<usize>,
    /// With `resume`: live settings (`key=value`, `config::edit::LIVE_KEYS`) changed as the
    /// run goes on, logged as `param_changed` (`bapw resume --set`).
    pub resume_sets: Vec<String>,
    /// Headless progress interval (steps).
    pub log_every: usize,
    /// A viewer can act on a pause (TUI): a NaN loss pauses instead of failing the run.
    pub interactive: bool,
    /// The settings differ from the named preset's (edited in the workbench): the run says
    /// so in its label, its folder name and its `preset.toml`.
    pub edited: bool,
}

impl RunSpec {
    /// A new run of `preset` in a fresh folder under `runs_dir`, started at once, on the
    /// device `auto` picks, with nobody to answer a pause (headless).
    pub fn new(preset: Preset, label: impl Into<String>, runs_dir: PathBuf) -> RunSpec {
        RunSpec {
            log_every: preset.train.log_every,
            preset,
            preset_label: label.into(),
            runs_dir,
            run_name: None,
            device: DeviceChoice::Auto,
            autostart: true,
            resume: None,
            resume_step: None,
            resume_sets: Vec::new(),
            interactive: false,
            edited: false,
        }
    }

    /// Continuing the run in `dir` from its last checkpoint, on the settings it started with.
    pub fn resume(dir: &RunDir, runs_dir: PathBuf) -> Result<RunSpec> {
        let preset = dir.read_preset()?;
        let label = preset.name.clone();
        Ok(RunSpec {
            resume: Some(dir.path().to_path_buf()),
            ..RunSpec::new(preset, label, runs_dir)
        })
    }

    /// The run folder's name (`--name`); `None` keeps `<preset>-<timestamp>`.
    pub fn named(self, run_name: Option<String>) -> RunSpec {
        RunSpec { run_name, ..self }
    }

    pub fn on(self, device: DeviceChoice) -> RunSpec {
        RunSpec { device, ..self }
    }

    /// Someone watches and can answer a pause (the workbench).
    pub fn interactive(self, interactive: bool) -> RunSpec {
        RunSpec {
            interactive,
            ..self
        }
    }

    /// The settings were edited after `preset_label` was loaded: the label, the folder name
    /// and the saved `preset.toml` say "edited".
    pub fn edited(self, edited: bool) -> RunSpec {
        let preset_label = match edited {
            true if !self.preset_label.ends_with(EDITED) => {
                format!("{}{EDITED}", self.preset_label)
            }
            _ => self.preset_label,
        };
        RunSpec {
            edited,
            preset_label,
            ..self
        }
    }

    /// Wait for `Command::Start` instead of training at once.
    pub fn waiting(self) -> RunSpec {
        RunSpec {
            autostart: false,
            ..self
        }
    }
}
