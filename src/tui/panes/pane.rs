//! What every pane is: a component that owns its UI state, handles the keys it is offered and
//! draws itself from narrow inputs ([`Context`]: the run on screen, a compared run, whether
//! the window only watches), never from the whole app. What a key should change beyond the
//! pane comes back as a [`Handled`] for the app to carry out.
use ratatui::layout::Rect;
use ratatui::widgets::Block;
use ratatui::Frame;

use crate::config::preset::Preset;
use crate::export::Table;
use crate::tui::keymap::Action;
pub use crate::tui::model::Context;
use crate::tui::style::Styles;

/// What a pane did with a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Not its key: the other panes and the global keys get it.
    No,
    /// Taken; nothing more to do.
    Yes,
    /// Taken; the app carries this out.
    Do(PaneRequest),
}

/// What a pane asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum PaneRequest {
    /// During a run: send `key = literal` to the engine (shown pending until it answers).
    SetLive { key: &'static str, literal: String },
    /// Before a run: the settings become these (an accepted edit).
    Settings(Box<Preset>),
    /// The window only watches: `what` belongs to the process that runs the run.
    ReadOnly(&'static str),
}

/// The plot `E` writes beside a pane's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plot {
    LossSparsity,
    Budget,
    /// One plot per attack.
    Robustness,
}

/// What `E` writes for a pane into `<run>/export/`: `bapw export`'s tables (CSV), then its plot
/// (SVG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exports {
    pub tables: &'static [Table],
    pub plot: Plot,
}

/// A pane of the workbench. `panes.rs` (the layout) lists the panes and places them; each
/// implements this.
pub trait PaneComponent {
    /// Its title, after its number.
    fn title(&self) -> &'static str;

    /// What `E` exports of it.
    fn exports(&self) -> Exports;

    /// A key (as an action). `focused` is false when the focused pane did not take it and it
    /// is offered to the others (for keys like `m` that work from anywhere).
    fn on_action(&mut self, _a: Action, _ctx: &Context, _focused: bool) -> Handled {
        Handled::No
    }

    /// Whether it has the keys to itself (a text box is open).
    fn captures_input(&self) -> bool {
        false
    }

    /// Closes an open text box without applying it (Ctrl-C).
    fn cancel_input(&mut self) {}

    /// Forgets its place in the run or settings it showed (another run is opened to watch or
    /// resume, or another preset).
    fn reset(&mut self) {}

    /// Draws itself in `area` inside `block` (its border and title, set by the layout).
    fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        block: Block,
        ctx: &Context,
        s: &Styles,
        focused: bool,
    );
}
