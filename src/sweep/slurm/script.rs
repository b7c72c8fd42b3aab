//! The batch script of a submission: `#SBATCH` lines for the options and one `exec` line that
//! runs the array task's grid point through bapw. Written for a person to read and submit
//! again. Text that came from a user reaches `sbatch`'s own `#SBATCH` parser quoted by its
//! rules (double quotes, backslash escapes) and the shell only as single-quoted words.
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::device::DeviceChoice;
use crate::sweep::backend::SlurmOptions;
use crate::sweep::folder::Plan;

/// The script's inputs.
pub struct Script<'a> {
    pub plan: &'a Plan,
    pub sweep_dir: &'a Path,
    pub exe: &'a Path,
    pub indices: &'a [usize],
    pub options: &'a SlurmOptions,
    pub device: DeviceChoice,
    /// The submission's number (`submit-N.sh`).
    pub number: usize,
}

/// Task ids as `sbatch --array` wants them: `0-3,5,7-9`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut v = indices.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", v[i], v[j])
        } else {
            v[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

/// A value as one word for `sbatch`'s `#SBATCH` parser: as is when it is plain, otherwise in
/// double quotes with `"` and `\` escaped. Line breaks cannot be written at all.
pub fn sbatch_word(v: &str) -> Result<String> {
    if v.chars().any(|c| c.is_control()) {
        return Err(anyhow!(
            "{v:?} contains a line break or control character and cannot go into a batch script"
        ));
    }
    let plain = !v.is_empty()
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '%' | '@' | '+')
        });
    if plain {
        return Ok(v.to_string());
    }
    let mut q = String::from("\"");
    for c in v.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    Ok(q)
}

/// The sweep folder as Slurm will see it: the tasks' output files are named by a pattern
/// joined to it, in which Slurm reads `%` as a placeholder and `\` as "no placeholders"
/// (dropping it), so a folder with either would lose its logs.
pub fn check_sweep_dir(dir: &Path) -> Result<(), String> {
    let Some(s) = dir.to_str() else {
        return Err("the sweep folder's path is not UTF-8: choose another --out".into());
    };
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() || matches!(c, '%' | '\\'))
    {
        return Err(format!(
            "the sweep folder's path holds {c:?}, which Slurm reads in its file-name patterns: choose another --out"
        ));
    }
    Ok(())
}

/// A path as one shell word (single-quoted when needed).
fn shell_word(p: &Path) -> Result<String> {
    let s = p.to_str().ok_or_else(|| {
        anyhow!(
            "{} is not UTF-8 and cannot go into a batch script",
            p.display()
        )
    })?;
    Ok(shlex::try_quote(s)
        .map_err(|e| anyhow!("{}: {e}", p.display()))?
        .into_owned())
}

impl Script<'_> {
    pub fn text(&self) -> Result<String> {
        let o = self.options;
        let dir = self
            .sweep_dir
            .to_str()
            .ok_or_else(|| anyhow!("{} is not UTF-8", self.sweep_dir.display()))?;
        let mut s = String::new();
        let _ = writeln!(s, "#!/bin/bash");
        let _ = writeln!(
            s,
            "# bapw sweep {:?} on Slurm, submission {}: one array task per grid point.",
            self.plan.name, self.number
        );
        let _ = writeln!(
            s,
            "# Task N trains grid point N of plan.json, or resumes it from its last checkpoint."
        );
        let _ = writeln!(
            s,
            "# `bapw sweep {dir}` shows each point's state and submits what is neither finished"
        );
        let _ = writeln!(
            s,
            "# nor queued; `bapw sweep cancel {dir}` cancels. To submit this file again by hand:"
        );
        let _ = writeln!(s, "#   sbatch {}", self.path_in_dir());
        let _ = writeln!(
            s,
            "# (a task whose point is finished or running does nothing)."
        );
        let _ = writeln!(s, "#");
        let _ = writeln!(s, "# task  grid point");
        for &i in self.indices {
            let _ = writeln!(s, "# {i:>4}  {}", self.plan.runs[i].id);
        }
        let mut line = |opt: &str, value: Option<&str>| -> Result<()> {
            match value {
                Some(v) => writeln!(s, "#SBATCH {opt}={}", sbatch_word(v)?),
                None => writeln!(s, "#SBATCH {opt}"),
            }
            .map_err(|e| anyhow!("{e}"))
        };
        line("--job-name", Some(&format!("bapw-{}", self.plan.name)))?;
        let array = match o.jobs {
            Some(n) => format!("{}%{n}", array_spec(self.indices)),
            None => array_spec(self.indices),
        };
        line("--array", Some(&array))?;
        line("--chdir", Some(dir))?;
        // Relative to --chdir: no user text goes into Slurm's %-patterns.
        line("--output", Some("logs/slurm-%A_%a.out"))?;
        line("--open-mode", Some("append"))?;
        // Back into the queue after a node failure or preemption.
        line("--requeue", None)?;
        if o.checkpoint_before > 0 {
            // SIGUSR1 to the task (B: the batch process, which is bapw) this long before the
            // time limit: the run checkpoints and the task requeues itself.
            line("--signal", Some(&format!("B:USR1@{}", o.checkpoint_before)))?;
        }
        for (opt, v) in [
            ("--partition", &o.partition),
            ("--account", &o.account),
            ("--qos", &o.qos),
            ("--time", &o.time),
            ("--mem", &o.mem),
        ] {
            if let Some(v) = v {
                line(opt, Some(v))?;
            }
        }
        if let Some(c) = o.cpus {
            line("--cpus-per-task", Some(&c.to_string()))?;
        }
        if o.gpus > 0 {
            line("--gres", Some(&format!("gpu:{}", o.gpus)))?;
        }
        for a in &o.sbatch_args {
            let _ = writeln!(s, "#SBATCH {}", sbatch_word(a)?);
        }
        let device = self.device.to_string();
        let _ = writeln!(
            s,
            "exec {} sweep run-one {} \"$SLURM_ARRAY_TASK_ID\" --device {device}",
            shell_word(self.exe)?,
            shell_word(self.sweep_dir)?
        );
        Ok(s)
    }

    /// `slurm/submit-N.sh`, relative to the sweep folder.
    pub fn path_in_dir(&self) -> String {
        format!("slurm/submit-{}.sh", self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs_of_ids() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[5, 0, 2, 3, 9, 8]), "0,2-3,5,8-9");
        assert_eq!(array_spec(&[7]), "7");
    }

    #[test]
    fn sbatch_words_quote_what_is_not_plain() {
        assert_eq!(sbatch_word("/data/sweeps/a-1").unwrap(), "/data/sweeps/a-1");
        assert_eq!(
            sbatch_word(r#"/my sweeps/"q"\x"#).unwrap(),
            r#""/my sweeps/\"q\"\\x""#
        );
        assert!(sbatch_word("a\n#SBATCH --x").is_err());
    }

    #[test]
    fn sweep_folders_slurm_would_misread_are_refused() {
        assert!(check_sweep_dir(Path::new("/data/my sweep's \"x\" $(id)")).is_ok());
        assert!(check_sweep_dir(Path::new("/data/a\\b")).is_err());
        assert!(check_sweep_dir(Path::new("/data/100%")).is_err());
        assert!(check_sweep_dir(Path::new("/data/a\nb")).is_err());
    }
}
