//! Where a sweep's runs train: `local` (child processes here, the default) or `slurm` (one job
//! array on a cluster). This module holds the sweep file's `backend` key and `[slurm]` table,
//! the command-line flags that override them, and the checks that run before anything is
//! submitted: every value that reaches `sbatch` is validated here, so a typo is exit code 2
//! naming the key rather than a rejected (or worse, a misread) job.
use serde::{Deserialize, Serialize};

use crate::config::preset::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Child processes on this machine, `--jobs` at a time.
    Local,
    /// One Slurm job array, one task per grid point.
    Slurm,
}

impl Backend {
    pub fn parse(key: &str, value: &str) -> Result<Backend, Problem> {
        match value {
            "local" => Ok(Backend::Local),
            "slurm" => Ok(Backend::Slurm),
            other => Err(problem(
                key,
                format!("unknown backend {other:?}; valid: local, slurm"),
            )),
        }
    }
}

/// The `[slurm]` table of a sweep file, as written. Numbers are read as signed so that a
/// negative one is reported with its key rather than as a type error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// `--partition` (several: comma-separated).
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`: the time limit of each run, in Slurm's format (`90`, `1:30:00`, `2-00:00:00`).
    pub time: Option<String>,
    /// `--gres=gpu:N`: GPUs per run.
    pub gpus: Option<i64>,
    /// `--cpus-per-task`: CPU cores per run (also the run's LibTorch threads).
    pub cpus: Option<i64>,
    /// `--mem`: memory per run (`4000` MB, `16G`).
    pub mem: Option<String>,
    /// Extra `sbatch` options, one per item (`"--constraint=a100"`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Runs at the same time (the array's `%N`); `--jobs` overrides.
    pub jobs: Option<i64>,
    /// Seconds before the time limit at which Slurm warns a task (SIGUSR1): the run
    /// checkpoints and the task requeues itself (default 120; 0: no warning).
    pub checkpoint_before: Option<i64>,
}

/// What a Slurm submission uses: the `[slurm]` table with the command line on top, checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub time: Option<String>,
    pub gpus: u32,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub sbatch_args: Vec<String>,
    pub jobs: Option<u32>,
    pub checkpoint_before: u32,
}

pub const DEFAULT_CHECKPOINT_BEFORE: u32 = 120;

fn problem(key: &str, message: String) -> Problem {
    Problem {
        key: key.into(),
        line: None,
        message,
    }
}

/// Every problem of a `[slurm]` table (or of the flags that override it), keys prefixed with
/// `prefix` (`slurm.` in a file, `--` on the command line).
pub fn check(spec: &SlurmSpec, key: impl Fn(&str) -> String) -> Vec<Problem> {
    let mut p = Vec::new();
    for (k, v, list) in [
        ("partition", &spec.partition, true),
        ("account", &spec.account, false),
        ("qos", &spec.qos, false),
    ] {
        if let Some(v) = v {
            if let Err(m) = check_name(v, list) {
                p.push(problem(&key(k), m));
            }
        }
    }
    if let Some(t) = &spec.time {
        if let Err(m) = check_time(t) {
            p.push(problem(&key("time"), m));
        }
    }
    if let Some(m) = &spec.mem {
        if let Err(msg) = check_mem(m) {
            p.push(problem(&key("mem"), msg));
        }
    }
    for (k, v, min, max, what) in [
        ("gpus", spec.gpus, 0, 64, "GPUs per run (0 for none)"),
        ("cpus", spec.cpus, 1, 4096, "CPU cores per run"),
        ("jobs", spec.jobs, 1, 100_000, "runs at the same time"),
        (
            "checkpoint_before",
            spec.checkpoint_before,
            0,
            7 * 86_400,
            "seconds (0: no warning)",
        ),
    ] {
        match v {
            Some(n) if n < 0 => p.push(problem(&key(k), format!("{n} is negative: give {what}"))),
            Some(n) if n < min || n > max => p.push(problem(
                &key(k),
                format!("{n} is outside {min}..={max}: give {what}"),
            )),
            _ => {}
        }
    }
    for (i, a) in spec.sbatch_args.iter().enumerate() {
        if let Err(m) = check_sbatch_arg(a) {
            p.push(problem(&format!("{}[{i}]", key("sbatch_args")), m));
        }
    }
    p
}

impl SlurmSpec {
    /// `over`'s values replace these ones; extra `sbatch` arguments add up.
    pub fn overridden_by(&self, over: &SlurmSpec) -> SlurmSpec {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        let mut sbatch_args = self.sbatch_args.clone();
        sbatch_args.extend(over.sbatch_args.iter().cloned());
        SlurmSpec {
            partition: pick(&self.partition, &over.partition),
            account: pick(&self.account, &over.account),
            qos: pick(&self.qos, &over.qos),
            time: pick(&self.time, &over.time),
            gpus: over.gpus.or(self.gpus),
            cpus: over.cpus.or(self.cpus),
            mem: pick(&self.mem, &over.mem),
            sbatch_args,
            jobs: over.jobs.or(self.jobs),
            checkpoint_before: over.checkpoint_before.or(self.checkpoint_before),
        }
    }

    /// The checked options; call `check` first (out-of-range numbers are clamped here).
    pub fn options(&self) -> SlurmOptions {
        let u = |v: Option<i64>| v.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
        SlurmOptions {
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            gpus: u(self.gpus).unwrap_or(0),
            cpus: u(self.cpus),
            mem: self.mem.clone(),
            sbatch_args: self.sbatch_args.clone(),
            jobs: u(self.jobs),
            checkpoint_before: u(self.checkpoint_before).unwrap_or(DEFAULT_CHECKPOINT_BEFORE),
        }
    }
}

/// Partition, account and QOS names: letters, digits, `-`, `_`, `.` (and `,` between the
/// partitions of a list).
fn check_name(v: &str, list: bool) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 200
        && v.split(',').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        && (list || !v.contains(','));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a Slurm name: use letters, digits, '-', '_' and '.'{}",
            if list {
                " (several partitions: comma-separated)"
            } else {
                ""
            }
        ))
    }
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, or `UNLIMITED`.
pub fn check_time(v: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "{v:?} is not a Slurm time limit: use minutes (90), H:MM:SS (1:30:00) or D-HH:MM:SS (2-00:00:00)"
        )
    };
    if matches!(v, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite") {
        return Ok(());
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.chars().all(|c| c.is_ascii_digit());
    let (days, rest) = match v.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, v),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let shape_ok = match days {
        Some(d) => digits(d) && (1..=3).contains(&parts.len()),
        None => (1..=3).contains(&parts.len()),
    };
    if !shape_ok || !parts.iter().all(|p| digits(p)) {
        return Err(bad());
    }
    let total: u64 = days.map_or(0, |d| d.parse::<u64>().unwrap_or(0))
        + parts
            .iter()
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .sum::<u64>();
    if total == 0 {
        return Err(format!("{v:?} is a time limit of zero"));
    }
    Ok(())
}

/// `--mem`: a number with an optional K, M, G or T unit.
fn check_mem(v: &str) -> Result<(), String> {
    let num = v.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let unit_len = v.len() - num.len();
    if unit_len <= 1
        && !num.is_empty()
        && num.len() <= 12
        && num.chars().all(|c| c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a Slurm memory size: use a number of megabytes or a unit (16G, 4000M)"
        ))
    }
}

/// Options bapw sets itself, which an extra argument must not replace.
const MANAGED: &[&str] = &[
    "-a",
    "--array",
    "--wrap",
    "--parsable",
    "-D",
    "--chdir",
    "-o",
    "--output",
    "-e",
    "--error",
];

fn check_sbatch_arg(a: &str) -> Result<(), String> {
    if !a.starts_with('-') {
        return Err(format!(
            "{a:?} is not an sbatch option: each item is one option, like \"--constraint=a100\""
        ));
    }
    if a.chars().any(|c| c.is_control()) {
        return Err(format!("{a:?} contains a control character"));
    }
    let mut name = a.split('=').next().unwrap_or(a);
    if !name.starts_with("--") && name.len() > 2 {
        // A short option with its value attached: `-a0-3`.
        name = &name[..2];
    }
    if MANAGED.contains(&name) {
        return Err(format!(
            "{name} is set by bapw (one array task per grid point, logs in the sweep folder)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_in_slurm_formats() {
        for ok in [
            "90",
            "1:30",
            "1:30:00",
            "2-00",
            "2-0:30",
            "2-00:30:00",
            "UNLIMITED",
        ] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "0:00", "1h", "1:2:3:4", "-5", "2-", "a-1", "1;rm"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_memory_and_extra_arguments() {
        assert!(check_name("gpu,cpu", true).is_ok());
        assert!(check_name("gpu,cpu", false).is_err());
        assert!(check_name("a b", true).is_err());
        assert!(check_name("$(x)", false).is_err());
        assert!(check_mem("16G").is_ok() && check_mem("4000").is_ok());
        assert!(check_mem("16GB").is_err() && check_mem("G").is_err());
        assert!(check_sbatch_arg("--constraint=a100&nvlink").is_ok());
        assert!(check_sbatch_arg("--array=0-3").is_err());
        assert!(check_sbatch_arg("-a0-3").is_err());
        assert!(check_sbatch_arg("--mail-user=x\n#SBATCH --x").is_err());
        assert!(check_sbatch_arg("constraint").is_err());
    }

    #[test]
    fn problems_name_the_key() {
        let spec = SlurmSpec {
            gpus: Some(-1),
            cpus: Some(0),
            qos: Some("a b".into()),
            ..Default::default()
        };
        let p = check(&spec, |k| format!("slurm.{k}"));
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["slurm.qos", "slurm.gpus", "slurm.cpus"]);
        assert!(p[1].message.contains("-1 is negative"), "{}", p[1].message);
    }

    #[test]
    fn the_command_line_wins_and_arguments_add_up() {
        let file = SlurmSpec {
            partition: Some("a".into()),
            gpus: Some(1),
            sbatch_args: vec!["--x".into()],
            ..Default::default()
        };
        let cli = SlurmSpec {
            partition: Some("b".into()),
            sbatch_args: vec!["--y".into()],
            ..Default::default()
        };
        let o = file.overridden_by(&cli).options();
        assert_eq!(o.partition.as_deref(), Some("b"));
        assert_eq!(o.gpus, 1);
        assert_eq!(o.sbatch_args, ["--x", "--y"]);
        assert_eq!(o.checkpoint_before, DEFAULT_CHECKPOINT_BEFORE);
    }
}
