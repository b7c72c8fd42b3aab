//! `bapw runs`: every run folder with its state and headline numbers.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::run::list;

#[derive(clap::Args, Debug, Clone)]
pub struct RunsArgs {
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// One JSON object per run.
    #[arg(long)]
    pub json: bool,
    /// Every column, however wide the terminal (the default fits the terminal).
    #[arg(long)]
    pub wide: bool,
}

pub fn run(a: RunsArgs) -> Result<ExitCode> {
    let runs_dir = crate::config::paths::runs_dir_or_default(a.runs_dir)?;
    let mut rows = Vec::new();
    for row in list::list(&runs_dir) {
        match row {
            Ok(r) if a.json => println!("{}", serde_json::to_string(&r)?),
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("bapw: {e:#}"),
        }
    }
    if !a.json {
        // Into a pipe or a file every column goes: nothing there wraps.
        let width = if a.wide || !std::io::stdout().is_terminal() {
            None
        } else {
            crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
        };
        print!("{}", list::table(&rows, width));
    }
    Ok(ExitCode::SUCCESS)
}
