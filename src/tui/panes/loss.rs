//! Loss & sparsity pane: train losses (own scale, optionally smoothed and logarithmic) above
//! accuracies and sparsities (0-1), over steps, with a legend that toggles each series. A run
//! pinned for comparison (`c`) is drawn dimmed under the same series.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::pane::{Context, Exports, Handled, PaneComponent, Plot as ExportPlot};
use crate::config::theme::Slot;
use crate::export::Table;
use crate::tui::chart::{self, Axes, Plot};
use crate::tui::keymap::Action;
use crate::tui::model::{ema_into, y_range, RunModel, SeriesId};
use crate::tui::style::Styles;
use crate::tui::text::{fmt_num, wrapped_rows};

/// EMA weight when smoothing is on (per stored point).
const SMOOTHING: f64 = 0.8;

fn slot(id: SeriesId) -> Slot {
    match id {
        SeriesId::CleanLoss => Slot::CleanLoss,
        SeriesId::AdvLoss => Slot::AdvLoss,
        SeriesId::TestAcc => Slot::TestAcc,
        SeriesId::RobustAcc => Slot::RobustAcc,
        SeriesId::Target => Slot::Target,
        SeriesId::Measured => Slot::Measured,
    }
}

/// The pane's view of the series: smoothing, log scale, which series are hidden, and the
/// legend entry the cursor is on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossPane {
    pub smooth: bool,
    pub log_scale: bool,
    pub hidden: [bool; 6],
    pub cursor: usize,
}

impl PaneComponent for LossPane {
    fn title(&self) -> &'static str {
        "Loss & sparsity"
    }

    fn exports(&self) -> Exports {
        Exports {
            tables: &[Table::Steps, Table::Epochs],
            plot: ExportPlot::LossSparsity,
        }
    }

    /// `m` and `L` work from any pane; the legend keys only when it is focused.
    fn on_action(&mut self, a: Action, _ctx: &Context, focused: bool) -> Handled {
        let n = SeriesId::ALL.len();
        match a {
            Action::ToggleSmoothing => self.smooth = !self.smooth,
            Action::ToggleLogScale => self.log_scale = !self.log_scale,
            _ if !focused => return Handled::No,
            Action::Up | Action::Left => self.cursor = (self.cursor + n - 1) % n,
            Action::Down | Action::Right => self.cursor = (self.cursor + 1) % n,
            Action::Enter | Action::ToggleSeries => {
                self.hidden[self.cursor] = !self.hidden[self.cursor]
            }
            // The field keys of the Schedule pane mean nothing here.
            Action::PageUp | Action::PageDown => {}
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        block: Block,
        ctx: &Context,
        s: &Styles,
        focused: bool,
    ) {
        draw(self, frame, area, block, ctx, s, focused);
    }
}

fn draw(
    ui: &LossPane,
    frame: &mut Frame,
    area: Rect,
    block: Block,
    ctx: &Context,
    s: &Styles,
    focused: bool,
) {
    let flags = format!(
        " EMA {} · log {} ",
        if ui.smooth { "on" } else { "off" },
        if ui.log_scale { "on" } else { "off" }
    );
    let mut block = block.title_top(Line::from(Span::styled(flags, s.dim())).right_aligned());
    if focused {
        block = block.title_bottom(Line::from(Span::styled(
            " m EMA · L log · ←→ series · Space show/hide ",
            s.dim(),
        )));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if ctx.run.metrics.get(SeriesId::CleanLoss).is_empty() {
        let msg = if ctx.run.state.is_active() {
            "waiting for the first training step…"
        } else if ctx.watching {
            "no training steps yet"
        } else {
            "no training steps yet: s starts the run"
        };
        let [_, mid, _] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(msg).style(s.dim()).centered(), mid);
        return;
    }
    let mut legend_lines = vec![legend(ui, ctx.run, s, focused)];
    let mut legend_h = wrapped_rows(&legend_lines[0], inner.width).min(3);
    if let Some(c) = ctx.compare {
        let line = ghost_legend(c, ctx.run, s);
        legend_h += wrapped_rows(&line, inner.width).min(2);
        legend_lines.push(line);
    }
    let [top, bottom, legend_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(legend_h),
    ])
    .areas(inner);
    let total = ctx
        .compare
        .map_or(0, |c| c.total_steps())
        .max(ctx.run.total_steps());
    let x = [0.0, total.max(1) as f64];
    losses(frame, top, ui, ctx, s, x);
    fractions(frame, bottom, ui, ctx, s, x);
    frame.render_widget(
        Paragraph::new(legend_lines).wrap(Wrap { trim: true }),
        legend_area,
    );
}

fn shown(ui: &LossPane, id: SeriesId) -> bool {
    !ui.hidden[id as usize]
}

/// The compared run's points of `id`, when it is shown.
fn ghost<'a>(ui: &LossPane, ctx: &Context<'a>, id: SeriesId) -> Option<&'a [(f64, f64)]> {
    let pts = ctx.compare?.metrics.get(id).points();
    (shown(ui, id) && !pts.is_empty()).then_some(pts)
}

/// What the dim curves are: the compared run and its latest numbers.
fn ghost_legend<'a>(c: &RunModel, run: &RunModel, s: &Styles) -> Line<'a> {
    let value = |id: SeriesId| c.metrics.last(id).map_or_else(|| "—".into(), fmt_num);
    let robust = format!("robust@{}", fmt_num(run.preset.eval.robust_eps));
    let text = format!(
        "vs\u{a0}{} ({}): loss\u{a0}{}  test\u{a0}acc\u{a0}{}  {robust}\u{a0}{}  sparsity\u{a0}{}",
        c.label,
        c.mode(),
        value(SeriesId::CleanLoss),
        value(SeriesId::TestAcc),
        value(SeriesId::RobustAcc),
        value(SeriesId::Measured),
    );
    Line::from(vec![
        Span::styled(format!("{}\u{a0}", s.mark(Slot::Dim)), s.dim()),
        Span::styled(text, s.dim()),
    ])
}

fn losses(frame: &mut Frame, area: Rect, ui: &LossPane, ctx: &Context, s: &Styles, x: [f64; 2]) {
    let transform = |pts: &[(f64, f64)]| {
        let mut v = Vec::with_capacity(pts.len());
        if ui.smooth {
            ema_into(pts, SMOOTHING, &mut v);
        } else {
            v.extend_from_slice(pts);
        }
        if ui.log_scale {
            // log10 of the loss; a zero loss sits at the floor instead of at -inf.
            for p in &mut v {
                p.1 = p.1.max(1e-6).log10();
            }
        }
        v
    };
    // The compared run first, so this run's curves are drawn over it.
    let mut ghosts: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut data: Vec<(SeriesId, Vec<(f64, f64)>)> = Vec::new();
    for id in [SeriesId::CleanLoss, SeriesId::AdvLoss] {
        if let Some(pts) = ghost(ui, ctx, id) {
            ghosts.push(transform(pts));
        }
        let pts = ctx.run.metrics.get(id).points();
        if !shown(ui, id) || pts.is_empty() {
            continue;
        }
        data.push((id, transform(pts)));
    }
    let all: Vec<(f64, f64)> = data
        .iter()
        .map(|(_, v)| v)
        .chain(&ghosts)
        .flat_map(|v| v.iter().copied())
        .collect();
    let (lo, hi) = y_range(&all).unwrap_or((0.0, 1.0));
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let (lo, hi) = if ui.log_scale {
        (lo - pad, hi + pad)
    } else {
        ((lo - pad).max(0.0), hi + pad)
    };
    let label = |v: f64| {
        if ui.log_scale {
            fmt_num(10f64.powf(v))
        } else {
            fmt_num(v)
        }
    };
    let plots: Vec<Plot> = ghosts
        .iter()
        .map(|v| Plot::line(v, s.dim(), Slot::Dim))
        .chain(
            data.iter()
                .map(|(id, v)| Plot::line(v, s.series(slot(*id)), slot(*id))),
        )
        .collect();
    chart::draw(
        frame,
        area,
        &plots,
        Axes {
            x,
            y: [lo, hi],
            x_labels: Vec::new(),
            y_labels: vec![label(lo), label((lo + hi) / 2.0), label(hi)],
        },
        s,
    );
}

fn fractions(frame: &mut Frame, area: Rect, ui: &LossPane, ctx: &Context, s: &Styles, x: [f64; 2]) {
    let ids = [
        SeriesId::TestAcc,
        SeriesId::RobustAcc,
        SeriesId::Target,
        SeriesId::Measured,
    ];
    let sparse = |id: &SeriesId| matches!(id, SeriesId::TestAcc | SeriesId::RobustAcc);
    let ghosts = ids.iter().filter_map(|id| {
        let pts = ghost(ui, ctx, *id)?;
        Some(if sparse(id) {
            Plot::dots(pts, s.dim(), Slot::Dim)
        } else {
            Plot::line(pts, s.dim(), Slot::Dim)
        })
    });
    let plots: Vec<Plot> = ghosts
        .chain(ids.iter().filter(|id| shown(ui, **id)).map(|id| {
            let pts = ctx.run.metrics.get(*id).points();
            let st = s.series(slot(*id));
            if sparse(id) {
                Plot::dots(pts, st, slot(*id))
            } else {
                Plot::line(pts, st, slot(*id))
            }
        }))
        .collect();
    chart::draw(
        frame,
        area,
        &plots,
        Axes {
            x,
            y: [0.0, 1.0],
            x_labels: chart::step_labels(x),
            y_labels: vec!["0".into(), "0.5".into(), "1".into()],
        },
        s,
    );
}

fn legend<'a>(ui: &LossPane, run: &RunModel, s: &Styles, focused: bool) -> Line<'a> {
    let mut spans = Vec::new();
    for (i, id) in SeriesId::ALL.into_iter().enumerate() {
        let on = shown(ui, id);
        let value = run
            .metrics
            .get(id)
            .last()
            .map(|(_, v)| fmt_num(v))
            .unwrap_or_else(|| "—".into());
        let name = match id {
            SeriesId::RobustAcc => format!("robust@{}", fmt_num(run.preset.eval.robust_eps)),
            _ => id.label().replace(' ', "\u{a0}"),
        };
        let mark = if on { s.mark(slot(id)) } else { "·".into() };
        let text_style = if focused && i == ui.cursor {
            s.selected()
        } else if on {
            s.text()
        } else {
            s.dim()
        };
        // No-break spaces keep a mark, its name and its value together when the legend wraps.
        spans.push(Span::styled(format!("{mark}\u{a0}"), s.series(slot(id))));
        spans.push(Span::styled(format!("{name}\u{a0}{value}"), text_style));
        spans.push(Span::raw("  "));
    }
    Line::from(spans)
}
