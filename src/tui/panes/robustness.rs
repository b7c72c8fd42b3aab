//! Robustness pane: the latest evaluation as tables. FGSM and PGD share the L∞ ε grid; the
//! DeepFool-cut curve has its own RMS-L2 δ grid, so it gets its own block beside (or below)
//! rather than pretending the budgets are comparable. Each accuracy sits next to its change
//! from the previous evaluation, or from the pinned one (`P`). With another run pinned for
//! comparison (`c`), its accuracy gets a column beside each of this run's, and the change is
//! taken against it (when the pane has room for both).
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::pane::{Context, Exports, PaneComponent, Plot as ExportPlot};
use crate::config::theme::Slot;
use crate::events::Eval;
use crate::export::Table;
use crate::headless::fmt_secs;
use crate::tui::chart::{self, Axes, Plot};
use crate::tui::model::{grids_differ, measured_at, Curves};
use crate::tui::style::Styles;
use crate::tui::text::{fit_words, fmt_num};

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
    let mut summary = format!(
        "step {} · {}",
        latest.step,
        epoch_label(latest.step, ctx.run.steps_per_epoch())
    );
    match (compared, other) {
        (Some(c), Some(o)) => {
            summary.push_str(&format!(" · vs {} step {}", c.label, o.step));
            // Only measured points are shown: say why some are missing and why the AUCs do
            // not compare.
            let differ = ["fgsm", "pgd", "deepfool"].iter().any(|a| {
                latest
                    .curve(a)
                    .zip(o.curve(a))
                    .is_some_and(|(x, y)| grids_differ(x, y))
            });
            if differ {
                summary.push_str(" · grids differ: — not measured, AUCs over other ranges");
            }
        }
        (Some(c), None) => summary.push_str(&format!(" · {} has no evaluation", c.label)),
        (None, _) => {
            summary.push_str(&format!(
                " · {} images · {}",
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
    frame.render_widget(
        Paragraph::new(Span::styled(
            fit_words(&summary, head.width as usize),
            s.dim(),
        )),
        head,
    );
    let robust_eps = ctx.run.preset.eval.robust_eps;
    let blocks = |cols: Cols| {
        let eps = eps_block(latest, base, cols, robust_eps, s);
        let delta = delta_block(latest, base, cols, s);
        let eps_w = eps.iter().map(Line::width).max().unwrap_or(0) as u16;
        let delta_w = delta.iter().map(Line::width).max().unwrap_or(0) as u16;
        let fits = eps_w + GAP + delta_w < body.width;
        (eps, delta, eps_w, fits)
    };
    let mut cols = Cols { other, delta: true };
    let (mut eps, mut delta, mut eps_w, mut side_by_side) = blocks(cols);
    if !side_by_side && other.is_some() {
        // The compared run's column matters more than the Δs.
        cols.delta = false;
        (eps, delta, eps_w, side_by_side) = blocks(cols);
    }
    match (eps.is_empty(), delta.is_empty()) {
        (false, false) if side_by_side => {
            let rows = eps.len().max(delta.len()) as u16;
            // With room to spare (a zoomed pane), the curves under their tables.
            let (tables, plots) = if body.height >= rows + 7 {
                let [t, _, p] = Layout::vertical([
                    Constraint::Length(rows),
                    Constraint::Length(1),
                    Constraint::Fill(1),
                ])
                .areas(body);
                (t, Some(p))
            } else {
                (body, None)
            };
            let cols = |r: Rect| {
                Layout::horizontal([
                    Constraint::Length(eps_w),
                    Constraint::Length(GAP),
                    Constraint::Fill(1),
                ])
                .areas::<3>(r)
            };
            let [l, _, r] = cols(tables);
            frame.render_widget(Paragraph::new(eps), l);
            frame.render_widget(Paragraph::new(delta), r);
            if let Some(p) = plots {
                let [l, _, r] = Layout::horizontal([
                    Constraint::Fill(1),
                    Constraint::Length(GAP),
                    Constraint::Fill(1),
                ])
                .areas(p);
                let base_label = compared.map_or("baseline", |c| c.label.as_str());
                curves(frame, l, latest, base, base_label, &["fgsm", "pgd"], "ε", s);
                curves(frame, r, latest, base, base_label, &["deepfool"], "δ", s);
            }
        }
        _ => {
            let mut all = eps;
            if !all.is_empty() && !delta.is_empty() {
                all.push(Line::default());
            }
            all.extend(delta);
            frame.render_widget(Paragraph::new(all), body);
        }
    }
}

/// Accuracy over the budget grid: the latest curves, and the baseline's dimmed.
#[allow(clippy::too_many_arguments)]
fn curves(
    frame: &mut Frame,
    area: Rect,
    latest: &Eval,
    base: Option<&Eval>,
    base_label: &str,
    attacks: &[&str],
    budget: &str,
    s: &Styles,
) {
    let slot = |a: &str| match a {
        "fgsm" => Slot::CleanLoss,
        "pgd" => Slot::RobustAcc,
        _ => Slot::Distances,
    };
    let points = |e: &Eval, a: &str| -> Vec<(f64, f64)> {
        e.curve(a)
            .map(|c| {
                c.grid
                    .iter()
                    .copied()
                    .zip(c.accuracy.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut data: Vec<(Vec<(f64, f64)>, Style)> = Vec::new();
    let mut legend = Vec::new();
    for a in attacks {
        if let Some(b) = base {
            data.push((points(b, a), s.dim()));
        }
        data.push((points(latest, a), s.series(slot(a))));
        legend.push(Span::styled("━\u{a0}", s.series(slot(a))));
        let name = if *a == "deepfool" {
            "DF-cut".to_string()
        } else {
            a.to_uppercase()
        };
        legend.push(Span::styled(format!("{name}  "), s.dim()));
    }
    if base.is_some() {
        legend.push(Span::styled("━\u{a0}", s.dim()));
        legend.push(Span::styled(base_label.to_string(), s.dim()));
    }
    let hi = data
        .iter()
        .flat_map(|(d, _)| d.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1e-9);
    let [title, plot] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(legend)), title);
    let plots: Vec<Plot> = data.iter().map(|(d, st)| Plot::line(d, *st)).collect();
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

/// FGSM and PGD over the ε grid, then clean accuracy and the AUCs.
fn eps_block(
    latest: &Eval,
    base: Option<&Eval>,
    cols: Cols,
    robust_eps: f64,
    s: &Styles,
) -> Vec<Line<'static>> {
    let attacks: Vec<&str> = ["fgsm", "pgd"]
        .into_iter()
        .filter(|a| latest.curve(a).is_some())
        .collect();
    let Some(grid) = attacks
        .first()
        .and_then(|a| latest.curve(a))
        .map(|c| &c.grid)
    else {
        return Vec::new();
    };
    let names: Vec<String> = attacks.iter().map(|a| a.to_uppercase()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut lines = vec![header("ε L∞", &names, cols, s)];
    let at = |e: Option<&Eval>, a: &str, g: f64| {
        e.and_then(|e| e.curve(a)).and_then(|c| measured_at(c, g))
    };
    for &g in grid {
        let robust = (g - robust_eps).abs() < 1e-9;
        let label = format!("{}{}", if robust { "▸" } else { " " }, fmt_num(g));
        let mut spans = vec![Span::styled(
            format!("{label:<LABEL_W$}"),
            if robust { s.accent() } else { s.text() },
        )];
        for a in &attacks {
            let (v, o, b) = (at(Some(latest), a, g), at(cols.other, a, g), at(base, a, g));
            spans.extend(acc_cells(v, o, b, cols, s));
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
    let auc_of = |e: Option<&Eval>, a: &str| e.and_then(|e| e.curve(a)).map(|c| c.auc);
    for a in &attacks {
        let (v, o, b) = (
            auc_of(Some(latest), a),
            auc_of(cols.other, a),
            auc_of(base, a),
        );
        auc.extend(acc_cells(v, o, b, cols, s));
    }
    lines.push(Line::from(auc));
    lines
}

/// DeepFool-cut accuracy over its own δ grid.
fn delta_block(latest: &Eval, base: Option<&Eval>, cols: Cols, s: &Styles) -> Vec<Line<'static>> {
    let Some(curve) = latest.curve("deepfool") else {
        return Vec::new();
    };
    let base_curve = base.and_then(|b| b.curve("deepfool"));
    let other_curve = cols.other.and_then(|o| o.curve("deepfool"));
    let mut lines = vec![header("δ RMS", &["DF-cut"], cols, s)];
    for &g in &curve.grid {
        let mut spans = vec![Span::styled(
            format!(" {:<w$}", fmt_num(g), w = LABEL_W - 1),
            s.text(),
        )];
        spans.extend(acc_cells(
            measured_at(curve, g),
            other_curve.and_then(|c| measured_at(c, g)),
            base_curve.and_then(|c| measured_at(c, g)),
            cols,
            s,
        ));
        lines.push(Line::from(spans));
    }
    let mut auc = vec![Span::styled(format!("{:<LABEL_W$}", "AUC"), s.title(false))];
    auc.extend(acc_cells(
        Some(curve.auc),
        other_curve.map(|c| c.auc),
        base_curve.map(|c| c.auc),
        cols,
        s,
    ));
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
