//! Robustness pane: the latest evaluation as one table per threat model (`eval::view`): rows
//! are budgets, columns the attacks and then the worst case over them (an image counts there
//! only if it survives every attack at that budget), then clean accuracy and the AUCs. The L∞
//! and RMS-L2 tables sit beside each other when the pane is wide enough, else one under the
//! other: their budgets are not comparable. Gradient-masking flags follow the tables. Each
//! accuracy sits next to its change from the previous evaluation, or from the pinned one (`P`);
//! with another run compared (`c`), its accuracy gets a column beside each of this run's and the
//! change is taken against it. Only measured points are shown: where the other evaluation has
//! no such budget the cell is empty and the summary says the grids differ (an interpolated
//! number would read as measured).
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::pane::{Context, Exports, PaneComponent, Plot as ExportPlot};
use crate::config::theme::Slot;
use crate::eval::view::{self, Table as ViewTable};
use crate::events::{AttackCurve, Eval};
use crate::export::Table;
use crate::headless::fmt_secs;
use crate::tui::chart::{self, Axes, Plot};
use crate::tui::model::curve_at;
use crate::tui::style::Styles;
use crate::tui::text::{fit_words, fmt_num, wrap};

const LABEL_W: usize = 7;
const ACC_W: usize = 6;
const DELTA_W: usize = 7;
const GAP: u16 = 3;

/// What each attack's columns hold after its accuracy.
#[derive(Clone, Copy)]
struct Cols<'a> {
    /// The compared run's evaluation: its accuracy in a column of its own.
    other: Option<&'a Eval>,
    /// The change from the baseline.
    delta: bool,
}

/// No state of its own: it shows the latest of the run's evaluations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RobustnessPane;

impl PaneComponent for RobustnessPane {
    fn title(&self) -> &'static str {
        "Robustness"
    }

    fn exports(&self) -> Exports {
        Exports {
            tables: &[Table::Robustness],
            plot: ExportPlot::Robustness,
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

/// An attack's curve or a worst case, by id.
fn find<'a>(e: &'a Eval, attack: &str) -> Option<&'a AttackCurve> {
    e.curves
        .iter()
        .chain(e.worst_case.iter())
        .find(|c| c.attack == attack)
}

/// The accuracy measured at exactly this budget; None where the grid has no such point.
fn measured(e: Option<&Eval>, attack: &str, g: f64) -> Option<f64> {
    curve_at(find(e?, attack)?, g)
}

/// Whether some attack both evaluations ran was run on different budgets.
fn grids_differ(a: &Eval, b: &Eval) -> bool {
    a.curves
        .iter()
        .any(|c| find(b, &c.attack).is_some_and(|o| o.grid != c.grid))
}

/// A column header that fits the accuracy cells.
fn short(attack: &str) -> &'static str {
    match attack {
        "fgsm" => "FGSM",
        "pgd" => "PGD",
        "apgd" | "apgd-l2" => "APGD",
        "deepfool" => "DF-cut",
        _ => "worst",
    }
}

fn draw(frame: &mut Frame, area: Rect, block: Block, ctx: &Context, s: &Styles) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(latest) = &ctx.run.evals.latest else {
        let every = match ctx.run.preset.eval.every {
            0 => "scheduled at the end of the run".to_string(),
            1 => "scheduled after every epoch".to_string(),
            n => format!("scheduled every {n} epochs"),
        };
        let lines = vec![
            Line::from(Span::styled("no evaluation yet", s.dim())),
            Line::from(Span::styled(every, s.dim())),
            Line::from(Span::styled(
                if ctx.watching && ctx.run.state.is_active() {
                    "evaluations come from the process that runs it"
                } else if ctx.watching {
                    "this run recorded none"
                } else if ctx.run.state.is_active() {
                    "e evaluates now, between steps"
                } else {
                    "e evaluates now during a run"
                },
                s.dim(),
            )),
        ];
        let [_, mid, _] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(3),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(lines).centered(), mid);
        return;
    };
    let baseline = ctx.run.evals.baseline();
    let compared = ctx.compare;
    let other = compared.and_then(|c| c.evals.latest.as_ref());
    // Against a compared run, the Δs are this run minus that one.
    let base = other.or(baseline.map(|(b, _)| b));
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let mut summary = format!("step {}", latest.step);
    match (compared, other) {
        // The compared run's name is long; the epoch can go.
        (Some(c), Some(o)) => summary.push_str(&format!(" · vs {} step {}", c.label, o.step)),
        (Some(c), None) => summary.push_str(&format!(" · {} has no evaluation", c.label)),
        (None, _) => {
            summary.push_str(&format!(
                " · {} · {} images · {}",
                epoch_label(latest.step, ctx.run.steps_per_epoch()),
                latest.examples,
                fmt_secs(latest.seconds)
            ));
            match baseline {
                Some((b, true)) => summary.push_str(&format!(" · Δ vs pinned step {}", b.step)),
                Some((b, false)) => summary.push_str(&format!(" · Δ vs step {}", b.step)),
                None => summary.push_str(" · P pins for Δ"),
            }
        }
    }
    if base.is_some_and(|b| grids_differ(latest, b)) {
        summary.push_str(" · grids differ: — not measured, AUCs over other ranges");
    }
    frame.render_widget(
        Paragraph::new(Span::styled(
            fit_words(&summary, head.width as usize),
            s.dim(),
        )),
        head,
    );
    let v = view::from_eval(latest);
    let robust_eps = ctx.run.preset.eval.robust_eps;
    let blocks = |cols: Cols| -> Vec<Vec<Line<'static>>> {
        v.tables
            .iter()
            .enumerate()
            .map(|(i, t)| table_block(t, latest, base, cols, (i == 0).then_some(robust_eps), s))
            .collect()
    };
    let width = |b: &[Line]| b.iter().map(Line::width).max().unwrap_or(0) as u16;
    let total = |bs: &[Vec<Line>]| bs.iter().map(|b| width(b) + GAP).sum::<u16>();
    let mut cols = Cols { other, delta: true };
    let mut tables = blocks(cols);
    let widest = tables.iter().map(|b| width(b)).max().unwrap_or(0);
    if widest > body.width && cols.delta {
        // Too narrow for the Δs: the accuracies (and the compared run's) matter more.
        cols.delta = false;
        tables = blocks(cols);
    }
    let side_by_side = tables.len() > 1 && total(&tables) <= body.width + GAP;
    let rows = if side_by_side {
        tables.iter().map(Vec::len).max().unwrap_or(0)
    } else {
        tables
            .iter()
            .map(|b| b.len() + 1)
            .sum::<usize>()
            .saturating_sub(1)
    } as u16;
    let flag_lines = flags(&v.flags, body.width as usize, s);
    let flag_rows = flag_lines.len() as u16;
    // With room to spare (a zoomed pane), the curves under the tables and flags.
    let spare = body.height.saturating_sub(rows + flag_rows + 1);
    let [table_area, flag_area, plot_area] = Layout::vertical([
        Constraint::Length(rows),
        Constraint::Length(flag_rows + u16::from(flag_rows > 0)),
        Constraint::Fill(1),
    ])
    .areas(body);
    if side_by_side {
        let mut constraints = Vec::new();
        for b in &tables {
            constraints.push(Constraint::Length(width(b)));
            constraints.push(Constraint::Length(GAP));
        }
        let areas = Layout::horizontal(constraints).split(table_area);
        for (i, b) in tables.into_iter().enumerate() {
            frame.render_widget(Paragraph::new(b), areas[2 * i]);
        }
    } else {
        let mut all: Vec<Line> = Vec::new();
        for b in tables {
            if !all.is_empty() {
                all.push(Line::default());
            }
            all.extend(b);
        }
        frame.render_widget(Paragraph::new(all), table_area);
    }
    if flag_rows > 0 {
        let [_, f] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(flag_area);
        frame.render_widget(Paragraph::new(flag_lines), f);
    }
    if spare >= 6 && !v.tables.is_empty() {
        let [_, p] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(plot_area);
        let n = v.tables.len() as u32;
        let mut constraints = Vec::new();
        for i in 0..n {
            if i > 0 {
                constraints.push(Constraint::Length(GAP));
            }
            constraints.push(Constraint::Ratio(1, n));
        }
        let areas = Layout::horizontal(constraints).split(p);
        let base_label = compared.map_or("baseline", |c| c.label.as_str());
        for (i, t) in v.tables.iter().enumerate() {
            curves(frame, areas[2 * i], latest, base, base_label, t, s);
        }
    }
}

/// Each flag as `⚑ check: message`, wrapped to the pane (at most two rows each).
fn flags(flags: &[String], width: usize, s: &Styles) -> Vec<Line<'static>> {
    flags
        .iter()
        .flat_map(|f| wrap(&format!("⚑ {f}"), width.max(8), 2))
        .map(|l| Line::from(Span::styled(l, s.warn())))
        .collect()
}

/// Robust accuracy over one table's budget grid: the latest curves, and the baseline's dimmed.
fn curves(
    frame: &mut Frame,
    area: Rect,
    latest: &Eval,
    base: Option<&Eval>,
    base_label: &str,
    table: &ViewTable,
    s: &Styles,
) {
    let slot = |a: &str| match a {
        "fgsm" => Slot::CleanLoss,
        "pgd" => Slot::TestAcc,
        "apgd" | "apgd-l2" => Slot::AdvLoss,
        "deepfool" => Slot::Distances,
        // The worst case is the robust accuracy the Loss pane plots.
        _ => Slot::RobustAcc,
    };
    let points = |e: &Eval, a: &str| -> Vec<(f64, f64)> {
        find(e, a)
            .map(|c| {
                c.grid
                    .iter()
                    .copied()
                    .zip(c.accuracy.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    // A curve: its points, its style, and which series it is (its ASCII character).
    type Curve = (Vec<(f64, f64)>, Style, Slot);
    let mut data: Vec<Curve> = Vec::new();
    let mut legend = Vec::new();
    for c in &table.columns {
        let a = c.attack.as_str();
        if let Some(b) = base {
            data.push((points(b, a), s.dim(), Slot::Dim));
        }
        data.push((points(latest, a), s.series(slot(a)), slot(a)));
        legend.push(Span::styled(
            format!("{}\u{a0}", s.mark(slot(a))),
            s.series(slot(a)),
        ));
        legend.push(Span::styled(format!("{} ", short(a)), s.dim()));
    }
    if base.is_some() {
        legend.push(Span::styled(
            format!("{}\u{a0}", s.mark(Slot::Dim)),
            s.dim(),
        ));
        legend.push(Span::styled(base_label.to_string(), s.dim()));
    }
    let hi = table.grid.last().copied().unwrap_or(0.0).max(1e-9);
    let budget = if table.unit.contains('ε') {
        "ε"
    } else {
        "δ"
    };
    let [title, plot] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(legend)), title);
    let plots: Vec<Plot> = data
        .iter()
        .map(|(d, st, slot)| Plot::line(d, *st, *slot))
        .collect();
    chart::draw(
        frame,
        plot,
        &plots,
        Axes {
            x: [0.0, hi],
            y: [0.0, 1.0],
            x_labels: vec![format!("{budget} 0"), fmt_num(hi)],
            y_labels: vec!["0".into(), "0.5".into(), "1".into()],
        },
        s,
    );
}

fn cell(text: String, w: usize, style: Style) -> Span<'static> {
    Span::styled(format!("{text:>w$}"), style)
}

fn acc_cell(v: Option<f64>, s: &Styles) -> Span<'static> {
    match v {
        None => cell("—".into(), ACC_W, s.dim()),
        Some(a) => cell(format!("{a:.3}"), ACC_W, s.heat(a)),
    }
}

/// An accuracy, the compared run's (with `cols.other`) and the change from the baseline
/// (with `cols.delta`), as right-aligned cells. `other` is that run's value at this row.
fn acc_cells(
    v: Option<f64>,
    other: Option<f64>,
    base: Option<f64>,
    cols: Cols,
    s: &Styles,
) -> Vec<Span<'static>> {
    let mut out = vec![acc_cell(v, s)];
    if cols.other.is_some() {
        out.push(acc_cell(other, s));
    }
    if cols.delta {
        out.push(match v.zip(base) {
            Some((a, b)) => cell(format!("{:+.3}", a - b), DELTA_W, s.delta(a - b)),
            None => cell(String::new(), DELTA_W, s.dim()),
        });
    }
    out
}

fn header(label: &str, names: &[&str], cols: Cols, s: &Styles) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{label:<LABEL_W$}"), s.title(false))];
    for c in names {
        spans.push(cell(c.to_string(), ACC_W, s.title(false)));
        if cols.other.is_some() {
            spans.push(cell("vs".into(), ACC_W, s.title(false)));
        }
        if cols.delta {
            spans.push(cell("Δ".into(), DELTA_W, s.title(false)));
        }
    }
    Line::from(spans)
}

/// One threat model: a row per budget (the report's budget marked ▸ when `mark` is on the
/// grid), then clean accuracy (under the first column) and each column's AUC.
fn table_block(
    t: &ViewTable,
    latest: &Eval,
    base: Option<&Eval>,
    cols: Cols,
    mark: Option<f64>,
    s: &Styles,
) -> Vec<Line<'static>> {
    let names: Vec<&str> = t.columns.iter().map(|c| short(&c.attack)).collect();
    let unit = if t.unit.contains('ε') {
        "ε L∞"
    } else {
        "δ RMS"
    };
    let mut lines = vec![header(unit, &names, cols, s)];
    for &g in &t.grid {
        let marked = mark.is_some_and(|m| (g - m).abs() < 1e-9);
        let label = format!("{}{}", if marked { "▸" } else { " " }, fmt_num(g));
        let mut spans = vec![Span::styled(
            format!("{label:<LABEL_W$}"),
            if marked { s.accent() } else { s.text() },
        )];
        for c in &t.columns {
            let a = c.attack.as_str();
            spans.extend(acc_cells(
                measured(Some(latest), a, g),
                measured(cols.other, a, g),
                measured(base, a, g),
                cols,
                s,
            ));
        }
        lines.push(Line::from(spans));
    }
    let mut clean = vec![Span::styled(
        format!("{:<LABEL_W$}", "clean"),
        s.title(false),
    )];
    clean.extend(acc_cells(
        Some(latest.clean_acc),
        cols.other.map(|o| o.clean_acc),
        base.map(|b| b.clean_acc),
        cols,
        s,
    ));
    lines.push(Line::from(clean));
    let mut auc = vec![Span::styled(format!("{:<LABEL_W$}", "AUC"), s.title(false))];
    // An AUC is a mean over its grid: against a run measured on another grid it is not
    // comparable, so the compared value and the Δ are left out.
    let auc_of = |e: Option<&Eval>, a: &str| {
        let mine = find(latest, a)?;
        let c = find(e?, a)?;
        (c.grid == mine.grid).then_some(c.auc)
    };
    for c in &t.columns {
        let a = c.attack.as_str();
        auc.extend(acc_cells(
            Some(c.auc.value),
            auc_of(cols.other, a),
            auc_of(base, a),
            cols,
            s,
        ));
    }
    lines.push(Line::from(auc));
    lines
}

/// Where in the run an evaluation was, numbered as the header numbers epochs (from 1): at an
/// epoch's last step "end of epoch 2", else "epoch 3" (an `e` mid-epoch, or the baseline).
pub fn epoch_label(step: usize, steps_per_epoch: usize) -> String {
    let spe = steps_per_epoch.max(1);
    if step > 0 && step.is_multiple_of(spe) {
        format!("end of epoch {}", step / spe)
    } else {
        format!("epoch {}", step / spe + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::epoch_label;

    #[test]
    fn evaluations_are_placed_in_epochs_counted_from_one() {
        assert_eq!(epoch_label(0, 16), "epoch 1");
        assert_eq!(epoch_label(5, 16), "epoch 1");
        assert_eq!(epoch_label(16, 16), "end of epoch 1");
        assert_eq!(epoch_label(40, 16), "epoch 3");
    }
}
