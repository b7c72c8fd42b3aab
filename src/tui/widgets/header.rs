//! The header: what is running where and how far along, then a progress bar drawn with
//! heavy and light lines so it reads without colour too.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::headless::fmt_secs;
use crate::tui::model::Context;
use crate::tui::model::RunState;
use crate::tui::style::Styles;
use crate::tui::text::{clip, fmt_num};

/// Header pieces in display order, each with a priority: when the line is too narrow the
/// least important go first (the state and the step stay longest).
fn pieces(ctx: &Context, s: &Styles) -> Vec<(u8, String, Style)> {
    let mut out = Vec::new();
    let state_style = match ctx.run.state {
        RunState::Running => s.ok(),
        RunState::Paused | RunState::Starting | RunState::Interrupted => s.warn(),
        RunState::Failed => s.error(),
        RunState::Finished | RunState::Stopped => s.accent(),
        RunState::Idle => s.dim(),
    };
    let state = if ctx.stop_requested && ctx.run.state.is_active() {
        "● stopping…".to_string()
    } else {
        format!("● {}", ctx.run.state.label())
    };
    if ctx.watching {
        // Not this window's run: the keys that steer it are refused, q just leaves.
        out.push((10, "watching".to_string(), s.accent()));
    }
    let edited = if ctx.run.preset_edited {
        " (edited)"
    } else {
        ""
    };
    out.push((6, format!("preset {}{edited}", ctx.run.label), s.text()));
    out.push((5, ctx.run.preset.train.mode.as_str().to_string(), s.text()));
    let total = ctx.run.total_steps();
    match &ctx.run.started {
        Some(run) => {
            out.push((9, state, state_style));
            let epoch = (ctx.run.progress.epoch + 1).min(run.epochs);
            out.push((4, format!("epoch {epoch}/{}", run.epochs), s.text()));
            out.push((
                8,
                format!("step {}/{total}", ctx.run.progress.steps_done),
                s.text(),
            ));
            if ctx.run.state.is_active() {
                if ctx.run.progress.samples_per_s > 0.0 {
                    let rate = fmt_num(ctx.run.progress.samples_per_s);
                    out.push((3, format!("{rate} samples/s"), s.text()));
                }
                if let Some(eta) = ctx.run.eta_seconds() {
                    out.push((7, format!("ETA {}", fmt_secs(eta)), s.text()));
                }
            } else if let Some(acc) = ctx.run.progress.last_test_acc {
                out.push((7, format!("test acc {acc:.3}"), s.text()));
            }
        }
        None => {
            out.push((9, state, state_style));
            let epochs = ctx.run.preset.train.epochs;
            out.push((4, format!("{epochs} epochs · {total} steps"), s.dim()));
            let hint = if ctx.watching {
                "reading the run's events…"
            } else {
                "s starts the run"
            };
            out.push((8, hint.into(), s.accent()));
        }
    }
    out
}

pub fn render(frame: &mut Frame, line_area: Rect, gauge_area: Rect, ctx: &Context, s: &Styles) {
    let width = line_area.width as usize;
    let sep = " │ ";
    let lead = " bapw";
    let mut items = pieces(ctx, s);
    let len = |items: &[(u8, String, Style)]| {
        lead.len()
            + items
                .iter()
                .map(|(_, t, _)| sep.chars().count() + t.chars().count())
                .sum::<usize>()
    };
    while len(&items) > width && !items.is_empty() {
        let lowest = items
            .iter()
            .enumerate()
            .min_by_key(|(_, (p, _, _))| *p)
            .map(|(i, _)| i)
            .unwrap_or(0);
        items.remove(lowest);
    }
    let mut spans = vec![Span::styled(lead, s.accent())];
    for (_, text, style) in items {
        spans.push(Span::styled(sep, s.dim()));
        spans.push(Span::styled(text, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line_area);
    gauge(frame, gauge_area, ctx, s);
}

/// The run's folder name and device, then the bar.
fn gauge(frame: &mut Frame, area: Rect, ctx: &Context, s: &Styles) {
    let total = ctx.run.total_steps().max(1);
    let who = match &ctx.run.started {
        Some(run) => format!(" {} on {} ", run.run_id, run.device),
        None => " not started ".to_string(),
    };
    let who = clip(&who, area.width as usize / 2);
    let done = if ctx.run.started.is_some() {
        ctx.run.progress.steps_done.min(total)
    } else {
        0
    };
    let ratio = done as f64 / total as f64;
    let label = format!(" {done}/{total} steps {:>3.0}% ", ratio * 100.0);
    let bar_w = (area.width as usize).saturating_sub(label.chars().count() + who.chars().count());
    let filled = (ratio * bar_w as f64).round() as usize;
    let line = Line::from(vec![
        Span::styled(who, s.accent()),
        Span::styled(
            "━".repeat(filled),
            s.series(crate::config::theme::Slot::Gauge),
        ),
        Span::styled("─".repeat(bar_w - filled), s.dim()),
        Span::styled(label, s.text()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}
