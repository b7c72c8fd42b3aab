//! Budget pane: the latest `budget` event. BAP: histograms of the DeepFool distances (with
//! the cut-off δ marked) and of the budgets actually used, their quantiles, and a strip of the
//! median budget with its p25-p75 spread over the run. Uniform mode: the fixed ε and how often
//! the attack flips the prediction.
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::pane::{Context, Exports, PaneComponent, Plot as ExportPlot};
use crate::config::preset::{Cutoff, Mode};
use crate::config::settings::ChartStyle;
use crate::config::theme::Slot;
use crate::events::{Budget, Distribution};
use crate::export::Table;
use crate::tui::chart::{self, Axes, Plot};
use crate::tui::style::Styles;
use crate::tui::text::{clip, fit_pieces, fmt_num, fmt_short, wrap};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// `--charts ascii`: the same eighths in plain characters (and `|` for the marker's rule).
const ASCII_BARS: [char; 8] = ['_', '_', '.', '.', ':', ':', '#', '#'];

/// No state of its own: it shows the latest of the run's budgets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetPane;

impl PaneComponent for BudgetPane {
    fn title(&self) -> &'static str {
        "Budget"
    }

    fn exports(&self) -> Exports {
        Exports {
            tables: &[Table::Budget],
            plot: ExportPlot::Budget,
        }
    }

    fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        block: Block,
        ctx: &Context,
        s: &Styles,
        _focused: bool,
    ) {
        draw(frame, area, block, ctx, s);
    }
}

fn draw(frame: &mut Frame, area: Rect, block: Block, ctx: &Context, s: &Styles) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(b) = &ctx.run.budget.latest else {
        let msg = match ctx.run.preset.train.mode {
            Mode::Natural => "natural training: no adversarial examples, so no budgets".into(),
            _ => format!(
                "no budget yet: the engine reports one every {} steps",
                ctx.run.preset.adv.budget_every
            ),
        };
        centered_text(frame, inner, &msg, s);
        return;
    };
    let [summary, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let line = summary_line(ctx, b, s, summary.width as usize);
    frame.render_widget(Paragraph::new(line), summary);
    match &b.distances {
        Some(d) => bap(frame, body, ctx, b, d, s),
        None => uniform(frame, body, ctx, b, s),
    }
}

/// A note in the middle of the pane, wrapped to its width.
fn centered_text(frame: &mut Frame, area: Rect, msg: &str, s: &Styles) {
    let lines: Vec<Line> = wrap(msg, area.width as usize, area.height as usize)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, s.dim())))
        .collect();
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(lines.len() as u16),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(lines).centered(), mid);
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// The budget's headline, whole pieces only when it does not fit ("flips 0" once read as a
/// flip rate of zero).
fn summary_line<'a>(ctx: &Context, b: &Budget, s: &Styles, width: usize) -> Line<'a> {
    // Counted from 1, as the header counts steps (the event's step is 0-based).
    let mut parts = vec![(9, format!("step {}", b.step + 1))];
    if b.distances.is_some() {
        match b.delta {
            Some(d) => {
                let how = match ctx.run.preset.adv.cutoff {
                    Cutoff::BatchMean => " (batch mean)",
                    Cutoff::Fixed => " (fixed)",
                    Cutoff::None => "",
                };
                parts.push((7, format!("δ {}{how}", fmt_num(d))));
            }
            None => parts.push((7, "no cut-off".into())),
        }
        parts.push((5, format!("ρ {}", fmt_num(b.rho))));
        parts.push((4, format!("cut {}", pct(b.cut_fraction))));
    } else {
        parts.push((7, format!("ε {} fixed", fmt_num(b.budgets.p50))));
    }
    parts.push((6, format!("flips {}", pct(b.flip_rate))));
    Line::from(Span::styled(fit_pieces(&parts, " · ", width), s.text()))
}

fn bap(frame: &mut Frame, area: Rect, ctx: &Context, b: &Budget, d: &Distribution, s: &Styles) {
    let [hists, strip] = Layout::vertical([Constraint::Fill(3), Constraint::Fill(2)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(hists);
    histogram_block(
        frame,
        left,
        "DeepFool distance d",
        d,
        b.delta.map(|x| ("δ", x)),
        Slot::Distances,
        s,
    );
    histogram_block(
        frame,
        right,
        "budget ε = ρ·min(d, δ)",
        &b.budgets,
        None,
        Slot::Budgets,
        s,
    );
    spread_strip(frame, strip, ctx, s);
}

fn uniform(frame: &mut Frame, area: Rect, ctx: &Context, b: &Budget, s: &Styles) {
    let [text, strip] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(area);
    let attack = toml::Value::try_from(ctx.run.preset.adv.attack)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    let lines = vec![
        Line::from(Span::styled(
            format!(
                "{attack} with a fixed budget: every example gets ε = {}",
                fmt_num(b.budgets.p50)
            ),
            s.text(),
        )),
        Line::from(Span::styled(
            format!(
                "{} of the adversarial examples flip the prediction",
                pct(b.flip_rate)
            ),
            s.dim(),
        )),
    ];
    frame.render_widget(Paragraph::new(lines), text);
    let [title, plot] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(strip);
    frame.render_widget(
        Paragraph::new(Span::styled("flip rate over the run", s.dim())),
        title,
    );
    let x = [0.0, ctx.run.total_steps().max(1) as f64];
    chart::draw(
        frame,
        plot,
        &[Plot::line(
            ctx.run.budget.flip_rate.points(),
            s.series(Slot::AdvLoss),
            Slot::AdvLoss,
        )],
        Axes {
            x,
            y: [0.0, 1.0],
            x_labels: chart::step_labels(x),
            y_labels: vec!["0".into(), "50%".into(), "100%".into()],
        },
        s,
    );
}

/// Title, bars, an axis with the marker's label, and the quantiles.
fn histogram_block(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    dist: &Distribution,
    marker: Option<(&str, f64)>,
    slot: Slot,
    s: &Styles,
) {
    if area.height < 4 || area.width < 10 {
        return;
    }
    let [t, bars, axis, q1, q2] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(Rect {
        width: area.width.saturating_sub(1),
        ..area
    });
    let w = bars.width as usize;
    frame.render_widget(
        Paragraph::new(Span::styled(clip(title, w), s.title(false))),
        t,
    );
    let hi = dist.lo + dist.bin_width * dist.counts.len() as f64;
    let marker_col = marker.and_then(|(_, x)| column_of(x, dist.lo, hi, w));
    histogram(
        frame.buffer_mut(),
        bars,
        &dist.counts,
        marker_col,
        s.series(slot),
        s.series(Slot::Cutoff),
        s.charts == ChartStyle::Ascii,
    );
    // Axis: low end, the marker's label under its column, high end.
    let mut axis_text: Vec<char> = vec![' '; w];
    put(&mut axis_text, 0, &fmt_num(dist.lo));
    let hi_s = fmt_num(hi);
    put(
        &mut axis_text,
        w.saturating_sub(hi_s.chars().count()),
        &hi_s,
    );
    let mut spans = vec![Span::styled(axis_text.iter().collect::<String>(), s.dim())];
    if let (Some(col), Some((name, x))) = (marker_col, marker) {
        let label = format!("{name}={}", fmt_num(x));
        let start = col
            .saturating_sub(label.chars().count() / 2)
            .min(w.saturating_sub(label.chars().count()));
        let before: String = axis_text[..start].iter().collect();
        let end = (start + label.chars().count()).min(w);
        let after: String = axis_text[end..].iter().collect();
        spans = vec![
            Span::styled(before, s.dim()),
            Span::styled(label, s.series(Slot::Cutoff)),
            Span::styled(after, s.dim()),
        ];
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), axis);
    let f = fmt_short;
    // Whole quantiles only, the median and the mean last to go: "μ .059±.…" read as a number.
    let l1 = fit_pieces(
        &[
            (5, format!("p25 {}", f(dist.p25))),
            (9, format!("p50 {}", f(dist.p50))),
            (5, format!("p75 {}", f(dist.p75))),
        ],
        " ",
        w,
    );
    let l2 = fit_pieces(
        &[
            (4, format!("p5 {}", f(dist.p5))),
            (6, format!("p95 {}", f(dist.p95))),
            (8, format!("μ {}±{}", f(dist.mean), f(dist.std))),
        ],
        " ",
        w,
    );
    frame.render_widget(Paragraph::new(Span::styled(l1, s.text())), q1);
    frame.render_widget(Paragraph::new(Span::styled(l2, s.dim())), q2);
}

fn put(buf: &mut [char], at: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        if let Some(slot) = buf.get_mut(at + i) {
            *slot = c;
        }
    }
}

/// Column of value `x` on a `w`-column axis over `[lo, hi)`.
fn column_of(x: f64, lo: f64, hi: f64, w: usize) -> Option<usize> {
    if w == 0 || hi <= lo || !x.is_finite() {
        return None;
    }
    let f = (x - lo) / (hi - lo);
    (0.0..=1.0)
        .contains(&f)
        .then(|| ((f * w as f64) as usize).min(w - 1))
}

/// Heights per column: bins are spread over (or averaged into) the available columns.
pub fn resample(counts: &[u64], w: usize) -> Vec<f64> {
    let n = counts.len();
    if n == 0 || w == 0 {
        return vec![0.0; w];
    }
    (0..w)
        .map(|c| {
            let b0 = c * n / w;
            let b1 = ((c + 1) * n / w).max(b0 + 1).min(n);
            counts[b0..b1].iter().sum::<u64>() as f64 / (b1 - b0) as f64
        })
        .collect()
}

/// Vertical bars in eighths of a cell; the marker column is drawn in the marker style, with a
/// thin rule where the bar does not reach.
fn histogram(
    buf: &mut Buffer,
    area: Rect,
    counts: &[u64],
    marker: Option<usize>,
    style: Style,
    marker_style: Style,
    ascii: bool,
) {
    let (bars, rule) = if ascii {
        (&ASCII_BARS, '|')
    } else {
        (&BARS, '│')
    };
    let w = area.width as usize;
    let h = area.height as usize;
    if w == 0 || h == 0 {
        return;
    }
    let heights = resample(counts, w);
    let max = heights.iter().cloned().fold(0.0, f64::max);
    for (c, v) in heights.iter().enumerate() {
        let eighths = if max > 0.0 {
            (v / max * (h * 8) as f64).round() as usize
        } else {
            0
        };
        let is_marker = marker == Some(c);
        for row in 0..h {
            // Row 0 is the bottom.
            let filled = eighths.saturating_sub(row * 8).min(8);
            let (sym, st) = match (filled, is_marker) {
                (0, true) => (rule, marker_style),
                (0, false) => continue,
                (f, true) => (bars[f - 1], marker_style),
                (f, false) => (bars[f - 1], style),
            };
            let x = area.x + c as u16;
            let y = area.y + (h - 1 - row) as u16;
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.set_char(sym).set_style(st);
            }
        }
    }
}

fn spread_strip(frame: &mut Frame, area: Rect, ctx: &Context, s: &Styles) {
    if area.height < 3 {
        return;
    }
    let [title, plot] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let b = &ctx.run.budget;
    let latest = b.p50.last().map(|(_, v)| fmt_num(v)).unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!("{} ", s.mark(Slot::Budgets)),
                s.series(Slot::Budgets),
            ),
            Span::styled(format!("median ε {latest}  "), s.dim()),
            Span::styled(format!("{} ", s.mark(Slot::Target)), s.series(Slot::Target)),
            Span::styled("p25-p75, over the run", s.dim()),
        ])),
        title,
    );
    let x = [0.0, ctx.run.total_steps().max(1) as f64];
    let hi = b.p75.y_range().map(|(_, h)| h).unwrap_or(1.0).max(1e-6) * 1.1;
    chart::draw(
        frame,
        plot,
        &[
            Plot::line(b.p25.points(), s.series(Slot::Target), Slot::Target),
            Plot::line(b.p75.points(), s.series(Slot::Target), Slot::Target),
            Plot::line(b.p50.points(), s.series(Slot::Budgets), Slot::Budgets),
        ],
        Axes {
            x,
            y: [0.0, hi],
            x_labels: chart::step_labels(x),
            y_labels: vec!["0".into(), fmt_num(hi)],
        },
        s,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_spreads_and_averages_bins() {
        assert_eq!(resample(&[2, 4], 4), [2.0, 2.0, 4.0, 4.0]);
        assert_eq!(resample(&[1, 3, 5, 7], 2), [2.0, 6.0]);
        assert_eq!(resample(&[], 3), [0.0, 0.0, 0.0]);
    }

    #[test]
    fn marker_columns_stay_on_the_axis() {
        assert_eq!(column_of(0.5, 0.0, 1.0, 10), Some(5));
        assert_eq!(column_of(1.0, 0.0, 1.0, 10), Some(9));
        assert_eq!(column_of(1.5, 0.0, 1.0, 10), None);
        assert_eq!(column_of(0.5, 1.0, 1.0, 10), None);
    }
}
