//! Keys to actions. The normal-mode table is data, so the help popup is generated from the
//! same table that maps the keys and cannot drift from it. The panes are named here, as the
//! focus keys reach them; what each one is and where it sits is `panes.rs`.
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The panes, in focus order (Tab, and the number keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Schedule,
    Loss,
    Budget,
    Robustness,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Schedule, Pane::Loss, Pane::Budget, Pane::Robustness];

    /// Its number key and the number in its title.
    pub fn number(self) -> usize {
        self as usize + 1
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self as usize + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self as usize + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    FocusNext,
    FocusPrev,
    Focus(Pane),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    /// Edit the selected field, toggle the selected series, accept an edit or a dialog.
    Enter,
    /// Cancel an edit, close a popup, leave zoom.
    Cancel,
    Start,
    PauseResume,
    Stop,
    EvalNow,
    /// Go back to the last good checkpoint (after a NaN, or any pause).
    RollBack,
    Zoom,
    /// The differences between the settings and the preset they are named after.
    Differences,
    Presets,
    Save,
    CycleTheme,
    Help,
    Messages,
    Quit,
    /// Ctrl-C: quit, or confirm the quit dialog when it is already open.
    Interrupt,
    Pin,
    /// The run list: watch, resume or compare another run.
    Runs,
    /// Pin a run for comparison (from the run list), or unpin it.
    Compare,
    /// Export the focused pane's tables and plot.
    Export,
    ToggleSmoothing,
    ToggleLogScale,
    ToggleSeries,
    /// Show or hide the GPU strip (the CPU line without a GPU).
    ToggleGpuStrip,
    // Text editing and dialogs.
    Input(char),
    Backspace,
    Delete,
    Home,
    End,
    ClearInput,
    Yes,
    No,
}

/// What the keys currently drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// A text box has the keys (a field edit or the preset-name prompt).
    Editing,
    /// A popup list or question (picker, confirm, help, messages).
    Dialog,
}

/// One documented normal-mode binding.
pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the keys are written in the help.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn ch(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

pub const NORMAL: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        help: "focus the next pane",
    },
    Binding {
        keys: &[(KeyCode::BackTab, NONE)],
        label: "Shift-Tab",
        action: Action::FocusPrev,
        help: "focus the previous pane",
    },
    Binding {
        keys: &[ch('1')],
        label: "1",
        action: Action::Focus(Pane::Schedule),
        help: "Schedule pane",
    },
    Binding {
        keys: &[ch('2')],
        label: "2",
        action: Action::Focus(Pane::Loss),
        help: "Loss & sparsity pane",
    },
    Binding {
        keys: &[ch('3')],
        label: "3",
        action: Action::Focus(Pane::Budget),
        help: "Budget pane",
    },
    Binding {
        keys: &[ch('4')],
        label: "4",
        action: Action::Focus(Pane::Robustness),
        help: "Robustness pane",
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), ch('k')],
        label: "↑ k",
        action: Action::Up,
        help: "previous field or series",
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), ch('j')],
        label: "↓ j",
        action: Action::Down,
        help: "next field or series",
    },
    Binding {
        keys: &[(KeyCode::Left, NONE), ch('h')],
        label: "← h",
        action: Action::Left,
        help: "previous series (Loss)",
    },
    Binding {
        keys: &[(KeyCode::Right, NONE), ch('l')],
        label: "→ l",
        action: Action::Right,
        help: "next series (Loss)",
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PgUp",
        action: Action::PageUp,
        help: "first field",
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE)],
        label: "PgDn",
        action: Action::PageDown,
        help: "last field",
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Enter,
        help: "edit field (Schedule), show/hide (Loss)",
    },
    Binding {
        keys: &[ch(' ')],
        label: "Space",
        action: Action::ToggleSeries,
        help: "show/hide the selected series (Loss)",
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "cancel, close, unzoom, dismiss an error",
    },
    Binding {
        keys: &[ch('s')],
        label: "s",
        action: Action::Start,
        help: "start a run with the current settings",
    },
    Binding {
        keys: &[ch('p')],
        label: "p",
        action: Action::PauseResume,
        help: "pause / resume",
    },
    Binding {
        keys: &[ch('x')],
        label: "x",
        action: Action::Stop,
        help: "stop the run (asks; writes a checkpoint)",
    },
    Binding {
        keys: &[ch('e')],
        label: "e",
        action: Action::EvalNow,
        help: "evaluate robustness now",
    },
    Binding {
        keys: &[ch('R')],
        label: "R",
        action: Action::RollBack,
        help: "roll back to the last good checkpoint",
    },
    Binding {
        keys: &[ch('P')],
        label: "P",
        action: Action::Pin,
        help: "pin / unpin an evaluation for the Δs",
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        action: Action::Runs,
        help: "runs: Enter watches or resumes, c compares",
    },
    Binding {
        keys: &[ch('c')],
        label: "c",
        action: Action::Compare,
        help: "compare with another run / unpin it",
    },
    Binding {
        keys: &[ch('E')],
        label: "E",
        action: Action::Export,
        help: "export the focused pane (CSV + SVG)",
    },
    Binding {
        keys: &[ch('m')],
        label: "m",
        action: Action::ToggleSmoothing,
        help: "loss smoothing (EMA) on/off",
    },
    Binding {
        keys: &[ch('L')],
        label: "L",
        action: Action::ToggleLogScale,
        help: "loss log scale on/off",
    },
    Binding {
        keys: &[ch('z')],
        label: "z",
        action: Action::Zoom,
        help: "zoom the focused pane",
    },
    Binding {
        keys: &[ch('o')],
        label: "o",
        action: Action::Presets,
        help: "open a preset (shipped and yours)",
    },
    Binding {
        keys: &[ch('D')],
        label: "D",
        action: Action::Differences,
        help: "differences from the named preset",
    },
    Binding {
        keys: &[ch('w')],
        label: "w",
        action: Action::Save,
        help: "save the settings as a user preset",
    },
    Binding {
        keys: &[ch('g')],
        label: "g",
        action: Action::ToggleGpuStrip,
        help: "GPU strip on/off (CPU without a GPU)",
    },
    Binding {
        keys: &[ch('t')],
        label: "t",
        action: Action::CycleTheme,
        help: "next colour theme",
    },
    Binding {
        keys: &[ch('!')],
        label: "!",
        action: Action::Messages,
        help: "message log",
    },
    Binding {
        keys: &[ch('?')],
        label: "?",
        action: Action::Help,
        help: "this help",
    },
    Binding {
        keys: &[ch('q')],
        label: "q",
        action: Action::Quit,
        help: "quit (asks: a run going, unsaved edits)",
    },
    Binding {
        keys: &[(KeyCode::Char('c'), CTRL)],
        label: "Ctrl-C",
        action: Action::Interrupt,
        help: "quit; twice: stop the run and quit",
    },
];

/// Keys while a text box is open, for the help popup.
pub const EDITING_HELP: &[(&str, &str)] = &[
    ("Enter", "apply (a refused value stays open)"),
    ("Esc", "cancel"),
    ("← → Home End", "move the cursor"),
    ("Backspace Del", "delete"),
    ("Ctrl-U", "clear"),
    ("← → h l Space", "change a choice (schedule, mode, ...)"),
];

/// Keys in dialogs, for the help popup.
pub const DIALOG_HELP: &[(&str, &str)] = &[
    ("↑ ↓ j k", "move"),
    ("Enter", "choose"),
    ("y / n / b", "answer a question (b: background)"),
    ("c / r", "run list: compare / refresh"),
    ("Esc q", "close"),
];

/// Shift is part of the character itself (`?`, `P`, `!`); terminals disagree on whether they
/// also report the modifier, so it is ignored for characters.
fn normalize(key: KeyEvent) -> (KeyCode, KeyModifiers) {
    let mods = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
    match key.code {
        KeyCode::Char(_) => (key.code, mods - KeyModifiers::SHIFT),
        // Some terminals send Shift-Tab as Tab with SHIFT.
        KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => (KeyCode::BackTab, NONE),
        KeyCode::BackTab => (KeyCode::BackTab, NONE),
        _ => (key.code, mods),
    }
}

pub fn map(key: KeyEvent, mode: Mode) -> Option<Action> {
    // Key releases and repeats of releases arrive on terminals with the kitty protocol.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let (code, mods) = normalize(key);
    if code == KeyCode::Char('c') && mods == CTRL {
        return Some(Action::Interrupt);
    }
    match mode {
        Mode::Normal => NORMAL
            .iter()
            .find(|b| b.keys.contains(&(code, mods)))
            .map(|b| b.action),
        Mode::Editing => match (code, mods) {
            (KeyCode::Enter, _) => Some(Action::Enter),
            (KeyCode::Esc, _) => Some(Action::Cancel),
            (KeyCode::Backspace, _) => Some(Action::Backspace),
            (KeyCode::Delete, _) => Some(Action::Delete),
            (KeyCode::Left, _) => Some(Action::Left),
            (KeyCode::Right, _) => Some(Action::Right),
            (KeyCode::Up, _) => Some(Action::Up),
            (KeyCode::Down, _) => Some(Action::Down),
            (KeyCode::Home, _) | (KeyCode::Char('a'), CTRL) => Some(Action::Home),
            (KeyCode::End, _) | (KeyCode::Char('e'), CTRL) => Some(Action::End),
            (KeyCode::Char('u'), CTRL) => Some(Action::ClearInput),
            (KeyCode::Char(c), m) if !m.intersects(CTRL | KeyModifiers::ALT) => {
                Some(Action::Input(c))
            }
            _ => None,
        },
        Mode::Dialog => match (code, mods) {
            (KeyCode::Enter, _) => Some(Action::Enter),
            (KeyCode::Esc, _) | (KeyCode::Char('q'), NONE) => Some(Action::Cancel),
            (KeyCode::Up, _) | (KeyCode::Char('k'), NONE) | (KeyCode::BackTab, _) => {
                Some(Action::Up)
            }
            (KeyCode::Down, _) | (KeyCode::Char('j'), NONE) | (KeyCode::Tab, _) => {
                Some(Action::Down)
            }
            (KeyCode::Left, _) | (KeyCode::Char('h'), NONE) => Some(Action::Left),
            (KeyCode::Right, _) | (KeyCode::Char('l'), NONE) => Some(Action::Right),
            (KeyCode::PageUp, _) => Some(Action::PageUp),
            (KeyCode::PageDown, _) => Some(Action::PageDown),
            (KeyCode::Home, _) => Some(Action::Home),
            (KeyCode::End, _) => Some(Action::End),
            (KeyCode::Char('y'), NONE) => Some(Action::Yes),
            (KeyCode::Char('n'), NONE) => Some(Action::No),
            (KeyCode::Char('?'), NONE) => Some(Action::Help),
            (KeyCode::Char('!'), NONE) => Some(Action::Messages),
            // A dialog's own keys ([b] in a question, c in the run list).
            (KeyCode::Char(c), NONE) => Some(Action::Input(c)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn every_documented_key_maps_to_its_action() {
        for b in NORMAL {
            for &(code, mods) in b.keys {
                assert_eq!(
                    map(key(code, mods), Mode::Normal),
                    Some(b.action),
                    "{}",
                    b.label
                );
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in NORMAL {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }

    #[test]
    fn shifted_characters_match_with_or_without_the_modifier() {
        let shifted = key(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(map(shifted, Mode::Normal), Some(Action::Help));
        let pin = key(KeyCode::Char('P'), KeyModifiers::SHIFT);
        assert_eq!(map(pin, Mode::Normal), Some(Action::Pin));
        let back = key(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(map(back, Mode::Normal), Some(Action::FocusPrev));
    }

    #[test]
    fn editing_takes_letters_as_text() {
        let e = key(KeyCode::Char('e'), NONE);
        assert_eq!(map(e, Mode::Editing), Some(Action::Input('e')));
        assert_eq!(map(e, Mode::Normal), Some(Action::EvalNow));
        let q = key(KeyCode::Char('q'), NONE);
        assert_eq!(map(q, Mode::Editing), Some(Action::Input('q')));
        let cc = key(KeyCode::Char('c'), CTRL);
        assert_eq!(map(cc, Mode::Editing), Some(Action::Interrupt));
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Char('q'), NONE);
        k.kind = KeyEventKind::Release;
        assert_eq!(map(k, Mode::Normal), None);
    }
}
