//! The run list (`r`): every run in the runs folder with its state and headline numbers, as
//! `bapw runs` reads them (`runs::list`). Enter watches a run or resumes a stopped one (after
//! asking); `c` pins it for comparison; `r` reads the folder again.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::confirm::ConfirmKind;
use super::frame::centered;
use crate::run::list::RunRow;
use crate::tui::keymap::Action;
use crate::tui::model::Level;
use crate::tui::style::Styles;
use crate::tui::text::clip;

#[derive(Debug, Clone, PartialEq)]
pub struct RunList {
    /// The runs folder, for the hint line (empty until the event loop has read it).
    pub dir: String,
    /// None while the folder is being read; a run that could not be read holds why.
    pub rows: Option<Vec<Result<RunRow, String>>>,
    pub selected: usize,
}

impl RunList {
    pub fn loading() -> RunList {
        RunList {
            dir: String::new(),
            rows: None,
            selected: 0,
        }
    }

    /// The selected run, when it could be read.
    pub fn selected_row(&self) -> Option<&RunRow> {
        self.rows.as_ref()?.get(self.selected)?.as_ref().ok()
    }

    pub fn len(&self) -> usize {
        self.rows.as_ref().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The runs folder has been read.
    pub fn listed(&mut self, dir: &str, rows: Vec<Result<RunRow, String>>) {
        let first = self.rows.is_none();
        self.dir = dir.to_string();
        self.rows = Some(rows);
        // Names end in a timestamp, so the newest run is last: start there.
        self.selected = if first {
            self.len().saturating_sub(1)
        } else {
            self.selected.min(self.len().saturating_sub(1))
        };
    }

    pub fn on_action(&mut self, a: Action, ctx: &RunListContext) -> RunListReply {
        let last = self.len().saturating_sub(1);
        match a {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::PageDown => self.selected = (self.selected + 10).min(last),
            Action::Home => self.selected = 0,
            Action::End => self.selected = last,
            Action::Enter => {
                if let Some(row) = self.selected_row() {
                    return choose(row, ctx);
                }
            }
            Action::Input('c') => {
                if let Some(row) = self.selected_row() {
                    return compare(row, ctx);
                }
            }
            Action::Input('r') => {
                *self = RunList::loading();
                return RunListReply::Refresh;
            }
            Action::Cancel | Action::No => return RunListReply::Close,
            _ => {}
        }
        RunListReply::Stay
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: &RunListContext, s: &Styles) {
        draw(frame, area, ctx, self, s);
    }
}

/// What the list needs to know of the window.
pub struct RunListContext<'a> {
    /// The run on screen, once it has started (its id is its folder's name).
    pub on_screen: Option<&'a str>,
    /// The run pinned for comparison.
    pub compared: Option<&'a str>,
    pub watching: bool,
    /// This window's own run is in progress: it keeps the window.
    pub own_run_active: bool,
}

impl RunListContext<'_> {
    fn is_shown(&self, row: &RunRow) -> bool {
        self.on_screen == Some(row.name.as_str())
    }
}

/// What a key in the list asks for. Every answer but `Stay` and `Refresh` closes the list.
#[derive(Debug, Clone, PartialEq)]
pub enum RunListReply {
    Stay,
    Close,
    /// Read the runs folder again (the list shows it is reading).
    Refresh,
    Watch(String),
    Compare(String),
    /// Ask before resuming a stopped or interrupted run here.
    AskResume(ConfirmKind),
    /// Close with this message.
    Note(Level, String),
}

/// Enter: watch the run, or offer to resume a stopped one (the watched one included).
fn choose(row: &RunRow, ctx: &RunListContext) -> RunListReply {
    if ctx.own_run_active {
        return if ctx.is_shown(row) {
            RunListReply::Note(Level::Info, format!("{} is the run on screen", row.name))
        } else {
            RunListReply::Note(
                Level::Warn,
                "a run is in progress in this window: stop it (x) before watching or resuming \
                 another; c compares with one"
                    .into(),
            )
        };
    }
    if resumable(&row.state) {
        RunListReply::AskResume(ConfirmKind::Resume {
            name: row.name.clone(),
            state: row.state.clone(),
            step: row.step,
            total: row.total_steps,
        })
    } else if ctx.watching && ctx.is_shown(row) {
        RunListReply::Note(Level::Info, format!("{} is the run on screen", row.name))
    } else {
        RunListReply::Watch(row.name.clone())
    }
}

/// `c`: pin the run for comparison, unless it is the one on screen.
fn compare(row: &RunRow, ctx: &RunListContext) -> RunListReply {
    if ctx.is_shown(row) {
        RunListReply::Note(
            Level::Warn,
            format!("{} is the run on screen: pick another", row.name),
        )
    } else {
        RunListReply::Compare(row.name.clone())
    }
}

/// Whether Enter resumes (after asking) rather than watches a run in this state.
pub fn resumable(state: &str) -> bool {
    matches!(state, "stopped" | "interrupted")
}

/// The columns after the run's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    State,
    Preset,
    Mode,
    Step,
    Sparsity,
    Acc,
    Auc,
}

impl Col {
    const ALL: [Col; 7] = [
        Col::State,
        Col::Preset,
        Col::Mode,
        Col::Step,
        Col::Sparsity,
        Col::Acc,
        Col::Auc,
    ];

    fn header(self) -> &'static str {
        match self {
            Col::State => "STATE",
            Col::Preset => "PRESET",
            Col::Mode => "MODE",
            Col::Step => "STEP",
            Col::Sparsity => "SPARSITY",
            Col::Acc => "ACC",
            Col::Auc => "AUC",
        }
    }

    /// Width with the one-space gap before it.
    fn width(self) -> usize {
        match self {
            Col::State => 12,
            Col::Preset => 17,
            Col::Mode => 12,
            Col::Step => 14,
            Col::Sparsity => 9,
            Col::Acc | Col::Auc => 7,
        }
    }

    /// Numbers are right-aligned, words left-aligned.
    fn pad(self, text: &str) -> String {
        let w = self.width();
        let text = clip(text, w - 1);
        match self {
            Col::State | Col::Preset | Col::Mode => format!(" {text:<w$}", w = w - 1),
            _ => format!("{text:>w$}"),
        }
    }

    fn cell(self, row: &RunRow, s: &Styles) -> (String, Style) {
        match self {
            Col::State => (row.state.clone(), state_style(&row.state, s)),
            Col::Preset => (row.preset.clone(), s.text()),
            Col::Mode => (row.mode.clone(), s.text()),
            Col::Step => (format!("{}/{}", row.step, row.total_steps), s.text()),
            Col::Sparsity => (num(row.sparsity), s.text()),
            Col::Acc => (num(row.test_acc), s.text()),
            Col::Auc => (num(row.auc), s.text()),
        }
    }
}

/// The name column is never squeezed below this: narrower lists drop columns instead.
const MIN_NAME: usize = 18;
/// The mark before each name: this window's run, the compared run.
const MARK_W: usize = 2;

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

fn state_style(state: &str, s: &Styles) -> Style {
    match state {
        "running" => s.ok(),
        "finished" => s.accent(),
        "failed" => s.error(),
        _ => s.warn(),
    }
}

fn draw(frame: &mut Frame, area: Rect, ctx: &RunListContext, list: &RunList, s: &Styles) {
    let h = (list.len() as u16 + 5).clamp(8, area.height.saturating_sub(2).max(8));
    let r = centered(area, area.width.saturating_sub(4).min(124), h);
    frame.render_widget(Clear, r);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(s.border(true))
        .title(Span::styled(
            " Runs (Enter watch or resume · c compare · Esc close) ",
            s.title(true),
        ))
        .style(s.base());
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let width = inner.width as usize;
    let fixed = |cols: &[Col]| MARK_W + cols.iter().map(|c| c.width()).sum::<usize>();
    // Drop the least useful columns until the name has room.
    let mut cols = Col::ALL.to_vec();
    for drop in [Col::Preset, Col::Step, Col::Mode] {
        if width >= fixed(&cols) + MIN_NAME {
            break;
        }
        cols.retain(|c| *c != drop);
    }
    let name_w = width.saturating_sub(fixed(&cols)).max(4);
    let mut lines = Vec::new();
    let mut head = format!("{:MARK_W$}{:<name_w$}", "", "RUN");
    for c in &cols {
        head.push_str(&c.pad(c.header()));
    }
    lines.push(Line::from(Span::styled(clip(&head, width), s.title(false))));
    let visible = inner.height.saturating_sub(2) as usize;
    match &list.rows {
        None => lines.push(Line::from(Span::styled(
            "reading the runs folder…",
            s.dim(),
        ))),
        Some(rows) if rows.is_empty() => lines.push(Line::from(Span::styled(
            "no runs yet: s starts one, `bapw train` too",
            s.dim(),
        ))),
        Some(rows) => {
            let first = list.selected.saturating_sub(visible.saturating_sub(1));
            for (i, row) in rows.iter().enumerate().skip(first).take(visible) {
                let on = i == list.selected;
                lines.push(match row {
                    Ok(row) => run_line(ctx, row, &cols, name_w, on, s),
                    Err(e) => {
                        let st = if on { s.selected() } else { s.error() };
                        Line::from(Span::styled(clip(&format!("  {e}"), width), st))
                    }
                });
            }
        }
    }
    while lines.len() < inner.height.saturating_sub(1) as usize {
        lines.push(Line::default());
    }
    let keys = "Enter watches, or resumes a stopped run · c compares · r refreshes";
    let hint = if list.dir.is_empty() {
        keys.to_string()
    } else {
        format!("in {} · {keys}", list.dir)
    };
    lines.push(Line::from(Span::styled(clip(&hint, width), s.dim())));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn run_line(
    ctx: &RunListContext,
    row: &RunRow,
    cols: &[Col],
    name_w: usize,
    on: bool,
    s: &Styles,
) -> Line<'static> {
    let current = ctx.is_shown(row);
    let compared = ctx.compared == Some(row.name.as_str());
    let mark = match (current, compared) {
        (true, _) => "•",
        (false, true) => "◆",
        _ => " ",
    };
    let pick = |st: Style| if on { s.selected() } else { st };
    let mut spans = vec![
        Span::styled(format!("{mark} "), pick(s.accent())),
        Span::styled(
            format!("{:<name_w$}", clip(&row.name, name_w.saturating_sub(1))),
            pick(s.text()),
        ),
    ];
    for c in cols {
        let (text, st) = c.cell(row, s);
        spans.push(Span::styled(c.pad(&text), pick(st)));
    }
    Line::from(spans)
}
