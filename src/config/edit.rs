//! Settings edits by key path: the one way a preset changes once it is loaded. A `--set`, a
//! sweep's overrides, a Schedule-pane edit and a live change the engine applies all go through
//! `keypath::set_in` on the preset's table and the preset's own validation, so a value one of
//! them accepts is a value all of them accept, and [`LIVE_KEYS`] is the one list of what may
//! change while a run trains.
use super::keypath::{lookup, set_in};
use super::preset::{Preset, Problem};

/// The keys a running engine takes from the next step on. The others are fixed when the run
/// starts: the data and the model are built from them, the optimiser's moments and the
/// pruner's layer set (scope, exclusions) depend on them, `train.epochs` sizes the schedule,
/// and `threads`/`log_every` configure the process.
pub const LIVE_KEYS: &[&str] = &[
    "prune.schedule",
    "prune.initial_sparsity",
    "prune.final_sparsity",
    "prune.begin_step",
    "prune.end_step",
    "prune.begin_epoch",
    "prune.end_epoch",
    "prune.frequency",
    "prune.power",
    "train.mode",
    "train.lr",
    "train.label_smoothing",
    "adv.attack",
    "adv.eps",
    "adv.pgd_steps",
    "adv.pgd_step_size",
    "adv.pgd_random_start",
    "adv.labels",
    "adv.loss",
    "adv.clean_weight",
    "adv.trades_beta",
    "adv.deepfool_iters",
    "adv.candidates",
    "adv.overshoot",
    "adv.cutoff",
    "adv.delta",
    "adv.rho",
    "adv.budget_every",
    "adv.budget_hist_max",
    "eval.every",
    "eval.subset",
    "eval.subset_seed",
    "eval.attacks",
    "eval.eps",
    "eval.deltas",
    "eval.pgd_steps",
    "eval.pgd_restarts",
    "eval.apgd_steps",
    "eval.apgd_restarts",
    "eval.deepfool_iters",
    "eval.batch_size",
    "eval.robust_eps",
    "checkpoint.every",
    "checkpoint.keep",
    "checkpoint.best",
    "alerts.enabled",
    "alerts.diverge_factor",
    "alerts.diverge_steps",
    "alerts.warmup_steps",
    "alerts.stall_seconds",
    "alerts.collapse_drop",
    "alerts.collapse_window",
];

/// Whether a running engine takes a change of `key`.
pub fn is_live(key: &str) -> bool {
    LIVE_KEYS.contains(&key)
}

/// Why a change of `key` is refused during a run, or `None` when it is live.
pub fn live_refusal(key: &str) -> Option<String> {
    (!is_live(key)).then(|| format!("{key} cannot change during a run (it is fixed at start)"))
}

impl Preset {
    /// The preset as a TOML table (what `preset.toml` holds, without going through text).
    pub fn to_table(&self) -> toml::Table {
        toml::Table::try_from(self).expect("a preset always serialises")
    }

    /// The value of `key` as TOML writes it (`0.5`, `"bap"`), or `None` for no such key.
    pub fn get(&self, key: &str) -> Option<String> {
        lookup(&self.to_table(), key)
    }

    /// A copy with `key` set to `raw` (see [`set_in`]), validated as a whole preset. A refusal
    /// is the problem about `key` when there is one, else the first.
    pub fn with(&self, key: &str, raw: &str) -> Result<Preset, Problem> {
        let problem = |message: String| Problem {
            key: key.to_string(),
            line: None,
            message,
        };
        let mut table = self.to_table();
        set_in(&mut table, key, raw).map_err(problem)?;
        let p: Preset = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| problem(e.message().to_string()))?;
        let mut problems = p.validate();
        match problems.iter().position(|pr| pr.key == key) {
            Some(i) => Err(problems.swap_remove(i)),
            None if !problems.is_empty() => Err(problems.swap_remove(0)),
            None => Ok(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke() -> Preset {
        Preset::load("smoke").unwrap()
    }

    #[test]
    fn get_renders_like_toml() {
        let p = smoke();
        assert_eq!(p.get("prune.final_sparsity").as_deref(), Some("0.8"));
        assert_eq!(p.get("train.mode").as_deref(), Some("\"natural\""));
        assert_eq!(p.get("prune.final_sparsty"), None);
    }

    #[test]
    fn with_sets_numbers_words_and_lists_and_validates() {
        let p = smoke();
        assert_eq!(p.with("adv.rho", "0.5").unwrap().adv.rho, 0.5);
        assert_eq!(
            p.with("train.mode", "bap").unwrap().train.mode.as_str(),
            "bap"
        );
        assert_eq!(
            p.with("eval.eps", "[0.0, 0.3]").unwrap().eval.eps,
            vec![0.0, 0.3]
        );
        let refused = p.with("prune.final_sparsity", "1.5").unwrap_err();
        assert_eq!(refused.key, "prune.final_sparsity");
        let unknown = p.with("prune.final_sparsty", "0.5").unwrap_err();
        assert!(unknown.message.contains("final_sparsty"), "{unknown:?}");
        // The original is untouched.
        assert_eq!(p.prune.final_sparsity, 0.8);
    }

    #[test]
    fn every_live_key_exists_and_the_fixed_ones_are_refused() {
        let table = smoke().to_table();
        for key in LIVE_KEYS {
            let (section, name) = key.split_once('.').unwrap();
            let fields = Preset::default().to_table();
            let known = fields
                .get(section)
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key(name))
                || matches!(
                    *key,
                    "prune.begin_step" | "prune.end_step" | "prune.begin_epoch" | "prune.end_epoch"
                );
            assert!(known, "{key} is a preset key");
            assert!(table.contains_key(section));
        }
        for fixed in [
            "data.dataset",
            "model.arch",
            "train.batch_size",
            "train.epochs",
            "prune.scope",
        ] {
            assert!(live_refusal(fixed).is_some(), "{fixed}");
        }
        assert!(live_refusal("adv.rho").is_none());
    }
}
