//! `bapw presets`: shipped and user presets: list, show, validate, save a run's settings,
//! diff two.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::config::preset::Preset;
use crate::config::store::{Origin, Store};
use crate::run::RunDir;

#[derive(Subcommand)]
pub enum PresetsCmd {
    /// Shipped and user presets with their descriptions.
    List,
    /// Print a preset with every default filled in.
    Show { name: String },
    /// Check a preset file and report every problem.
    Validate { path: String },
    /// Save a run's effective settings as a user preset.
    Save {
        name: String,
        /// Run name (under the runs folder) or path.
        #[arg(long = "from")]
        from: String,
        /// Replace an existing user preset of that name.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// Show the keys on which two presets differ.
    Diff { a: String, b: String },
}

pub fn run(c: PresetsCmd) -> Result<ExitCode> {
    match c {
        PresetsCmd::List => {
            for e in Store::user().list_presets() {
                let origin = match e.origin {
                    Origin::Shipped => "shipped",
                    Origin::User(_) => "user",
                };
                let desc = e.loads.unwrap_or_else(|p| {
                    format!("INVALID: {}", p.first().map_or("", |p| p.message.as_str()))
                });
                println!("{:<20} {origin:<9}{desc}", e.name);
            }
        }
        PresetsCmd::Show { name } => print!("{}", Preset::load(&name)?.to_toml()),
        PresetsCmd::Validate { path } => {
            Preset::load(&path)?;
            println!("{path}: ok");
        }
        PresetsCmd::Save {
            name,
            from,
            force,
            runs_dir,
        } => {
            let runs_dir = crate::config::paths::runs_dir_or_default(runs_dir)?;
            let run = RunDir::resolve(&runs_dir, &from)?;
            let path = Store::user().save_run_preset(&name, &run.preset_path(), force)?;
            println!("saved {}", path.display());
        }
        PresetsCmd::Diff { a, b } => {
            let (pa, pb) = (Preset::load(&a)?, Preset::load(&b)?);
            let diffs = crate::config::preset::diff(&pa, &pb);
            if diffs.is_empty() {
                println!("{a} and {b} are the same");
            }
            for (key, va, vb) in diffs {
                println!("{key:<28} {va:<24} {vb}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
