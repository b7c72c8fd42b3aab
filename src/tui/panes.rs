//! The layout: which panes there are (each one a module below, implementing
//! [`pane::PaneComponent`]) and where each sits. From 100x30 the four panes share a 2x2 grid;
//! below that the focused pane fills the body with a tab strip above; under 60x16 one line says
//! the terminal is too small. The header sits above, the message line below, an open popup over
//! everything. A new pane is a module here, a field of [`Ui`] with its arms in `pane` and
//! `pane_mut`, a place in the grid, and its key in `keymap.rs`: nothing else.
//!
//! [`Ui`] holds what the screen shows beside the run: the focus, the zoom, each pane's own
//! state and the open popup. A key goes to the pane that has a text box open, else to the
//! focused pane, then to the others (keys like `m` work from anywhere), then to the focus and
//! zoom keys here; the app handles what none of them took.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use ratatui::Frame;

pub mod budget;
pub mod loss;
pub mod pane;
pub mod robustness;
pub mod schedule;

use super::keymap::{Action, Pane};
use super::popups::{Popup, PopupContext};
use super::style::Styles;
use super::widgets::gpu_strip::{GpuStrip, StripContext};
use super::widgets::{alert_banner, footer, header};
use crate::config::theme::Slot;
use budget::BudgetPane;
use loss::LossPane;
use pane::{Context, Exports, Handled, PaneComponent};
use robustness::RobustnessPane;
use schedule::SchedulePane;

/// Below this the layout cannot say anything useful: one line says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this size up all four panes share the screen.
pub const GRID_WIDTH: u16 = 100;
pub const GRID_HEIGHT: u16 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    pub focus: Pane,
    pub zoom: bool,
    pub popup: Option<Popup>,
    pub schedule: SchedulePane,
    pub loss: LossPane,
    pub budget: BudgetPane,
    pub robustness: RobustnessPane,
    /// Under the progress bar: the GPUs the run uses, or this process's CPU (`g`).
    pub gpu: GpuStrip,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui {
            focus: Pane::Schedule,
            zoom: false,
            popup: None,
            schedule: SchedulePane::default(),
            loss: LossPane::default(),
            budget: BudgetPane,
            robustness: RobustnessPane,
            gpu: GpuStrip::default(),
        }
    }
}

/// What `E` writes for `pane`.
pub fn exports(pane: Pane) -> Exports {
    Ui::default().pane(pane).exports()
}

impl Ui {
    pub fn pane(&self, pane: Pane) -> &dyn PaneComponent {
        match pane {
            Pane::Schedule => &self.schedule,
            Pane::Loss => &self.loss,
            Pane::Budget => &self.budget,
            Pane::Robustness => &self.robustness,
        }
    }

    pub fn pane_mut(&mut self, pane: Pane) -> &mut dyn PaneComponent {
        match pane {
            Pane::Schedule => &mut self.schedule,
            Pane::Loss => &mut self.loss,
            Pane::Budget => &mut self.budget,
            Pane::Robustness => &mut self.robustness,
        }
    }

    /// The pane whose text box has the keys, if one is open.
    pub fn capturing(&self) -> Option<Pane> {
        Pane::ALL
            .into_iter()
            .find(|p| self.pane(*p).captures_input())
    }

    /// Offers a key to the panes (see the module's doc), then takes the focus and zoom keys.
    pub fn on_action(&mut self, a: Action, ctx: &Context) -> Handled {
        if let Some(p) = self.capturing() {
            return self.pane_mut(p).on_action(a, ctx, true);
        }
        let focus = self.focus;
        let others = Pane::ALL.into_iter().filter(|p| *p != focus);
        for (p, focused) in std::iter::once((focus, true)).chain(others.map(|p| (p, false))) {
            match self.pane_mut(p).on_action(a, ctx, focused) {
                Handled::No => {}
                done => return done,
            }
        }
        match a {
            Action::FocusNext => self.focus = focus.next(),
            Action::FocusPrev => self.focus = focus.prev(),
            Action::Focus(p) => self.focus = p,
            Action::Cancel => self.zoom = false,
            Action::Zoom => self.zoom = !self.zoom,
            _ => return Handled::No,
        }
        Handled::Yes
    }

    /// Closes any open text box without applying it.
    pub fn cancel_input(&mut self) {
        for p in Pane::ALL {
            self.pane_mut(p).cancel_input();
        }
    }

    /// Every pane forgets its place in what it showed (another run or preset is opened).
    pub fn reset_panes(&mut self) {
        for p in Pane::ALL {
            self.pane_mut(p).reset();
        }
    }
}

/// Draws the whole screen: `ctx` is what the panes read, `popup` what the open popup reads.
pub fn render(frame: &mut Frame, ui: &Ui, ctx: &Context, popup: &PopupContext, s: &Styles) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let (w, h) = (area.width, area.height);
        // The longest wording that fits, so even a 1x1 pane says something.
        let msg = [
            format!("terminal too small: {w}x{h} (bapw needs {MIN_WIDTH}x{MIN_HEIGHT})"),
            format!("terminal too small: {w}x{h}"),
            format!("too small: {w}x{h}"),
            "too small".to_string(),
            "!".to_string(),
        ]
        .into_iter()
        .find(|m| m.chars().count() <= w as usize)
        .unwrap_or_default();
        let line = Rect {
            height: 1.min(area.height),
            ..area
        };
        frame.render_widget(Paragraph::new(msg).style(s.warn()), line);
        return;
    }
    frame.render_widget(Block::new().style(s.base()), area);
    let strip_ctx = StripContext {
        device: ctx.run.started.as_ref().map(|r| r.device.as_str()),
        watching: ctx.watching,
    };
    // The strip never takes more than a quarter of the screen (eight GPUs on 24 rows).
    let strip_h = ui.gpu.height(strip_ctx).min(area.height / 4);
    let banner_h = alert_banner::height(ctx.run, ctx.watching, area.width);
    let [head, gauge, banner, strip, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(banner_h),
        Constraint::Length(strip_h),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, head, gauge, ctx, s);
    alert_banner::render(frame, banner, ctx.run, ctx.watching, s);
    if strip_h > 0 {
        ui.gpu.render(frame, strip, strip_ctx, s);
    }
    let grid = !ui.zoom && area.width >= GRID_WIDTH && area.height >= GRID_HEIGHT;
    if grid {
        let [top, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        // The Schedule pane holds a field list and a chart side by side: it gets more width.
        let [a, b] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(top);
        let [c, d] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);
        for (pane, r) in Pane::ALL.into_iter().zip([a, b, c, d]) {
            render_pane(frame, r, ui, pane, ctx, s);
        }
    } else {
        let [tabs_area, pane_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        tabs(frame, tabs_area, ui, s);
        render_pane(frame, pane_area, ui, ui.focus, ctx, s);
    }
    footer::render(frame, foot, ctx, s);
    if let Some(p) = &ui.popup {
        p.render(frame, popup, s);
    }
    fill_background(frame, s);
}

/// Cells drawn with the terminal's own background (a chart's canvas resets it) get the
/// theme's, so a theme with a background (high-contrast's black) is one colour everywhere,
/// also on a light terminal. Nothing changes for a theme that keeps the terminal's.
fn fill_background(frame: &mut Frame, s: &Styles) {
    use ratatui::style::Color;
    let bg = s.color(Slot::Bg);
    if bg == Color::Reset {
        return;
    }
    let area = frame.area();
    let buf = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if cell.bg == Color::Reset {
                cell.bg = bg;
            }
        }
    }
}

fn render_pane(frame: &mut Frame, area: Rect, ui: &Ui, pane: Pane, ctx: &Context, s: &Styles) {
    let focused = ui.focus == pane;
    let component = ui.pane(pane);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(s.border(focused))
        .title(Span::styled(
            format!(" {} {} ", pane.number(), component.title()),
            s.title(focused),
        ));
    component.render(frame, area, block, ctx, s, focused);
}

/// The strip naming the panes when only one is shown.
fn tabs(frame: &mut Frame, area: Rect, ui: &Ui, s: &Styles) {
    let mut spans = Vec::new();
    for p in Pane::ALL {
        let st = if p == ui.focus { s.selected() } else { s.dim() };
        spans.push(Span::styled(
            format!(" {} {} ", p.number(), ui.pane(p).title()),
            st,
        ));
        spans.push(Span::raw(" "));
    }
    let hint = if ui.zoom {
        "z: all panes".to_string()
    } else {
        format!("Tab/1-{} switch", Pane::ALL.len())
    };
    // The hint shows whole or not at all.
    let used: usize = spans.iter().map(|sp| sp.width()).sum();
    if used + hint.chars().count() <= area.width as usize {
        spans.push(Span::styled(hint, s.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
