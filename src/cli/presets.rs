//! `bapw presets`: shipped and user presets: list, show, validate, save a run's settings,
//! diff two.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::config::paths;
use crate::config::preset::Preset;
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
            for name in Preset::shipped_names() {
                let p = Preset::load(name)?;
                println!("{name:<20} shipped  {}", p.description);
            }
            if let Ok(dir) = paths::user_presets_dir() {
                for path in paths::toml_files(&dir) {
                    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                    let desc = match Preset::load(&path.display().to_string()) {
                        Ok(p) => p.description,
                        Err(e) => format!("INVALID: {}", e.problems[0].message),
                    };
                    println!("{name:<20} user     {desc}");
                }
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
            let path = crate::config::preset::save_user_preset(&name, &run.preset_path(), force)?;
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
