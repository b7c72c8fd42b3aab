//! The knobs the Schedule pane edits: which ones the current mode has, how their values read,
//! and how typed text becomes a validated candidate preset. Edits go through the same
//! `Preset::with` the engine uses for live changes, so a value the pane accepts is one the
//! engine accepts.
use crate::config::preset::{Mode, Preset};
use crate::prune::ScheduleSpec;
use crate::tui::model::with_value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Float,
    Int,
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Pruning,
    Training,
    Adversarial,
}

impl Group {
    pub fn title(self, mode: Mode) -> &'static str {
        match (self, mode) {
            (Group::Pruning, _) => "Pruning",
            (Group::Training, _) => "Training",
            (Group::Adversarial, Mode::Bap) => "BAP (DeepFool cut-off)",
            (Group::Adversarial, _) => "Uniform attack",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    /// Dotted preset key, as `--set` and `Command::Set` take it.
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub group: Group,
    /// Whether a running engine takes a change (`config::edit::LIVE_KEYS`).
    pub live: bool,
    get: fn(&Preset) -> String,
}

impl Field {
    /// The value as shown (and as the edit box starts).
    pub fn value(&self, p: &Preset) -> String {
        (self.get)(p)
    }
}

const SCHEDULES: &[&str] = &["polynomial", "constant", "one_shot", "none"];
const SCOPES: &[&str] = &["layer", "global"];
const MODES: &[&str] = &["natural", "adversarial", "bap"];
const ATTACKS: &[&str] = &["fgsm", "pgd"];
const CUTOFFS: &[&str] = &["batch_mean", "fixed", "none"];

fn name_of<T: serde::Serialize>(v: &T) -> String {
    match toml::Value::try_from(v) {
        Ok(toml::Value::String(s)) => s,
        _ => "?".into(),
    }
}

fn opt_num<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn field(
    key: &'static str,
    label: &'static str,
    kind: Kind,
    group: Group,
    get: fn(&Preset) -> String,
) -> Field {
    Field {
        key,
        label,
        kind,
        group,
        live: crate::config::edit::is_live(key),
        get,
    }
}

/// The editable fields for `p`'s mode, in display order. Begin and end are edited in the unit
/// the preset uses (steps or epochs), since a preset may not give both.
pub fn fields_for(p: &Preset) -> Vec<Field> {
    use Group::*;
    let mut out = vec![
        field(
            "prune.schedule",
            "schedule",
            Kind::Choice(SCHEDULES),
            Pruning,
            |p| name_of(&p.prune.schedule),
        ),
        field(
            "prune.initial_sparsity",
            "initial sparsity",
            Kind::Float,
            Pruning,
            |p| float(p.prune.initial_sparsity),
        ),
        field(
            "prune.final_sparsity",
            "final sparsity",
            Kind::Float,
            Pruning,
            |p| float(p.prune.final_sparsity),
        ),
    ];
    out.push(if p.prune.begin_epoch.is_some() {
        field(
            "prune.begin_epoch",
            "begin (epoch)",
            Kind::Float,
            Pruning,
            |p| opt_num(p.prune.begin_epoch),
        )
    } else {
        field(
            "prune.begin_step",
            "begin (step)",
            Kind::Int,
            Pruning,
            |p| p.prune.begin_step.unwrap_or(0).to_string(),
        )
    });
    out.push(if p.prune.end_epoch.is_some() {
        field(
            "prune.end_epoch",
            "end (epoch)",
            Kind::Float,
            Pruning,
            |p| opt_num(p.prune.end_epoch),
        )
    } else {
        field("prune.end_step", "end (step)", Kind::Int, Pruning, |p| {
            p.prune
                .end_step
                .map(|s| s.to_string())
                .unwrap_or_else(|| "end of training".into())
        })
    });
    out.extend([
        field(
            "prune.frequency",
            "frequency (steps)",
            Kind::Int,
            Pruning,
            |p| p.prune.frequency.to_string(),
        ),
        field("prune.power", "power", Kind::Float, Pruning, |p| {
            float(p.prune.power)
        }),
        field("prune.scope", "scope", Kind::Choice(SCOPES), Pruning, |p| {
            name_of(&p.prune.scope)
        }),
        field("train.mode", "mode", Kind::Choice(MODES), Training, |p| {
            p.train.mode.as_str().into()
        }),
        field("train.lr", "learning rate", Kind::Float, Training, |p| {
            float(p.train.lr)
        }),
    ]);
    match p.train.mode {
        Mode::Natural => {}
        Mode::Adversarial => out.extend([
            field(
                "adv.attack",
                "attack",
                Kind::Choice(ATTACKS),
                Adversarial,
                |p| name_of(&p.adv.attack),
            ),
            field("adv.eps", "ε (L∞)", Kind::Float, Adversarial, |p| {
                float(p.adv.eps)
            }),
        ]),
        Mode::Bap => out.extend([
            field(
                "adv.cutoff",
                "cut-off",
                Kind::Choice(CUTOFFS),
                Adversarial,
                |p| name_of(&p.adv.cutoff),
            ),
            field(
                "adv.delta",
                "δ (fixed cut-off)",
                Kind::Float,
                Adversarial,
                |p| float(p.adv.delta),
            ),
            field("adv.rho", "ρ", Kind::Float, Adversarial, |p| {
                float(p.adv.rho)
            }),
            field(
                "adv.deepfool_iters",
                "DeepFool iterations",
                Kind::Int,
                Adversarial,
                |p| p.adv.deepfool_iters.to_string(),
            ),
            field(
                "adv.candidates",
                "candidates",
                Kind::Int,
                Adversarial,
                |p| p.adv.candidates.to_string(),
            ),
        ]),
    }
    out
}

/// Turns typed text into the TOML literal for `key`, or says why it is not a value of its kind.
pub fn literal(kind: Kind, text: &str) -> Result<String, String> {
    let t = text.trim();
    match kind {
        Kind::Float => match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(format!("{v:?}")),
            _ => Err(format!("{t:?} is not a number")),
        },
        Kind::Int => t
            .parse::<usize>()
            .map(|v| v.to_string())
            .map_err(|_| format!("{t:?} is not a whole number >= 0")),
        Kind::Choice(options) => {
            let norm = t.to_ascii_lowercase().replace('-', "_");
            options
                .iter()
                .find(|o| **o == norm)
                .map(|o| format!("\"{o}\""))
                .ok_or_else(|| format!("{t:?} is not one of {}", options.join(", ")))
        }
    }
}

/// A full check of one typed value: its kind, the preset rules, then the resolved schedule
/// (an end before the begin only shows once epochs are steps). Returns the candidate preset
/// and the literal to send.
pub fn candidate(
    p: &Preset,
    field: &Field,
    text: &str,
    steps_per_epoch: usize,
) -> Result<(Preset, String), String> {
    let lit = literal(field.kind, text)?;
    let cand = with_value(p, field.key, &lit)?;
    let sched: ScheduleSpec = cand.schedule(steps_per_epoch);
    if let Some((_, msg)) = sched.validate().into_iter().next() {
        return Err(msg);
    }
    Ok((cand, lit))
}

/// A setting's value as it is typed back: `0.003` as such, a very large or very small one
/// in e notation (`1e30`, not thirty-one digits).
pub fn float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke() -> Preset {
        Preset::load("smoke").unwrap()
    }

    #[test]
    fn fields_follow_the_mode() {
        let mut p = smoke();
        let keys = |p: &Preset| fields_for(p).iter().map(|f| f.key).collect::<Vec<_>>();
        assert!(!keys(&p).contains(&"adv.eps"));
        assert!(
            keys(&p).contains(&"prune.end_epoch"),
            "smoke gives end in epochs"
        );
        p.train.mode = Mode::Adversarial;
        assert!(keys(&p).ends_with(&["adv.attack", "adv.eps"]));
        p.train.mode = Mode::Bap;
        let k = keys(&p);
        for want in [
            "adv.cutoff",
            "adv.delta",
            "adv.rho",
            "adv.deepfool_iters",
            "adv.candidates",
        ] {
            assert!(k.contains(&want), "{want}");
        }
    }

    #[test]
    fn values_read_as_typed() {
        let p = smoke();
        let f = fields_for(&p);
        let get = |k: &str| f.iter().find(|x| x.key == k).unwrap().value(&p);
        assert_eq!(get("prune.final_sparsity"), "0.8");
        assert_eq!(get("prune.schedule"), "polynomial");
        assert_eq!(get("prune.end_epoch"), "2");
        assert_eq!(get("train.lr"), "0.003");
        assert_eq!(float(1e30), "1e30");
        assert_eq!(float(2.5e-7), "2.5e-7");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(123456.0), "123456");
    }

    #[test]
    fn literals_check_the_kind() {
        assert_eq!(literal(Kind::Float, " 0.5 "), Ok("0.5".into()));
        assert_eq!(literal(Kind::Float, "1e-3"), Ok("0.001".into()));
        assert_eq!(literal(Kind::Float, "3"), Ok("3.0".into()));
        assert!(literal(Kind::Float, "inf").is_err());
        assert!(literal(Kind::Int, "-1")
            .unwrap_err()
            .contains("whole number"));
        assert_eq!(
            literal(Kind::Choice(CUTOFFS), "Batch-Mean"),
            Ok("\"batch_mean\"".into())
        );
        assert!(literal(Kind::Choice(CUTOFFS), "median")
            .unwrap_err()
            .contains("fixed"));
    }

    #[test]
    fn candidates_are_validated_with_the_reason() {
        let p = smoke();
        let f = fields_for(&p);
        let by = |k: &str| f.iter().find(|x| x.key == k).unwrap().clone();
        let (c, lit) = candidate(&p, &by("prune.final_sparsity"), "0.5", 16).unwrap();
        assert_eq!((c.prune.final_sparsity, lit.as_str()), (0.5, "0.5"));
        let err = candidate(&p, &by("prune.final_sparsity"), "1.5", 16).unwrap_err();
        assert!(err.contains("outside [0, 1)"), "{err}");
        // smoke prunes from step 0 to epoch 2 = step 32: an end at epoch 0 is before the begin.
        let err = candidate(&p, &by("prune.end_epoch"), "0", 16).unwrap_err();
        assert!(err.contains("not after"), "{err}");
        let err = candidate(&p, &by("train.lr"), "-1", 16).unwrap_err();
        assert!(err.contains("must be > 0"), "{err}");
        let err = candidate(&p, &by("prune.frequency"), "abc", 16).unwrap_err();
        assert!(err.contains("not a whole number"), "{err}");
    }
}
