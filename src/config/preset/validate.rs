//! A parsed preset's range and consistency checks (`Preset::validate`) and the settings that
//! are valid but probably not meant (`Preset::warnings`). Each problem names its dotted key;
//! the loader (`Preset::from_toml_str`) then points it at a line or at the `--set` that gave it.
use super::*;

impl Preset {
    /// Range and consistency checks; each problem names its dotted key.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            out.push(Problem {
                key: key.into(),
                line: None,
                message,
            })
        };
        if self.schema_version != SCHEMA_VERSION {
            bad(
                "schema_version",
                format!(
                    "{} is not supported (expected {SCHEMA_VERSION})",
                    self.schema_version
                ),
            );
        }
        if !DATASETS.contains(&self.data.dataset.as_str()) {
            bad("data.dataset", unknown_choice(&self.data.dataset, DATASETS));
        }
        if !ARCHS.contains(&self.model.arch.as_str()) {
            bad("model.arch", unknown_choice(&self.model.arch, ARCHS));
        }
        if self.model.hidden.iter().any(|&h| h <= 0) {
            bad("model.hidden", "every width must be positive".into());
        }
        let s = &self.data.synthetic;
        if s.train == 0
            || s.test == 0
            || s.classes < 2
            || s.channels < 1
            || s.height < 1
            || s.width < 1
        {
            bad(
                "data.synthetic",
                "needs train, test >= 1, classes >= 2 and a positive shape".into(),
            );
        }
        let t = &self.train;
        if t.epochs == 0 {
            bad("train.epochs", "must be at least 1".into());
        }
        if t.batch_size == 0 {
            bad("train.batch_size", "must be at least 1".into());
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            bad("train.lr", format!("{} must be > 0", t.lr));
        }
        if !(0.0..1.0).contains(&t.label_smoothing) {
            bad(
                "train.label_smoothing",
                format!("{} is outside [0, 1)", t.label_smoothing),
            );
        }
        if !(0.0..1.0).contains(&t.momentum) {
            bad(
                "train.momentum",
                format!("{} is outside [0, 1)", t.momentum),
            );
        }
        if t.threads < 0 {
            bad("train.threads", format!("{} must be >= 0", t.threads));
        }
        let p = &self.prune;
        for (key, v) in [
            ("prune.initial_sparsity", p.initial_sparsity),
            ("prune.final_sparsity", p.final_sparsity),
        ] {
            if !(0.0..1.0).contains(&v) {
                bad(key, format!("{v} is outside [0, 1)"));
            }
        }
        if p.begin_step.is_some() && p.begin_epoch.is_some() {
            bad(
                "prune.begin_epoch",
                "give begin_step or begin_epoch, not both".into(),
            );
        }
        if p.end_step.is_some() && p.end_epoch.is_some() {
            bad(
                "prune.end_epoch",
                "give end_step or end_epoch, not both".into(),
            );
        }
        for (key, v) in [
            ("prune.begin_epoch", p.begin_epoch),
            ("prune.end_epoch", p.end_epoch),
        ] {
            if let Some(v) = v {
                if !(v >= 0.0 && v.is_finite()) {
                    bad(key, format!("{v} must be >= 0"));
                }
            }
        }
        // Compared in the unit the preset gives both in; mixed units wait for the run's steps
        // per epoch (the resolved schedule checks them).
        let in_steps = (
            p.begin_step.unwrap_or(0) as f64,
            p.end_step.map(|s| s as f64),
        );
        let in_epochs = (p.begin_epoch.unwrap_or(0.0), p.end_epoch);
        let (begin, end, key, unit) = if p.end_epoch.is_some() && p.begin_step.is_none() {
            (in_epochs.0, in_epochs.1, "prune.end_epoch", "epoch")
        } else if p.begin_epoch.is_none() {
            (in_steps.0, in_steps.1, "prune.end_step", "step")
        } else {
            (0.0, None, "", "")
        };
        if let Some(end) = end {
            if p.schedule == ScheduleKind::Polynomial && end <= begin {
                bad(
                    key,
                    format!("end is not after begin ({unit} {begin} to {unit} {end})"),
                );
            }
        }
        if p.frequency == 0 {
            bad("prune.frequency", "must be at least 1".into());
        }
        if !(p.power > 0.0 && p.power.is_finite()) {
            bad("prune.power", format!("{} must be > 0", p.power));
        }
        let a = &self.adv;
        if !(a.eps >= 0.0 && a.eps.is_finite()) {
            bad("adv.eps", format!("{} must be >= 0", a.eps));
        }
        if !(a.rho > 0.0 && a.rho.is_finite()) {
            bad("adv.rho", format!("{} must be > 0", a.rho));
        }
        if !(a.delta > 0.0 && a.delta.is_finite()) {
            bad("adv.delta", format!("{} must be > 0", a.delta));
        }
        if !(0.0..=1.0).contains(&a.clean_weight) {
            bad(
                "adv.clean_weight",
                format!("{} is outside [0, 1]", a.clean_weight),
            );
        }
        if !(a.budget_hist_max > 0.0 && a.budget_hist_max.is_finite()) {
            bad(
                "adv.budget_hist_max",
                format!("{} must be > 0", a.budget_hist_max),
            );
        }
        if a.trades_beta < 0.0 {
            bad("adv.trades_beta", format!("{} must be >= 0", a.trades_beta));
        }
        if a.deepfool_iters == 0 {
            bad("adv.deepfool_iters", "must be at least 1".into());
        }
        if a.candidates < 2 {
            bad("adv.candidates", "must be at least 2".into());
        }
        if a.overshoot.is_nan() || a.overshoot < 0.0 {
            bad("adv.overshoot", format!("{} must be >= 0", a.overshoot));
        }
        if a.pgd_steps == 0 {
            bad("adv.pgd_steps", "must be at least 1".into());
        }
        if a.pgd_step_size < 0.0 {
            bad("adv.pgd_step_size", "must be >= 0".into());
        }
        let e = &self.eval;
        for att in &e.attacks {
            if !ATTACKS.contains(&att.as_str()) {
                bad("eval.attacks", unknown_choice(att, ATTACKS));
            }
        }
        if e.eps.iter().any(|v| v.is_nan() || *v < 0.0) {
            bad("eval.eps", "every ε must be >= 0".into());
        }
        if e.deltas.iter().any(|v| v.is_nan() || *v < 0.0) {
            bad("eval.deltas", "every δ must be >= 0".into());
        }
        if e.batch_size == 0 {
            bad("eval.batch_size", "must be at least 1".into());
        }
        if e.deepfool_iters == 0 || e.pgd_steps == 0 {
            bad(
                "eval.deepfool_iters",
                "iterations must be at least 1".into(),
            );
        }
        for (key, v) in [
            ("eval.pgd_restarts", e.pgd_restarts),
            ("eval.apgd_steps", e.apgd_steps),
            ("eval.apgd_restarts", e.apgd_restarts),
        ] {
            if v == 0 {
                bad(key, "must be at least 1".into());
            }
        }
        for (key, message) in self.alerts.problems() {
            out.push(Problem {
                key,
                line: None,
                message,
            });
        }
        out
    }

    /// Settings that are valid but probably not meant: each names its key and what follows.
    pub fn warnings(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let p = &self.prune;
        let epochs = self.train.epochs as f64;
        let end_epoch = p.end_epoch.filter(|e| *e > epochs);
        if let (Some(end), ScheduleKind::Polynomial) = (end_epoch, p.schedule) {
            out.push(Problem {
                key: "prune.end_epoch".into(),
                line: None,
                message: format!(
                    "{end} is after the last epoch ({epochs}): training ends before the final \
                     sparsity {} is reached",
                    p.final_sparsity
                ),
            });
        }
        out
    }
}

fn unknown_choice(got: &str, valid: &[&str]) -> String {
    match suggest(got, valid) {
        Some(s) => format!(
            "unknown value {got:?} (did you mean {s:?}?); valid: {}",
            valid.join(", ")
        ),
        None => format!("unknown value {got:?}; valid: {}", valid.join(", ")),
    }
}

/// The closest valid name, when it is close enough to be a typo.
pub fn suggest<'a>(got: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::jaro_winkler(got, v), *v))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}
