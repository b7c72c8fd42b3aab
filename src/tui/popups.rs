//! Popups over the panes: questions, help, the preset picker, the preset-name prompt, the
//! message log, a preset's validation problems and the run list (`runlist.rs`). Their state
//! lives in `App::ui.popup`; the keys that drive them are in `control.rs` and `manage.rs`.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::keymap;
use super::runlist::{self, RunList};
use super::store::{Origin, PresetEntry};
use super::style::Styles;
use super::text::wrapped_rows;
use super::text_input::TextInput;

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    /// `scroll` counts lines up from the newest message.
    Messages {
        scroll: usize,
    },
    Confirm(Confirm),
    Picker {
        entries: Vec<PresetEntry>,
        selected: usize,
    },
    SaveAs {
        input: TextInput,
        error: Option<String>,
    },
    Problems {
        title: String,
        lines: Vec<String>,
        scroll: u16,
    },
    Runs(RunList),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    Stop,
    /// Quit while this window's run is in progress.
    Quit,
    Overwrite {
        name: String,
    },
    /// Continue a stopped or interrupted run (chosen in the run list) in this window.
    Resume {
        name: String,
        state: String,
        step: usize,
        total: usize,
    },
}

/// What a question was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    /// Quit, leaving the run to a detached process.
    Background,
    Cancel,
}

/// One button of a question: its key, its label and what it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub key: char,
    pub label: &'static str,
    pub answer: Answer,
}

const fn choice(key: char, label: &'static str, answer: Answer) -> Choice {
    Choice { key, label, answer }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub kind: ConfirmKind,
    /// Index into [`Confirm::choices`].
    pub selected: usize,
}

impl Confirm {
    /// Cancel (always the last choice) is selected first, so a stray Enter never stops a run.
    pub fn new(kind: ConfirmKind) -> Confirm {
        let mut c = Confirm { kind, selected: 0 };
        c.selected = c.choices().len() - 1;
        c
    }

    pub fn choices(&self) -> Vec<Choice> {
        let cancel = choice('n', "Cancel", Answer::Cancel);
        let yes = |label| choice('y', label, Answer::Yes);
        match &self.kind {
            ConfirmKind::Stop => vec![yes("Stop the run"), cancel],
            ConfirmKind::Quit => vec![
                choice('b', "Keep running in the background", Answer::Background),
                yes("Stop the run and quit"),
                cancel,
            ],
            ConfirmKind::Overwrite { .. } => vec![yes("Overwrite it"), cancel],
            ConfirmKind::Resume { .. } => vec![yes("Resume it here"), cancel],
        }
    }

    /// The answer of the selected button.
    pub fn selected_answer(&self) -> Answer {
        self.choices()
            .get(self.selected)
            .map_or(Answer::Cancel, |c| c.answer)
    }

    fn text(&self) -> (&'static str, String) {
        match &self.kind {
            ConfirmKind::Stop => (
                " Stop the run? ",
                "Training stops after the current step; a checkpoint and summary.json are \
                 written."
                    .into(),
            ),
            ConfirmKind::Quit => (
                " Quit? ",
                "A run is in progress. In the background it stops at a checkpoint and a \
                 detached `bapw resume --headless` continues it exactly (`bapw watch` \
                 reattaches). Or stop it here (checkpoint and summary.json) and quit."
                    .into(),
            ),
            ConfirmKind::Overwrite { name } => (
                " Overwrite? ",
                format!("A user preset named {name} exists."),
            ),
            ConfirmKind::Resume {
                name,
                state,
                step,
                total,
            } => (
                " Resume? ",
                format!(
                    "{name} is {state} at step {step}/{total}. Resume it in this window from \
                     its last checkpoint?"
                ),
            ),
        }
    }
}

/// A `w` x `h` rectangle centred in `area`, shrunk to fit.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn frame_block<'a>(title: &'a str, s: &Styles) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(s.border(true))
        .title(Span::styled(title, s.title(true)))
        .style(s.base())
}

pub fn render(frame: &mut Frame, app: &App, s: &Styles) {
    let Some(popup) = &app.ui.popup else {
        return;
    };
    let area = frame.area();
    match popup {
        Popup::Help { scroll } => help(frame, area, *scroll, s),
        Popup::Messages { scroll } => messages(frame, area, app, *scroll, s),
        Popup::Confirm(c) => confirm(frame, area, c, s),
        Popup::Picker { entries, selected } => picker(frame, area, app, entries, *selected, s),
        Popup::SaveAs { input, error } => save_as(frame, area, app, input, error.as_deref(), s),
        Popup::Problems {
            title,
            lines,
            scroll,
        } => problems(frame, area, title, lines, *scroll, s),
        Popup::Runs(list) => runlist::render(frame, area, app, list, s),
    }
}

fn help(frame: &mut Frame, area: Rect, scroll: u16, s: &Styles) {
    let row = |k: &str, what: &str| {
        Line::from(vec![
            Span::styled(format!("  {k:<15}"), s.accent()),
            Span::styled(what.to_string(), s.text()),
        ])
    };
    let mut keys = vec![Line::from(Span::styled("Keys", s.accent()))];
    keys.extend(keymap::NORMAL.iter().map(|b| row(b.label, b.help)));
    let mut other = vec![Line::from(Span::styled(
        "While editing a value",
        s.accent(),
    ))];
    other.extend(keymap::EDITING_HELP.iter().map(|(k, w)| row(k, w)));
    other.push(Line::default());
    other.push(Line::from(Span::styled("In dialogs", s.accent())));
    other.extend(keymap::DIALOG_HELP.iter().map(|(k, w)| row(k, w)));
    // Two columns when they fit side by side, else one scrolling list.
    let two = area.width >= 116 && area.height as usize >= keys.len() + 2;
    let (w, h) = if two {
        (116, keys.len().max(other.len()) as u16 + 2)
    } else {
        (60, (keys.len() + other.len() + 3) as u16)
    };
    let r = centered(area, w, h.min(area.height));
    frame.render_widget(Clear, r);
    let title = if two {
        " Help (Esc closes) "
    } else {
        " Help (Esc closes, ↑↓ scroll) "
    };
    let block = frame_block(title, s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    if two {
        let [l, rc] =
            Layout::horizontal([Constraint::Length(60), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(keys), l);
        frame.render_widget(Paragraph::new(other), rc);
    } else {
        keys.push(Line::default());
        keys.extend(other);
        frame.render_widget(Paragraph::new(keys).scroll((scroll, 0)), inner);
    }
}

fn messages(frame: &mut Frame, area: Rect, app: &App, scroll: usize, s: &Styles) {
    let r = centered(
        area,
        area.width.saturating_sub(8).max(40),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, r);
    let inner_h = r.height.saturating_sub(2);
    let inner_w = r.width.saturating_sub(2);
    let n = app.run.log.len();
    let end = n.saturating_sub(scroll);
    // Newest at the bottom: walk back from `end` while the wrapped lines still fit.
    let mut start = end;
    let mut rows = 0;
    for e in app.run.log.entries().take(end).rev() {
        let h = wrapped_rows(&s.log_line(e), inner_w);
        if rows + h > inner_h && start < end {
            break;
        }
        rows += h;
        start -= 1;
    }
    let lines: Vec<Line> = app
        .run
        .log
        .entries()
        .skip(start)
        .take(end - start)
        .map(|e| s.log_line(e))
        .collect();
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled("no messages yet", s.dim()))]
    } else {
        lines
    };
    let title = format!(
        " Messages {}-{} of {n} (↑↓ scroll, Esc closes) ",
        start + 1,
        end
    );
    let p = Paragraph::new(body)
        .block(frame_block(&title, s))
        .wrap(Wrap { trim: false });
    frame.render_widget(p, r);
}

/// A question with its buttons: side by side when there are two, else one per line.
fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, s: &Styles) {
    let (title, question) = c.text();
    let choices = c.choices();
    let stacked = choices.len() > 2;
    // Stacked buttons sit under a blank line of their own.
    let rows = if stacked { choices.len() as u16 + 1 } else { 1 };
    let r = centered(area, 60, if stacked { 6 } else { 7 } + rows);
    frame.render_widget(Clear, r);
    let block = frame_block(title, s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let [q, buttons] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(rows)]).areas(inner);
    frame.render_widget(
        Paragraph::new(question)
            .style(s.text())
            .wrap(Wrap { trim: true }),
        q,
    );
    let button = |i: usize, ch: &Choice| {
        let st = if i == c.selected {
            s.selected()
        } else {
            s.text()
        };
        Span::styled(format!(" [{}] {} ", ch.key, ch.label), st)
    };
    if stacked {
        let mut lines = vec![Line::default()];
        lines.extend(
            choices
                .iter()
                .enumerate()
                .map(|(i, ch)| Line::from(vec![Span::raw(" "), button(i, ch)])),
        );
        frame.render_widget(Paragraph::new(lines), buttons);
    } else {
        let mut spans = Vec::new();
        for (i, ch) in choices.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            spans.push(button(i, ch));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)).centered(), buttons);
    }
}

fn picker(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    entries: &[PresetEntry],
    selected: usize,
    s: &Styles,
) {
    let h = (entries.len() as u16 + 4).min(area.height);
    let r = centered(area, area.width.saturating_sub(6).min(110), h);
    frame.render_widget(Clear, r);
    let block = frame_block(" Open a preset (Enter opens, Esc closes) ", s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let name_w = entries
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(4)
        + 2;
    let visible = inner.height.saturating_sub(1) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let mut lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, e)| {
            let origin = match e.origin {
                Origin::Shipped => "shipped",
                Origin::User(_) => "user",
            };
            let current = if e.name == app.run.label { "•" } else { " " };
            let text = format!("{current} {:<name_w$}{origin:<9}{}", e.name, e.description);
            let st = if i == selected {
                s.selected()
            } else if !e.valid {
                s.error()
            } else {
                s.text()
            };
            Line::from(Span::styled(text, st))
        })
        .collect();
    let dir = app
        .store
        .config_dir()
        .map(|d| format!("user presets: {}/presets/", d.display()))
        .unwrap_or_else(|| "no config folder: shipped presets only".into());
    lines.push(Line::from(Span::styled(dir, s.dim())));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn save_as(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    input: &TextInput,
    error: Option<&str>,
    s: &Styles,
) {
    let r = centered(area, 64, 8);
    frame.render_widget(Clear, r);
    let block = frame_block(" Save settings as a user preset ", s);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut lines = vec![
        Line::from(Span::styled("Name (letters, digits, - _ .):", s.text())),
        input.line(s),
    ];
    match error {
        Some(e) => lines.push(Line::from(Span::styled(e.to_string(), s.error()))),
        None => {
            let to = app
                .store
                .config_dir()
                .map(|d| format!("→ {}/presets/{}.toml", d.display(), input.text().trim()))
                .unwrap_or_default();
            lines.push(Line::from(Span::styled(to, s.dim())));
        }
    }
    lines.push(Line::from(Span::styled(
        "Enter saves · Esc cancels",
        s.dim(),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn problems(frame: &mut Frame, area: Rect, title: &str, lines: &[String], scroll: u16, s: &Styles) {
    let h = (lines.len() as u16 + 5).min(area.height);
    let r = centered(area, area.width.saturating_sub(6).min(110), h);
    frame.render_widget(Clear, r);
    let title = format!(" {title} ");
    let mut body: Vec<Line> = lines
        .iter()
        .map(|l| Line::from(Span::styled(l.clone(), s.error())))
        .collect();
    body.push(Line::default());
    body.push(Line::from(Span::styled("Esc closes", s.dim())));
    let p = Paragraph::new(body)
        .block(frame_block(&title, s))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    frame.render_widget(p, r);
}
