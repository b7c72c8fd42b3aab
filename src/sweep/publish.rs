//! `bapw report`: the report written to files (report.md, report.csv, runs.csv and the SVG
//! plots) and, when asked, embedded into a Markdown file.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::folder::Plan;
use super::render::{csv, markdown};
use super::report::{aggregate, collect, Report, RunResult};
use crate::config::paths::write_atomic;

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// A sweep folder (made by `bapw sweep`), or a sweep's name under <data dir>/sweeps.
    pub sweep: PathBuf,
    /// Where report.md, the CSV files and the SVG plots go (default: <sweep>/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also put the report into this Markdown file, between the lines
    /// `<!-- bapw-report:begin NAME -->` and `<!-- bapw-report:end NAME -->`.
    #[arg(long)]
    pub embed: Option<PathBuf>,
}

/// Writes report.md, report.csv, runs.csv and the SVGs into `out`; returns their paths,
/// report.md first.
pub fn write(sweep_dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let plan = Plan::load(sweep_dir)?;
    let results = collect(sweep_dir, &plan)?;
    write_files(&aggregate(&plan, &results), &results, out)
}

fn write_files(report: &Report, results: &[RunResult], out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = vec![out.join("report.md")];
    write_atomic(&written[0], markdown(report, ".").as_bytes())?;
    let (cells, runs) = csv(report, results);
    for (name, text) in [("report.csv", cells), ("runs.csv", runs)] {
        write_atomic(&out.join(name), text.as_bytes())?;
        written.push(out.join(name));
    }
    written.extend(super::plots::write(report, out)?);
    Ok(written)
}

/// Replaces the block between the begin/end markers for `name` in a Markdown file.
pub fn embed(file: &Path, name: &str, body: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let begin = format!("<!-- bapw-report:begin {name} -->");
    let end = format!("<!-- bapw-report:end {name} -->");
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        anyhow::bail!(
            "{}: add the lines `{begin}` and `{end}` where the report should go",
            file.display()
        );
    };
    anyhow::ensure!(b < e, "{}: `{end}` comes before `{begin}`", file.display());
    let new = format!(
        "{}{begin}\n{}{}",
        &text[..b],
        body.trim_end().to_string() + "\n",
        &text[e..]
    );
    write_atomic(file, new.as_bytes())
}

/// `bapw report`: writes the files, embeds when asked, prints the paths.
/// `bapw report`: writes the files, embeds when asked, prints the paths.
pub fn cli(a: &ReportArgs) -> Result<()> {
    for p in run(a)? {
        println!("{}", p.display());
    }
    Ok(())
}

pub fn run(a: &ReportArgs) -> Result<Vec<PathBuf>> {
    let sweep = super::folder::resolve_sweep(&a.sweep).unwrap_or_else(|| a.sweep.clone());
    let out = a.out.clone().unwrap_or_else(|| sweep.join("report"));
    let plan = Plan::load(&sweep)?;
    let results = collect(&sweep, &plan)?;
    let report = aggregate(&plan, &results);
    let written = write_files(&report, &results, &out)?;
    if let Some(file) = &a.embed {
        // `README.md` has the empty path as its parent: that is the current folder.
        let from = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let images = relative_to(&out, from);
        embed(file, &plan.name, &markdown(&report, &images))?;
    }
    Ok(written)
}

/// `target` as seen from `from` when it lies under it, else as given.
fn relative_to(target: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (t, f) = (abs(target), abs(from));
    t.strip_prefix(&f)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| target.display().to_string())
}
