//! Schedule pane: every pruning and adversarial knob as an editable field, beside the target
//! sparsity curve (redrawn from the typed value while editing), the measured sparsity so far
//! and a marker at the current step.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::App;
use super::super::fields::{Group, Kind};
use super::super::popups::input_line;
use super::super::style::Styles;
use super::chart::{self, Axes, Plot};
use super::{clip, fmt_num, wrap};
use crate::config::theme::Slot;
use crate::prune::ScheduleSpec;

/// Widest label ("DeepFool iterations") plus a space.
const LABEL_W: usize = 20;

pub fn render(frame: &mut Frame, area: Rect, block: Block, app: &App, s: &Styles, focused: bool) {
    let hint = if app.watching {
        " read-only: watching "
    } else if app.run.state.is_active() {
        " edits apply from the next step "
    } else {
        " edits go into the preset "
    };
    let mut block = block.title_top(Line::from(Span::styled(hint, s.dim())).right_aligned());
    if focused && app.ui.schedule.edit.is_none() && !app.watching {
        block = block.title_bottom(Line::from(Span::styled(
            " Enter edit · ↑↓ select ",
            s.dim(),
        )));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let list_w = (LABEL_W as u16 + 11).min(inner.width * 3 / 5);
    let [list, rule, plot] = Layout::horizontal([
        Constraint::Length(list_w),
        Constraint::Length(2),
        Constraint::Fill(1),
    ])
    .areas(inner);
    fields(frame, list, app, s, focused);
    // A rule between the values and the chart's axis labels, so "3" and "50%" never read as
    // one value.
    let bar: Vec<Line> = (0..rule.height)
        .map(|_| Line::from(Span::styled("│", s.dim())))
        .collect();
    frame.render_widget(Paragraph::new(bar), rule);
    curve(frame, plot, app, s);
}

fn fields(frame: &mut Frame, area: Rect, app: &App, s: &Styles, focused: bool) {
    let width = area.width as usize;
    let value_w = width.saturating_sub(LABEL_W).max(4);
    let label_w = width.saturating_sub(value_w + 1).min(LABEL_W - 1);
    let fields = app.fields();
    let ui = &app.ui.schedule;
    let groups = fields
        .windows(2)
        .filter(|w| w[0].group != w[1].group)
        .count()
        + 1;
    let extra = match (&ui.edit, &ui.note) {
        (Some(e), _) => e.verdict.as_ref().err().map(|_| 2).unwrap_or(1),
        (None, Some(_)) => 2,
        _ => 0,
    };
    // Group titles only when everything fits with them.
    let with_groups = fields.len() + groups + extra <= area.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut cursor_line = 0;
    let mut last_group: Option<Group> = None;
    for (i, f) in fields.iter().enumerate() {
        if with_groups && last_group != Some(f.group) {
            let title = f.group.title(app.run.preset.train.mode);
            lines.push(Line::from(Span::styled(title, s.title(false))));
        }
        last_group = Some(f.group);
        let selected = i == ui.cursor;
        if selected {
            cursor_line = lines.len();
        }
        let label = clip(f.label, label_w);
        let editing = ui.edit.as_ref().filter(|_| selected);
        if let Some(edit) = editing {
            let mut spans = vec![Span::styled(format!("{label:<label_w$} "), s.accent())];
            match f.kind {
                Kind::Choice(_) => spans.push(Span::styled(
                    format!("◂ {} ▸", edit.input.text()),
                    s.selected(),
                )),
                _ => spans.extend(input_line(&edit.input, s).spans),
            }
            lines.push(Line::from(spans));
            match &edit.verdict {
                Ok(_) => lines.push(Line::from(Span::styled(
                    clip("  ✓ Enter applies · Esc cancels", width),
                    s.ok(),
                ))),
                Err(reason) => {
                    for (j, l) in wrap(reason, width.saturating_sub(4), 2)
                        .into_iter()
                        .enumerate()
                    {
                        let lead = if j == 0 { "  ✗ " } else { "    " };
                        lines.push(Line::from(Span::styled(format!("{lead}{l}"), s.error())));
                    }
                }
            }
            continue;
        }
        let pending = app
            .run
            .pending_sets
            .iter()
            .find(|(k, _)| k == f.key)
            .map(|(_, v)| format!("{}…", v.trim_matches('"')));
        let value = pending.unwrap_or_else(|| f.value(&app.run.preset));
        let value = clip(&value, value_w);
        let text = format!("{label:<label_w$} {value:>value_w$}");
        let frozen = app.run.state.is_active() && !f.live;
        let style = if selected && focused {
            s.selected()
        } else if frozen {
            s.dim()
        } else {
            s.text()
        };
        lines.push(Line::from(Span::styled(text, style)));
        if let Some((key, why)) = &ui.note {
            if *key == f.key {
                for l in wrap(why, width.saturating_sub(4), 2) {
                    lines.push(Line::from(Span::styled(format!("  ! {l}"), s.warn())));
                }
            }
        }
    }
    // Keep the selected field (and its reason) in view.
    let h = area.height as usize;
    let offset = if lines.len() <= h {
        0
    } else {
        (cursor_line + extra + 1)
            .saturating_sub(h)
            .max(cursor_line.saturating_sub(h / 2))
            .min(lines.len() - h)
    };
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(h).collect();
    frame.render_widget(Paragraph::new(visible), area);
}

/// The target curve sampled at `n` steps over `[0, total]`.
fn sample(spec: &ScheduleSpec, total: f64, n: usize) -> Vec<(f64, f64)> {
    (0..=n)
        .map(|i| {
            let t = total * i as f64 / n as f64;
            (t, spec.sparsity_at(t.round() as usize))
        })
        .collect()
}

fn curve(frame: &mut Frame, area: Rect, app: &App, s: &Styles) {
    if area.width < 12 || area.height < 4 {
        return;
    }
    let legend_line = legend(app, s);
    let legend_h = super::wrapped_rows(&legend_line, area.width).min(3);
    let [plot_area, legend_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(legend_h)]).areas(area);
    let total = app.run.total_steps().max(1) as f64;
    let n = (plot_area.width as usize * 2).clamp(16, 512);
    let target = sample(&app.run.schedule, total, n);
    let preview = app
        .ui
        .schedule
        .edit
        .as_ref()
        .and_then(|e| e.verdict.as_ref().ok())
        .filter(|spec| **spec != app.run.schedule)
        .map(|spec| sample(spec, total, n));
    let measured = app
        .run
        .metrics
        .get(super::super::app::SeriesId::Measured)
        .points();
    let now = app.run.progress.steps_done as f64;
    let marker = chart::vline(now, 0.0, 1.0);
    let mut plots = vec![Plot::line(&target, s.series(Slot::Target))];
    if let Some(p) = &preview {
        plots.push(Plot::line(p, s.series(Slot::Preview)));
    }
    plots.push(Plot::line(measured, s.series(Slot::Measured)));
    if app.run.started.is_some() {
        plots.push(Plot::line(&marker, s.series(Slot::Marker)));
    }
    chart::draw(
        frame,
        plot_area,
        &plots,
        Axes {
            x: [0.0, total],
            y: [0.0, 1.0],
            x_labels: chart::step_labels([0.0, total]),
            y_labels: vec!["0%".into(), "50%".into(), "100%".into()],
        },
        s,
    );
    let legend = Paragraph::new(legend_line).wrap(Wrap { trim: true });
    frame.render_widget(legend, legend_area);
}

fn legend<'a>(app: &App, s: &Styles) -> Line<'a> {
    let editing = app
        .ui
        .schedule
        .edit
        .as_ref()
        .and_then(|e| e.verdict.as_ref().ok());
    let preview = editing.filter(|spec| **spec != app.run.schedule);
    // No-break spaces keep each mark with its words when the legend wraps.
    let mut spans = vec![
        Span::styled("━\u{a0}", s.series(Slot::Target)),
        Span::styled("target  ", s.dim()),
    ];
    if preview.is_some() {
        spans.push(Span::styled("━\u{a0}", s.series(Slot::Preview)));
        spans.push(Span::styled("edit  ", s.dim()));
    }
    if let Some((_, m)) = app
        .run
        .metrics
        .get(super::super::app::SeriesId::Measured)
        .last()
    {
        spans.push(Span::styled("━\u{a0}", s.series(Slot::Measured)));
        spans.push(Span::styled(
            format!("measured\u{a0}{}  ", fmt_num(m)),
            s.dim(),
        ));
    }
    if app.run.started.is_some() {
        spans.push(Span::styled("│\u{a0}", s.series(Slot::Marker)));
        spans.push(Span::styled(
            format!("step\u{a0}{}  ", app.run.progress.steps_done),
            s.dim(),
        ));
    }
    let sched = &app.run.schedule;
    let kind = toml::Value::try_from(sched.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    spans.push(Span::styled(
        format!(
            "{kind}\u{a0}{}\u{a0}→\u{a0}{}, steps\u{a0}{}-{}{}",
            fmt_num(sched.initial_sparsity),
            fmt_num(sched.final_sparsity),
            sched.begin_step,
            sched.end_step,
            if app.run.schedule_estimated {
                " (estimated)"
            } else {
                ""
            }
        ),
        s.dim(),
    ));
    Line::from(spans)
}
