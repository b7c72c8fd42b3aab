//! `bapw watch SWEEP_DIR`: a sweep on one screen. The report's table for one sparsity at a
//! time (←/→), the overall AER table, and every planned run with its state (↑/↓; Enter opens
//! the run in the ordinary watch view, q there comes back). The folder is re-read every second,
//! so a sweep running in another process fills in as its runs finish.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::style::Styles;
use crate::config::theme::Theme;
use crate::events::read_events;
use crate::run::list::RunRow;
use crate::sweep::folder::{run_dir, status_of, Plan, RunStatus};
use crate::sweep::report::{aggregate, cell_header, cell_row, f4, result_of, Report, RunResult};
use crate::sweep::spec::num;

pub struct SweepView {
    pub dir: PathBuf,
    pub plan: Plan,
    /// Per planned run: its state and, once it has some, its headline numbers.
    pub runs: Vec<(RunStatus, Option<RunRow>)>,
    pub report: Report,
    pub sparsity_idx: usize,
    pub selected: usize,
    /// What each run's log said when it was last read: a big sweep is hundreds of logs, and
    /// only those that changed are read again on the next refresh.
    cache: HashMap<String, Cached>,
    /// For a sweep on Slurm: each run's state with the scheduler's (`queued (Priority)`,
    /// `running on node7`), and when the queue was last asked.
    pub slurm: Option<Vec<String>>,
    slurm_asked: Option<Instant>,
}

/// How often the view asks Slurm's queue (squeue is a request to the cluster's controller).
const SLURM_EVERY: Duration = Duration::from_secs(5);

struct Cached {
    /// Length and modification time of `events.jsonl`.
    key: (u64, SystemTime),
    status: RunStatus,
    row: Option<RunRow>,
    result: Option<RunResult>,
}

/// What a key asks of the loop.
#[derive(Debug, PartialEq, Eq)]
pub enum ViewAction {
    None,
    Quit,
    Watch(PathBuf),
}

impl SweepView {
    pub fn load(dir: &Path) -> Result<SweepView> {
        let plan = Plan::load(dir)?;
        let mut v = SweepView {
            dir: dir.to_path_buf(),
            report: aggregate(&plan, &[]),
            plan,
            runs: Vec::new(),
            sparsity_idx: 0,
            selected: 0,
            cache: HashMap::new(),
            slurm: None,
            slurm_asked: None,
        };
        v.refresh()?;
        Ok(v)
    }

    /// Re-reads the runs whose logs changed (and running ones, whose writer may have gone)
    /// and rebuilds the report.
    pub fn refresh(&mut self) -> Result<()> {
        let mut runs = Vec::with_capacity(self.plan.runs.len());
        let mut results = Vec::new();
        for r in &self.plan.runs {
            let d = run_dir(&self.dir, &r.id);
            let key = std::fs::metadata(d.join("events.jsonl"))
                .and_then(|m| Ok((m.len(), m.modified()?)))
                .ok();
            let Some(key) = key else {
                self.cache.remove(&r.id);
                runs.push((RunStatus::Pending, None));
                continue;
            };
            let fresh = self
                .cache
                .get(&r.id)
                .is_some_and(|c| c.key == key && c.status != RunStatus::Running);
            if !fresh {
                // One read of the log serves the state, the row and the numbers.
                let events = read_events(&d.join("events.jsonl")).ok();
                let row = events.as_ref().and_then(|e| {
                    let rd = crate::run::RunDir::open(&d).ok()?;
                    Some(crate::run::list::summarize_events(&rd, e))
                });
                let status = row
                    .as_ref()
                    .map_or(RunStatus::Interrupted(false), |x| status_of(&d, &x.state));
                let result = match &events {
                    Some(e) if status == RunStatus::Finished => result_of(r, e),
                    _ => None,
                };
                self.cache.insert(
                    r.id.clone(),
                    Cached {
                        key,
                        status,
                        row,
                        result,
                    },
                );
            }
            let c = &self.cache[&r.id];
            runs.push((c.status, c.row.clone()));
            results.extend(c.result.clone());
        }
        self.runs = runs;
        self.report = aggregate(&self.plan, &results);
        if self.slurm_asked.is_none_or(|t| t.elapsed() >= SLURM_EVERY) {
            self.slurm_asked = Some(Instant::now());
            let st: Vec<RunStatus> = self.runs.iter().map(|(s, _)| *s).collect();
            // A queue that cannot be read keeps the states it showed last.
            if let Ok(states) = crate::sweep::slurm::point_states(&self.dir, &self.plan, &st) {
                self.slurm = states.map(|v| v.iter().map(|p| p.label()).collect());
            }
        }
        Ok(())
    }

    pub fn on_key(&mut self, k: KeyEvent) -> ViewAction {
        let n_sp = self.plan.sparsities().len().max(1);
        let n_runs = self.plan.runs.len().max(1);
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => return ViewAction::Quit,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                return ViewAction::Quit
            }
            KeyCode::Left | KeyCode::Char('h') => {
                self.sparsity_idx = (self.sparsity_idx + n_sp - 1) % n_sp
            }
            KeyCode::Right | KeyCode::Char('l') => {
                self.sparsity_idx = (self.sparsity_idx + 1) % n_sp
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n_runs - 1)
            }
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = n_runs - 1,
            KeyCode::Enter => {
                if let Some(r) = self.plan.runs.get(self.selected) {
                    let d = run_dir(&self.dir, &r.id);
                    if d.join("events.jsonl").exists() {
                        return ViewAction::Watch(d);
                    }
                }
            }
            _ => {}
        }
        ViewAction::None
    }
}

pub fn render(frame: &mut Frame, v: &SweepView, s: &Styles) {
    let area = frame.area();
    frame.render_widget(Block::new().style(s.base()), area);
    if area.width < 40 || area.height < 12 {
        let msg = format!(
            "too small: {}x{} (sweep view needs 40x12)",
            area.width, area.height
        );
        let msg: String = msg.chars().take(area.width as usize).collect();
        frame.render_widget(
            Paragraph::new(msg).style(s.warn()),
            Rect { height: 1, ..area },
        );
        return;
    }
    let overall_h = v.report.overall.len().max(1) as u16 + 3;
    let methods = v.report.overall.len().max(1) as u16;
    let [head, table, overall, runs, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(methods + 3),
        Constraint::Length(overall_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let count = |st: fn(&RunStatus) -> bool| v.runs.iter().filter(|(x, _)| st(x)).count();
    let finished = count(|x| *x == RunStatus::Finished);
    let running = count(|x| *x == RunStatus::Running);
    let failed = count(|x| *x == RunStatus::Failed);
    let header = Line::from(vec![
        Span::styled(format!(" sweep {} ", v.plan.name), s.accent()),
        Span::styled(
            format!(
                "· {finished}/{} finished · {running} running · {failed} failed · base {}",
                v.plan.runs.len(),
                v.plan.base
            ),
            s.text(),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(crate::tui::text::fit_line(&header, head.width as usize)),
        head,
    );
    render_cells(frame, table, v, s);
    render_overall(frame, overall, v, s);
    render_runs(frame, runs, v, s);
    // Whole hints only, the least needed first out.
    let hints = [
        (9, "q quit".to_string()),
        (7, "←/→ sparsity".to_string()),
        (6, "↑/↓ run".to_string()),
        (5, "Enter watch run".to_string()),
    ];
    let order = [1, 2, 3, 0];
    let ordered: Vec<(u8, String)> = order.iter().map(|i| hints[*i].clone()).collect();
    let line = crate::tui::text::fit_pieces(&ordered, "  ", keys.width.saturating_sub(1) as usize);
    frame.render_widget(Paragraph::new(format!(" {line}")).style(s.dim()), keys);
}

/// A table whose columns fit: each as wide as its widest text, the least important dropped
/// whole when they do not all fit (a number or a header like "FGSM@0.1" is never cut into
/// another, "FGSM@0"). Column `flex` (a name) may instead be cut with `…`, down to
/// `FLEX_MIN`, and takes what room is left. None when not even the column of `priority`
/// 10 and the one of 9 fit: the caller says "too small".
struct Fitted {
    /// Kept columns, in order, with their widths.
    cols: Vec<(usize, u16)>,
    hidden: usize,
    /// Blank columns between columns: two when everything fits so, else one.
    spacing: u16,
}

const FLEX_MIN: usize = 8;

fn fit_columns(
    head: &[String],
    rows: &[Vec<String>],
    priority: &[u8],
    flex: Option<usize>,
    width: usize,
) -> Option<Fitted> {
    match fit_spaced(head, rows, priority, flex, width, 2) {
        Some(f) if f.hidden == 0 => Some(f),
        _ => fit_spaced(head, rows, priority, flex, width, 1),
    }
}

fn fit_spaced(
    head: &[String],
    rows: &[Vec<String>],
    priority: &[u8],
    flex: Option<usize>,
    width: usize,
    spacing: usize,
) -> Option<Fitted> {
    let natural: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain([&head[i]])
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut lens = natural.clone();
    if let Some(f) = flex {
        lens[f] = lens[f].min(FLEX_MIN);
    }
    let keep = crate::tui::text::keep_by_priority(&lens, priority, spacing, width);
    let essential = (0..head.len()).filter(|i| priority[*i] >= 9);
    if essential.clone().any(|i| !keep[i]) {
        return None;
    }
    let used: usize = (0..head.len())
        .filter(|i| keep[*i])
        .map(|i| lens[i])
        .sum::<usize>()
        + spacing * keep.iter().filter(|k| **k).count().saturating_sub(1);
    if let Some(f) = flex {
        lens[f] = natural[f].min(lens[f] + width.saturating_sub(used));
    }
    Some(Fitted {
        cols: (0..head.len())
            .filter(|i| keep[*i])
            .map(|i| (i, lens[i] as u16))
            .collect(),
        hidden: keep.iter().filter(|k| !**k).count(),
        spacing: spacing as u16,
    })
}

/// The fitted table's rows (texts cut to the column only in the `flex` column).
fn fitted_rows<'a>(f: &Fitted, texts: Vec<Vec<Cell<'a>>>) -> Vec<Row<'a>> {
    texts
        .into_iter()
        .map(|r| {
            let mut r: Vec<Option<Cell>> = r.into_iter().map(Some).collect();
            Row::new(f.cols.iter().map(|(i, _)| r[*i].take().unwrap_or_default()))
        })
        .collect()
}

fn too_small(frame: &mut Frame, area: Rect, title: String, what: &str, s: &Styles) {
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(s.border(false))
        .title(Span::styled(title, s.title(false)));
    let text = format!("too small for the {what}: widen the terminal");
    frame.render_widget(
        Paragraph::new(text)
            .style(s.warn())
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block),
        area,
    );
}

fn hidden_note(hidden: usize) -> String {
    match hidden {
        0 => String::new(),
        1 => "· 1 column hidden ".into(),
        n => format!("· {n} columns hidden "),
    }
}

fn render_cells(frame: &mut Frame, area: Rect, v: &SweepView, s: &Styles) {
    let sps = v.plan.sparsities();
    let sp = sps.get(v.sparsity_idx).copied().unwrap_or(0.0);
    let r = &v.report;
    let head = cell_header(r);
    let texts: Vec<Vec<String>> = r
        .cells
        .iter()
        .filter(|c| c.sparsity == sp)
        .map(|c| cell_row(r, c))
        .collect();
    let n = head.len();
    // The method and the headline (R when it is the worst case, else the AUC mean) stay
    // longest, then clean accuracy, the budgets' accuracies, their AUCs, the run count.
    let headline = head
        .iter()
        .position(|h| h == "R")
        .unwrap_or(n.saturating_sub(2));
    let attacks = r.attacks.len() + r.worst.len();
    let priority: Vec<u8> = (0..n)
        .map(|i| match i {
            0 => 10,
            _ if i == headline => 9,
            2 => 8,
            _ if i >= 3 && i < 3 + attacks => 6,
            _ if i == n - 1 => 4,
            1 => 2,
            _ => 5,
        })
        .collect();
    let title = format!(
        " sparsity {} ({}/{}) ",
        num(sp),
        v.sparsity_idx + 1,
        sps.len()
    );
    let width = area.width.saturating_sub(2) as usize;
    let Some(fitted) = fit_columns(&head, &texts, &priority, None, width) else {
        return too_small(frame, area, title, "table", s);
    };
    let title = format!("{title}{}", hidden_note(fitted.hidden));
    let cells: Vec<Vec<Cell>> = texts
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(i, text)| {
                    // The headline is the figure the sweep is about.
                    if i == headline {
                        Cell::from(text).style(s.accent())
                    } else {
                        Cell::from(text)
                    }
                })
                .collect()
        })
        .collect();
    let rows: Vec<Row> = fitted_rows(&fitted, cells)
        .into_iter()
        .map(|r| r.style(s.text()))
        .collect();
    let head: Vec<String> = fitted.cols.iter().map(|(i, _)| head[*i].clone()).collect();
    let widths: Vec<Constraint> = fitted
        .cols
        .iter()
        .map(|(_, w)| Constraint::Length(*w))
        .collect();
    let t = Table::new(rows, widths)
        .column_spacing(fitted.spacing)
        .header(Row::new(head).style(s.title(false)))
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(s.border(true))
                .title(Span::styled(title, s.title(true))),
        );
    frame.render_widget(t, area);
}

fn render_overall(frame: &mut Frame, area: Rect, v: &SweepView, s: &Styles) {
    let texts: Vec<Vec<String>> = v
        .report
        .overall
        .iter()
        .map(|o| {
            vec![
                o.method.clone(),
                o.sparsities.to_string(),
                f4(Some(o.accuracy)),
                f4(Some(o.robustness)),
                f4(o.instability),
            ]
        })
        .collect();
    let head: Vec<String> = ["method", "sparsities", "A clean", "R AUC", "S spread"]
        .map(String::from)
        .to_vec();
    let title = " overall (AER) ".to_string();
    let width = area.width.saturating_sub(2) as usize;
    let Some(fitted) = fit_columns(&head, &texts, &[10, 3, 8, 9, 5], Some(0), width) else {
        return too_small(frame, area, title, "table", s);
    };
    let title = format!("{title}{}", hidden_note(fitted.hidden));
    let flex_w = fitted.cols[0].1 as usize;
    let cells: Vec<Vec<Cell>> = texts
        .into_iter()
        .map(|mut row| {
            row[0] = crate::tui::text::clip(&row[0], flex_w);
            row.into_iter().map(Cell::from).collect()
        })
        .collect();
    let rows: Vec<Row> = fitted_rows(&fitted, cells)
        .into_iter()
        .map(|r| r.style(s.text()))
        .collect();
    let t = fitted_table(&fitted, &head, rows, title, s);
    frame.render_widget(t, area);
}

/// The kept columns as a bordered table under `title`, the name column taking the spare room.
fn fitted_table<'a>(
    fitted: &Fitted,
    head: &[String],
    rows: Vec<Row<'a>>,
    title: String,
    s: &Styles,
) -> Table<'a> {
    let head: Vec<String> = fitted.cols.iter().map(|(i, _)| head[*i].clone()).collect();
    let mut widths: Vec<Constraint> = fitted
        .cols
        .iter()
        .map(|(_, w)| Constraint::Length(*w))
        .collect();
    widths[0] = Constraint::Min(fitted.cols[0].1);
    Table::new(rows, widths)
        .column_spacing(fitted.spacing)
        .header(Row::new(head).style(s.title(false)))
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(s.border(false))
                .title(Span::styled(title, s.title(false))),
        )
}

fn render_runs(frame: &mut Frame, area: Rect, v: &SweepView, s: &Styles) {
    let texts: Vec<Vec<String>> = v
        .plan
        .runs
        .iter()
        .zip(&v.runs)
        .enumerate()
        .map(|(i, (p, (st, row)))| {
            let progress = row
                .as_ref()
                .filter(|r| r.total_steps > 0)
                .map(|r| format!("{}/{}", r.step, r.total_steps))
                .unwrap_or_default();
            vec![
                p.id.clone(),
                match v.slurm.as_ref().and_then(|l| l.get(i)) {
                    Some(label) => label.clone(),
                    None => st.label().to_string(),
                },
                progress,
                f4(row.as_ref().and_then(|r| r.test_acc)),
                f4(row.as_ref().and_then(|r| r.auc)),
            ]
        })
        .collect();
    let head: Vec<String> = ["run", "state", "step", "acc", "auc"]
        .map(String::from)
        .to_vec();
    let title = " runs ".to_string();
    let width = area.width.saturating_sub(2) as usize;
    let Some(fitted) = fit_columns(&head, &texts, &[10, 9, 5, 6, 7], Some(0), width) else {
        return too_small(frame, area, title, "run list", s);
    };
    let title = format!("{title}{}", hidden_note(fitted.hidden));
    let flex_w = fitted.cols[0].1 as usize;
    let rows: Vec<Row> = v
        .plan
        .runs
        .iter()
        .zip(&v.runs)
        .zip(texts)
        .map(|((_, (st, _)), mut text)| {
            let style = match st {
                RunStatus::Finished => s.ok(),
                RunStatus::Running => s.accent(),
                RunStatus::Failed => s.error(),
                RunStatus::Interrupted(_) => s.warn(),
                RunStatus::Pending => s.dim(),
            };
            text[0] = crate::tui::text::clip(&text[0], flex_w);
            let cells: Vec<Cell> = text
                .into_iter()
                .enumerate()
                .map(|(i, t)| match i {
                    1 => Cell::from(t).style(style),
                    _ => Cell::from(t),
                })
                .collect();
            let mut fitted_row = fitted_rows(&fitted, vec![cells]);
            fitted_row.remove(0).style(s.text())
        })
        .collect();
    let t = fitted_table(&fitted, &head, rows, title, s).row_highlight_style(s.selected());
    let mut state = TableState::default().with_selected(Some(v.selected));
    frame.render_stateful_widget(t, area, &mut state);
}

/// The view's loop: input, a refresh every second, and the signals that end any TUI.
pub async fn run_loop(
    v: &mut SweepView,
    term: &mut super::terminal::Guard,
    theme: &Theme,
) -> Result<ViewAction> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term_sig = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        term.draw_with(|f| render(f, v, &Styles::new(theme)))?;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => match v.on_key(k) {
                    ViewAction::None => {}
                    other => return Ok(other),
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(ViewAction::Quit),
            },
            _ = tick.tick() => v.refresh()?,
            _ = term_sig.recv() => return Ok(ViewAction::Quit),
            _ = hup.recv() => return Ok(ViewAction::Quit),
            _ = int.recv() => return Ok(ViewAction::Quit),
        }
    }
}
