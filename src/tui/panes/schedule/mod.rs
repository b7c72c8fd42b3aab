//! The Schedule pane: every pruning and adversarial knob as an editable field, beside the
//! target sparsity curve (redrawn from the typed value while editing), the measured sparsity so
//! far and a marker at the current step. It owns the cursor and the open edit; which knobs
//! there are and how a typed value is checked is `fields.rs`.
pub mod fields;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::pane::{Context, Exports, Handled, PaneComponent, PaneRequest, Plot as ExportPlot};
use crate::config::theme::Slot;
use crate::export::Table;
use crate::prune::ScheduleSpec;
use crate::tui::chart::{self, Axes, Plot};
use crate::tui::keymap::Action;
use crate::tui::model::{RunModel, SeriesId};
use crate::tui::style::Styles;
use crate::tui::text::{clip, fmt_num, wrap, wrapped_rows};
use crate::tui::text_input::TextInput;
use fields::{candidate, fields_for, Field, Group, Kind};

/// Widest label ("DeepFool iterations") plus a space.
const LABEL_W: usize = 20;

/// A field being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldEdit {
    pub key: &'static str,
    pub input: TextInput,
    /// For choice fields: the option shown.
    pub choice: Option<usize>,
    /// The schedule the typed value gives, or why it is refused.
    pub verdict: Result<ScheduleSpec, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulePane {
    pub cursor: usize,
    pub edit: Option<FieldEdit>,
    /// A refusal shown under a field that could not be opened (`key`, reason).
    pub note: Option<(&'static str, String)>,
}

impl PaneComponent for SchedulePane {
    fn title(&self) -> &'static str {
        "Schedule"
    }

    fn exports(&self) -> Exports {
        Exports {
            tables: &[Table::Steps],
            plot: ExportPlot::LossSparsity,
        }
    }

    fn on_action(&mut self, a: Action, ctx: &Context, focused: bool) -> Handled {
        if self.edit.is_some() {
            return self.on_edit_action(a, ctx.run);
        }
        // A refusal note belongs to the Enter that caused it; any other key clears it.
        self.note = None;
        if !focused {
            return Handled::No;
        }
        match a {
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                let n = fields_for(&ctx.run.preset).len();
                let c = &mut self.cursor;
                *c = match a {
                    Action::Up => c.saturating_sub(1),
                    Action::Down => (*c + 1).min(n.saturating_sub(1)),
                    Action::PageUp => 0,
                    _ => n.saturating_sub(1),
                };
            }
            Action::Enter if ctx.watching => {
                return Handled::Do(PaneRequest::ReadOnly("editing settings"))
            }
            Action::Enter => self.begin_edit(ctx.run),
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn captures_input(&self) -> bool {
        self.edit.is_some()
    }

    fn cancel_input(&mut self) {
        self.edit = None;
    }

    fn reset(&mut self) {
        *self = SchedulePane::default();
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
        self.draw(frame, area, block, ctx, s, focused);
    }
}

impl SchedulePane {
    fn selected_field(&self, run: &RunModel) -> Option<Field> {
        fields_for(&run.preset).into_iter().nth(self.cursor)
    }

    fn begin_edit(&mut self, run: &RunModel) {
        let Some(f) = self.selected_field(run) else {
            return;
        };
        if run.state.is_active() && !f.live {
            let why = format!("{} is fixed once the run has started", f.label);
            self.note = Some((f.key, why));
            return;
        }
        let value = f.value(&run.preset);
        let choice = match f.kind {
            Kind::Choice(opts) => Some(opts.iter().position(|o| *o == value).unwrap_or(0)),
            _ => None,
        };
        self.edit = Some(FieldEdit {
            key: f.key,
            // "end of training" is a description, not a value to edit.
            input: TextInput::new(if value.parse::<f64>().is_ok() || choice.is_some() {
                &value
            } else {
                ""
            }),
            choice,
            verdict: Ok(run.schedule),
        });
    }

    /// While a field is open every key is its: text, the cursor, a choice, Enter, Esc.
    fn on_edit_action(&mut self, a: Action, run: &RunModel) -> Handled {
        let Some(field) = self.selected_field(run) else {
            self.edit = None;
            return Handled::Yes;
        };
        let Some(edit) = self.edit.as_mut() else {
            return Handled::Yes;
        };
        match (field.kind, a) {
            (_, Action::Cancel) => {
                self.edit = None;
                return Handled::Yes;
            }
            (_, Action::Enter) => return self.commit_edit(&field, run),
            (Kind::Choice(opts), a) => {
                let n = opts.len();
                let Some(i) = edit.choice.as_mut() else {
                    return Handled::Yes;
                };
                *i = match a {
                    Action::Left | Action::Up | Action::Input('h') | Action::Input('k') => {
                        (*i + n - 1) % n
                    }
                    Action::Right
                    | Action::Down
                    | Action::Input('l')
                    | Action::Input('j')
                    | Action::Input(' ') => (*i + 1) % n,
                    _ => *i,
                };
                edit.input = TextInput::new(opts[*i]);
            }
            (_, Action::Input(c)) => edit.input.insert(c),
            (_, Action::Backspace) => edit.input.backspace(),
            (_, Action::Delete) => edit.input.delete(),
            (_, Action::Left) => edit.input.left(),
            (_, Action::Right) => edit.input.right(),
            (_, Action::Home) => edit.input.home(),
            (_, Action::End) => edit.input.end(),
            (_, Action::ClearInput) => edit.input.clear(),
            _ => return Handled::Yes,
        }
        // Re-validate on every keystroke so the chart and the reason follow the typing.
        let spe = run.steps_per_epoch();
        edit.verdict =
            candidate(&run.preset, &field, edit.input.text(), spe).map(|(c, _)| c.schedule(spe));
        Handled::Yes
    }

    fn commit_edit(&mut self, field: &Field, run: &RunModel) -> Handled {
        let Some(text) = self.edit.as_ref().map(|e| e.input.text().to_string()) else {
            return Handled::Yes;
        };
        let spe = run.steps_per_epoch();
        match candidate(&run.preset, field, &text, spe) {
            Err(reason) => {
                if let Some(edit) = self.edit.as_mut() {
                    edit.verdict = Err(reason);
                }
                Handled::Yes
            }
            Ok((cand, literal)) => {
                self.edit = None;
                if run.state.is_active() {
                    // The engine applies it from the next step and answers with param_changed
                    // (then the run's settings change) or an error.
                    Handled::Do(PaneRequest::SetLive {
                        key: field.key,
                        literal,
                    })
                } else {
                    let n = fields_for(&cand).len();
                    self.cursor = self.cursor.min(n.saturating_sub(1));
                    Handled::Do(PaneRequest::Settings(Box::new(cand)))
                }
            }
        }
    }

    fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        block: Block,
        ctx: &Context,
        s: &Styles,
        focused: bool,
    ) {
        let hint = if ctx.watching {
            " read-only: watching "
        } else if ctx.run.state.is_active() {
            " edits apply from the next step "
        } else {
            " edits go into the preset "
        };
        let mut block = block.title_top(Line::from(Span::styled(hint, s.dim())).right_aligned());
        if focused && self.edit.is_none() && !ctx.watching {
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
        self.fields(frame, list, ctx.run, s, focused);
        // A rule between the values and the chart's axis labels, so "3" and "50%" never read as
        // one value.
        let bar: Vec<Line> = (0..rule.height)
            .map(|_| Line::from(Span::styled("│", s.dim())))
            .collect();
        frame.render_widget(Paragraph::new(bar), rule);
        self.curve(frame, plot, ctx.run, s);
    }

    fn fields(&self, frame: &mut Frame, area: Rect, run: &RunModel, s: &Styles, focused: bool) {
        let width = area.width as usize;
        let value_w = width.saturating_sub(LABEL_W).max(4);
        let label_w = width.saturating_sub(value_w + 1).min(LABEL_W - 1);
        let fields = fields_for(&run.preset);
        let ui = self;
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
                let title = f.group.title(run.preset.train.mode);
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
                let room = width.saturating_sub(label_w + 1);
                match f.kind {
                    // Both arrows stay: they say ← → change it; the value gives way.
                    Kind::Choice(_) => spans.push(Span::styled(
                        format!("◂ {} ▸", clip(edit.input.text(), room.saturating_sub(4))),
                        s.selected(),
                    )),
                    _ => spans.extend(edit.input.line(s, room).spans),
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
            let pending = run
                .pending_sets
                .iter()
                .find(|(k, _)| k == f.key)
                .map(|(_, v)| format!("{}…", v.trim_matches('"')));
            let value = pending.unwrap_or_else(|| f.value(&run.preset));
            let value = clip(&value, value_w);
            let text = format!("{label:<label_w$} {value:>value_w$}");
            let frozen = run.state.is_active() && !f.live;
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

    fn curve(&self, frame: &mut Frame, area: Rect, run: &RunModel, s: &Styles) {
        if area.width < 12 || area.height < 4 {
            return;
        }
        let legend_line = self.legend(run, s);
        let legend_h = wrapped_rows(&legend_line, area.width).min(3);
        let [plot_area, legend_area] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(legend_h)]).areas(area);
        let total = run.total_steps().max(1) as f64;
        let n = (plot_area.width as usize * 2).clamp(16, 512);
        let target = sample(&run.schedule, total, n);
        let preview = self
            .edit
            .as_ref()
            .and_then(|e| e.verdict.as_ref().ok())
            .filter(|spec| **spec != run.schedule)
            .map(|spec| sample(spec, total, n));
        let measured = run.metrics.get(SeriesId::Measured).points();
        let now = run.progress.steps_done as f64;
        let marker = chart::vline(now, 0.0, 1.0);
        let mut plots = vec![Plot::line(&target, s.series(Slot::Target), Slot::Target)];
        if let Some(p) = &preview {
            plots.push(Plot::line(p, s.series(Slot::Preview), Slot::Preview));
        }
        plots.push(Plot::line(
            measured,
            s.series(Slot::Measured),
            Slot::Measured,
        ));
        if run.started.is_some() {
            plots.push(Plot::line(&marker, s.series(Slot::Marker), Slot::Marker));
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

    fn legend<'a>(&self, run: &RunModel, s: &Styles) -> Line<'a> {
        let editing = self.edit.as_ref().and_then(|e| e.verdict.as_ref().ok());
        let preview = editing.filter(|spec| **spec != run.schedule);
        // No-break spaces keep each mark with its words when the legend wraps.
        let mut spans = vec![
            Span::styled(
                format!("{}\u{a0}", s.mark(Slot::Target)),
                s.series(Slot::Target),
            ),
            Span::styled("target  ", s.dim()),
        ];
        if preview.is_some() {
            spans.push(Span::styled(
                format!("{}\u{a0}", s.mark(Slot::Preview)),
                s.series(Slot::Preview),
            ));
            spans.push(Span::styled("edit  ", s.dim()));
        }
        if let Some((_, m)) = run.metrics.get(SeriesId::Measured).last() {
            spans.push(Span::styled(
                format!("{}\u{a0}", s.mark(Slot::Measured)),
                s.series(Slot::Measured),
            ));
            spans.push(Span::styled(
                format!("measured\u{a0}{}  ", fmt_num(m)),
                s.dim(),
            ));
        }
        if run.started.is_some() {
            spans.push(Span::styled("│\u{a0}", s.series(Slot::Marker)));
            spans.push(Span::styled(
                format!("step\u{a0}{}  ", run.progress.steps_done),
                s.dim(),
            ));
        }
        let sched = &run.schedule;
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
                if run.schedule_estimated {
                    " (estimated)"
                } else {
                    ""
                }
            ),
            s.dim(),
        ));
        Line::from(spans)
    }
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
