//! What differs between the training modes: how adversarial examples are made for a batch,
//! how their loss mixes with the clean loss, and the robustness evaluation.
use anyhow::Result;
use tch::Tensor;

use super::events::Event;
use crate::config::preset::{Mode, Preset};
use crate::data::Dataset;
use crate::model::Net;

#[allow(clippy::large_enum_variant)]
pub enum AdvOutcome {
    None,
    Examples {
        x_adv: Tensor,
        budget: Option<BudgetStats>,
    },
}

/// Per-batch budget statistics, turned into a `budget` event when due.
pub struct BudgetStats {
    pub event: Event,
}

impl BudgetStats {
    pub fn into_event(self, _step: usize) -> Event {
        self.event
    }
}

pub struct StepKit {
    mode: Mode,
}

impl StepKit {
    pub fn new(preset: &Preset) -> Self {
        StepKit {
            mode: preset.train.mode,
        }
    }

    pub fn examples(
        &self,
        _net: &Net,
        _x: &Tensor,
        _y: &Tensor,
        _step: usize,
    ) -> Result<AdvOutcome> {
        match self.mode {
            Mode::Natural => Ok(AdvOutcome::None),
            other => anyhow::bail!("mode {} is not available yet", other.as_str()),
        }
    }

    pub fn combine(
        &self,
        _clean_logits: &Tensor,
        adv_logits: &Tensor,
        clean_loss: &Tensor,
        y: &Tensor,
        smoothing: f64,
    ) -> (Tensor, Tensor) {
        let adv = super::loss::smoothed_ce(adv_logits, y, smoothing);
        (clean_loss * 0.5 + &adv * 0.5, adv)
    }

    pub fn evaluate(
        &self,
        _net: &Net,
        _data: &Dataset,
        _preset: &Preset,
        _step: usize,
        _epoch: usize,
    ) -> Result<Option<Event>> {
        Ok(None)
    }
}
