//! The run list (`r`): every run in the runs folder with its state and headline numbers, as
//! `bapw runs` reads them (`runs::list`). Enter watches a run or resumes a stopped one; `c`
//! pins it for comparison. The keys are in `manage.rs`.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::app::App;
use super::panes::clip;
use super::popups::centered;
use super::style::Styles;
use crate::run::list::RunRow;

#[derive(Debug, Clone, PartialEq)]
pub struct RunList {
    /// The runs folder, for the hint line (empty until the runtime has read it).
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

pub fn render(frame: &mut Frame, area: Rect, app: &App, list: &RunList, s: &Styles) {
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
                    Ok(row) => run_line(app, row, &cols, name_w, on, s),
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
    app: &App,
    row: &RunRow,
    cols: &[Col],
    name_w: usize,
    on: bool,
    s: &Styles,
) -> Line<'static> {
    let current = app.run.as_ref().is_some_and(|r| r.run_id == row.name);
    let compared = app.compare.as_ref().is_some_and(|c| c.name == row.name);
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
