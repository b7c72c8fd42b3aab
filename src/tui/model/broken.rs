//! Weights the engine will not train on or save (a non-finite loss or update): where it
//! happened and the checkpoint a roll-back (`R`) goes to, read from the engine's error.

/// Weights the engine will neither train on nor save, as its error reported them.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    /// The step whose loss (or update) was not finite.
    pub step: usize,
    /// What happened, as the engine put it (`loss became NaN/Inf`).
    pub what: String,
    /// The checkpoint a roll-back goes to, when there is one.
    pub checkpoint: Option<usize>,
}

/// The words of the engine's error for broken weights (`train::engine::faults::taint`):
/// `{what} at step {step}: the weights after the last update are broken, ...; the last good
/// checkpoint is step {good}` (or `there is no good checkpoint to go back to`). The event has
/// no field of its own for it, so the message is read here, in one place.
const BROKEN_MARK: &str = "the weights after the last update are broken";
const GOOD_CHECKPOINT: &str = "the last good checkpoint is step ";

impl Broken {
    /// The broken weights an engine error reports, if it reports them.
    pub fn from_error(step: usize, message: &str) -> Option<Broken> {
        if !message.contains(BROKEN_MARK) {
            return None;
        }
        let what = message
            .split_once(" at step ")
            .map_or("the weights broke", |(w, _)| w)
            .to_string();
        let checkpoint = message.split_once(GOOD_CHECKPOINT).and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        Some(Broken {
            step,
            what,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_weights_are_read_from_the_engine_error() {
        let msg = "loss became NaN/Inf at step 123: the weights after the last update are \
                   broken, so they are neither trained on nor saved; the last good checkpoint \
                   is step 96; lower train.lr if it diverged, then roll back (R) and resume";
        let b = Broken::from_error(123, msg).unwrap();
        assert_eq!(
            b,
            Broken {
                step: 123,
                what: "loss became NaN/Inf".into(),
                checkpoint: Some(96)
            }
        );
        let none = "the weights became NaN/Inf at step 7: the weights after the last update \
                    are broken, so they are neither trained on nor saved; there is no good \
                    checkpoint to go back to";
        assert_eq!(Broken::from_error(7, none).unwrap().checkpoint, None);
        assert!(Broken::from_error(7, "model.arch cannot change during a run").is_none());
    }
}
