//! The screen: header, the four panes (a 2x2 grid when there is room, else the focused pane
//! with a tab strip), the message line and popups. Drawing only reads the app.
mod budget;
mod chart;
mod header;
mod loss;
mod robustness;
mod schedule;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use ratatui::Frame;

use super::app::{App, Pane, RunState};
use super::popups;
use super::style::Styles;

/// Below this the layout cannot say anything useful: one line says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this size up all four panes share the screen.
pub const GRID_WIDTH: u16 = 100;
pub const GRID_HEIGHT: u16 = 30;

pub fn render(frame: &mut Frame, app: &App) {
    let theme = app.theme();
    let s = Styles::new(&theme);
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
    let [head, gauge, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, head, gauge, app, &s);
    let grid = !app.ui.zoom && area.width >= GRID_WIDTH && area.height >= GRID_HEIGHT;
    if grid {
        let [top, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        // The Schedule pane holds a field list and a chart side by side: it gets more width.
        let [a, b] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(top);
        let [c, d] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);
        for (pane, r) in Pane::ALL.into_iter().zip([a, b, c, d]) {
            render_pane(frame, r, app, pane, &s);
        }
    } else {
        let [tabs_area, pane_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        tabs(frame, tabs_area, app, &s);
        render_pane(frame, pane_area, app, app.ui.focus, &s);
    }
    footer(frame, foot, app, &s);
    popups::render(frame, app, &s);
}

fn render_pane(frame: &mut Frame, area: Rect, app: &App, pane: Pane, s: &Styles) {
    let focused = app.ui.focus == pane;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(s.border(focused))
        .title(Span::styled(
            format!(" {} {} ", pane.number(), pane.title()),
            s.title(focused),
        ));
    match pane {
        Pane::Schedule => schedule::render(frame, area, block, app, s, focused),
        Pane::Loss => loss::render(frame, area, block, app, s, focused),
        Pane::Budget => budget::render(frame, area, block, app, s),
        Pane::Robustness => robustness::render(frame, area, block, app, s),
    }
}

/// The strip naming the panes when only one is shown.
fn tabs(frame: &mut Frame, area: Rect, app: &App, s: &Styles) {
    let mut spans = Vec::new();
    for p in Pane::ALL {
        let st = if p == app.ui.focus {
            s.selected()
        } else {
            s.dim()
        };
        spans.push(Span::styled(format!(" {} {} ", p.number(), p.title()), st));
        spans.push(Span::raw(" "));
    }
    let hint = if app.ui.zoom {
        "z: all panes"
    } else {
        "Tab/1-4 switch"
    };
    spans.push(Span::styled(hint, s.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The latest message on the left, the keys that matter now on the right.
fn footer(frame: &mut Frame, area: Rect, app: &App, s: &Styles) {
    let keys: &[(&str, &str)] = match app.run.state {
        _ if app.watching => &[("r", "runs"), ("c", "compare"), ("E", "export")],
        RunState::Running => &[("p", "pause"), ("e", "eval"), ("x", "stop")],
        RunState::Paused => &[("p", "resume"), ("e", "eval"), ("x", "stop")],
        RunState::Starting => &[("x", "stop")],
        _ => &[("s", "start"), ("o", "presets"), ("w", "save")],
    };
    let quit = if app.watching { "leave" } else { "quit" };
    let mut right = Vec::new();
    for (k, what) in keys.iter().chain(&[("?", "help"), ("q", quit)]) {
        right.push(Span::styled(format!(" {k}"), s.accent()));
        right.push(Span::styled(format!(" {what}"), s.dim()));
    }
    let right = Line::from(right);
    let rw = (right.width() as u16 + 1).min(area.width / 2);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(rw)]).areas(area);
    if let Some(e) = app.run.log.latest() {
        let mut line = popups::log_line(e, s);
        if app.run.log.len() > 1 {
            line.spans.insert(0, Span::styled("! ", s.accent()));
        }
        frame.render_widget(Paragraph::new(line), left_area);
    }
    frame.render_widget(Paragraph::new(right).right_aligned(), right_area);
}

/// Compact number for axes and values: `0.812`, `12.3k`, `1.2e-4`.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "—".into()
    } else if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 0.01 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// Like [`fmt_num`] without the leading zero of a fraction (`.073`), for tight rows.
pub fn fmt_short(v: f64) -> String {
    let s = fmt_num(v);
    if let Some(rest) = s.strip_prefix("0.") {
        format!(".{rest}")
    } else if let Some(rest) = s.strip_prefix("-0.") {
        format!("-.{rest}")
    } else {
        s
    }
}

/// Cuts `text` to `width` characters, marking the cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut s: String = text.chars().take(width - 1).collect();
        s.push('…');
        s
    }
}

/// Rows `line` takes when word-wrapped to `width` (no-break spaces join words), for sizing
/// legends before they are drawn.
pub fn wrapped_rows(line: &Line, width: u16) -> u16 {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let width = width.max(1) as usize;
    let (mut rows, mut used) = (1u16, 0usize);
    // Split on single spaces so runs of spaces count as the wrapper counts them.
    for word in text.split(' ') {
        let w = word.chars().count();
        let need = if used == 0 { w } else { used + 1 + w };
        if used > 0 && w > 0 && need > width {
            rows += 1;
            used = w;
        } else {
            used = need;
        }
    }
    rows
}

/// Greedy word wrap into at most `max_lines` lines of `width` characters.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = format!("{}…", kept.trim_end());
        }
    }
    lines.into_iter().map(|l| clip(&l, width)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.8), "0.8");
        assert_eq!(fmt_num(0.8126), "0.813");
        assert_eq!(fmt_num(12345.0), "12.3k");
        assert_eq!(fmt_num(0.0001), "1.0e-4");
        assert_eq!(fmt_num(f64::NAN), "—");
        assert_eq!(fmt_short(0.073), ".073");
        assert_eq!(fmt_short(-0.5), "-.5");
        assert_eq!(fmt_short(12.0), "12");
    }

    #[test]
    fn wrapping_respects_width_and_lines() {
        assert_eq!(
            wrap("end step 10 is not after begin step 20", 16, 3),
            ["end step 10 is", "not after begin", "step 20"]
        );
        assert_eq!(wrap("a b c d", 3, 1), ["a…"]);
        assert_eq!(wrap("ab cd ef", 6, 1), ["ab cd…"]);
        assert_eq!(clip("abcdef", 4), "abc…");
        let legend = Line::from("━\u{a0}target  ━\u{a0}measured\u{a0}0.8");
        assert_eq!(wrapped_rows(&legend, 40), 1);
        assert_eq!(wrapped_rows(&legend, 16), 2);
        // Two spaces between items count as two.
        assert_eq!(wrapped_rows(&Line::from("aaaa  bbbb"), 10), 1);
        assert_eq!(wrapped_rows(&Line::from("aaaa  bbbbb"), 10), 2);
    }
}
