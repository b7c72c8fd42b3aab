//! Sweep files: a base preset and the axes to vary, expanded into one planned run per point of
//! the grid. Every planned run is an ordinary preset plus `--set` overrides, so the preset's own
//! validation checks each one before anything starts.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::backend::{Backend, SlurmSpec};
use crate::config::preset::{read_text, toml_problem, Preset, PresetError, Problem};

pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// The TOML a user writes (see `presets/sweeps/`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub schema_version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Preset name (shipped or user) or path, relative to the sweep file.
    pub base: String,
    /// `key=value` overrides applied to every run, as `bapw train --set`.
    #[serde(default)]
    pub set: Vec<String>,
    /// Final sparsities (the efficiency axis).
    pub sparsity: Vec<f64>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Pruning processes; none means the base preset's own.
    #[serde(default, rename = "process")]
    pub processes: Vec<ProcessSpec>,
    #[serde(rename = "method")]
    pub methods: Vec<MethodSpec>,
    #[serde(default)]
    pub report: ReportSpec,
    /// Where the runs train: "local" (the default) or "slurm" (see `backend`).
    #[serde(default)]
    pub backend: Option<String>,
    /// The Slurm backend's options.
    #[serde(default)]
    pub slurm: Option<SlurmSpec>,
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// One pruning process: how long training lasts and when the masks move.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    pub name: String,
    pub epochs: Option<usize>,
    pub begin_epoch: Option<f64>,
    pub end_epoch: Option<f64>,
    pub frequency: Option<usize>,
    #[serde(default)]
    pub set: Vec<String>,
}

/// One training method. `eps` (uniform adversarial) and `delta`/`rho` (BAP) are lists: each
/// value is a variant of the method.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    pub name: String,
    /// natural, adversarial or bap.
    pub mode: String,
    /// Uniform attack for `adversarial`: fgsm or pgd.
    pub attack: Option<String>,
    #[serde(default)]
    pub eps: Vec<f64>,
    /// A fixed cut-off for BAP (otherwise the base's, e.g. the batch mean).
    #[serde(default)]
    pub delta: Vec<f64>,
    #[serde(default)]
    pub rho: Vec<f64>,
    #[serde(default)]
    pub set: Vec<String>,
}

/// Which budgets the report's "robust accuracy" columns read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    /// L-inf ε for the FGSM and PGD columns.
    pub eps: f64,
    /// RMS-L2 δ for the DeepFool-cut column.
    pub delta: f64,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            eps: 0.1,
            delta: 0.1,
        }
    }
}

/// One point of the grid: what the report groups by, and how to train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Run folder name, unique in the sweep.
    pub id: String,
    /// The method as the report shows it, e.g. `fgsm eps=0.1`.
    pub method: String,
    pub mode: String,
    pub sparsity: f64,
    pub process: String,
    pub seed: u64,
    /// Every override, in order, on top of the sweep's frozen base preset.
    pub sets: Vec<String>,
}

/// Short decimal without trailing zeros (0.9 -> "0.9", 0.995 -> "0.995").
pub fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The distinct values, ascending (the sparsity axis of a plan or a report).
pub fn distinct_sorted(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

fn problem(key: &str, message: String) -> Problem {
    Problem {
        key: key.into(),
        line: None,
        message,
    }
}

impl SweepFile {
    /// Reads and checks a sweep file; every problem names the file and the key.
    pub fn load(path: &Path) -> Result<SweepFile, PresetError> {
        let file = path.display().to_string();
        let text = read_text(path).map_err(|m| PresetError {
            file: file.clone(),
            problems: vec![problem("", m)],
        })?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<SweepFile, PresetError> {
        let err = |problems| PresetError {
            file: file.into(),
            problems,
        };
        let sweep: SweepFile =
            toml::from_str(text).map_err(|e| err(vec![toml_problem(text, &e)]))?;
        let problems = sweep.check();
        if problems.is_empty() {
            Ok(sweep)
        } else {
            Err(err(problems))
        }
    }

    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.schema_version != SWEEP_SCHEMA_VERSION {
            p.push(problem(
                "schema_version",
                format!(
                    "{} is not supported (this bapw reads {SWEEP_SCHEMA_VERSION})",
                    self.schema_version
                ),
            ));
        }
        if let Err(e) = crate::config::paths::check_name("sweep", &self.name) {
            p.push(problem("name", e.to_string()));
        }
        if self.sparsity.is_empty() {
            p.push(problem(
                "sparsity",
                "give at least one final sparsity".into(),
            ));
        }
        for s in &self.sparsity {
            if !(0.0..1.0).contains(s) {
                p.push(problem("sparsity", format!("{s} is outside [0, 1)")));
            }
        }
        if self.seeds.is_empty() {
            p.push(problem("seeds", "give at least one seed".into()));
        }
        if self.methods.is_empty() {
            p.push(problem("method", "add at least one [[method]]".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.methods.iter().enumerate() {
            let key = |k: &str| format!("method[{i}].{k}");
            if let Err(e) = crate::config::paths::check_name("method", &m.name) {
                p.push(problem(&key("name"), e.to_string()));
            }
            if !names.insert(m.name.clone()) {
                p.push(problem(&key("name"), format!("{:?} is used twice", m.name)));
            }
            match m.mode.as_str() {
                "natural" | "adversarial" | "bap" => {}
                other => p.push(problem(
                    &key("mode"),
                    format!("unknown mode {other:?}; valid: natural, adversarial, bap"),
                )),
            }
            if m.mode != "adversarial" && (m.attack.is_some() || !m.eps.is_empty()) {
                p.push(problem(
                    &key("eps"),
                    "`attack` and `eps` apply to mode = \"adversarial\" only".into(),
                ));
            }
            if m.mode != "bap" && (!m.delta.is_empty() || !m.rho.is_empty()) {
                p.push(problem(
                    &key("delta"),
                    "`delta` and `rho` apply to mode = \"bap\" only".into(),
                ));
            }
        }
        if let Some(b) = &self.backend {
            if let Err(e) = Backend::parse("backend", b) {
                p.push(e);
            }
        }
        if let Some(s) = &self.slurm {
            p.extend(super::backend::check(s, |k| format!("slurm.{k}")));
        }
        let mut pnames = std::collections::BTreeSet::new();
        for (i, pr) in self.processes.iter().enumerate() {
            if let Err(e) = crate::config::paths::check_name("process", &pr.name) {
                p.push(problem(&format!("process[{i}].name"), e.to_string()));
            }
            if !pnames.insert(pr.name.clone()) {
                p.push(problem(
                    &format!("process[{i}].name"),
                    format!("{:?} is used twice", pr.name),
                ));
            }
        }
        p
    }

    /// The backend the file names, if any (checked when the file is read).
    pub fn backend(&self) -> Option<Backend> {
        self.backend
            .as_deref()
            .and_then(|b| Backend::parse("backend", b).ok())
    }

    /// The grid, seeds outermost, then sparsity, process and method, so an interrupted sweep
    /// has whole sparsity levels done first.
    pub fn expand(&self) -> Vec<PlannedRun> {
        let base_process = ProcessSpec {
            name: "base".into(),
            ..Default::default()
        };
        let processes: Vec<&ProcessSpec> = if self.processes.is_empty() {
            vec![&base_process]
        } else {
            self.processes.iter().collect()
        };
        let mut out = Vec::new();
        for &seed in &self.seeds {
            for &sparsity in &self.sparsity {
                for pr in &processes {
                    for m in &self.methods {
                        for (label, slug, msets) in method_variants(m) {
                            let mut sets = self.set.clone();
                            sets.extend(process_sets(pr));
                            sets.extend(msets);
                            sets.push(format!("prune.final_sparsity={sparsity}"));
                            sets.push(format!("train.seed={seed}"));
                            out.push(PlannedRun {
                                id: format!("{slug}-s{}-{}-seed{seed}", num(sparsity), pr.name),
                                method: label,
                                mode: m.mode.clone(),
                                sparsity,
                                process: pr.name.clone(),
                                seed,
                                sets,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Checks every planned run against the base preset, so a typo in an axis fails before
    /// the first run rather than hours into the sweep.
    pub fn validate_runs(&self, base: &Preset, runs: &[PlannedRun]) -> Result<(), PresetError> {
        let text = base.to_toml();
        let mut problems = Vec::new();
        for r in runs {
            if let Err(e) = Preset::from_toml_str("base", &text, &r.sets) {
                for mut pb in e.problems {
                    pb.message = format!("run {}: {}", r.id, pb.message);
                    problems.push(pb);
                }
                // One bad axis value breaks many runs the same way: the first is enough.
                break;
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PresetError {
                file: format!("sweep {}", self.name),
                problems,
            })
        }
    }
}

fn process_sets(p: &ProcessSpec) -> Vec<String> {
    let mut s = Vec::new();
    if let Some(e) = p.epochs {
        s.push(format!("train.epochs={e}"));
    }
    if let Some(b) = p.begin_epoch {
        s.push(format!("prune.begin_epoch={b:?}"));
    }
    if let Some(e) = p.end_epoch {
        s.push(format!("prune.end_epoch={e:?}"));
    }
    if let Some(f) = p.frequency {
        s.push(format!("prune.frequency={f}"));
    }
    s.extend(p.set.iter().cloned());
    s
}

/// (report label, id slug, overrides) for each variant of a method. A list with one value
/// adds that value to the label but not to the slug.
fn method_variants(m: &MethodSpec) -> Vec<(String, String, Vec<String>)> {
    let mut base = vec![format!("train.mode=\"{}\"", m.mode)];
    if let Some(a) = &m.attack {
        base.push(format!("adv.attack=\"{a}\""));
    }
    base.extend(m.set.iter().cloned());
    let mut variants = vec![(m.name.clone(), m.name.clone(), base)];
    let mut axis = |key: &str, tag: &str, values: &[f64], extra: &[&str]| {
        if values.is_empty() {
            return;
        }
        let many = values.len() > 1;
        variants = variants
            .iter()
            .flat_map(|(label, slug, sets)| {
                values.iter().map(move |v| {
                    let mut sets = sets.clone();
                    sets.extend(extra.iter().map(|e| e.to_string()));
                    sets.push(format!("{key}={v:?}"));
                    let slug = if many {
                        format!("{slug}-{tag}{}", num(*v))
                    } else {
                        slug.clone()
                    };
                    (format!("{label} {tag}={}", num(*v)), slug, sets)
                })
            })
            .collect();
    };
    axis("adv.eps", "eps", &m.eps, &[]);
    axis("adv.delta", "delta", &m.delta, &["adv.cutoff=\"fixed\""]);
    axis("adv.rho", "rho", &m.rho, &[]);
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        assert_eq!(num(0.9), "0.9");
        assert_eq!(num(0.995), "0.995");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.1 + 0.2), "0.3");
    }

    #[test]
    fn variants_multiply_and_name_themselves() {
        let m = MethodSpec {
            name: "bap".into(),
            mode: "bap".into(),
            delta: vec![0.05, 0.1],
            rho: vec![1.0],
            ..Default::default()
        };
        let v = method_variants(&m);
        let labels: Vec<_> = v.iter().map(|x| (x.0.as_str(), x.1.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("bap delta=0.05 rho=1", "bap-delta0.05"),
                ("bap delta=0.1 rho=1", "bap-delta0.1")
            ]
        );
        assert_eq!(
            v[1].2,
            [
                "train.mode=\"bap\"",
                "adv.cutoff=\"fixed\"",
                "adv.delta=0.1",
                "adv.rho=1.0"
            ]
        );
    }
}
