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
    frame.render_widget(Paragraph::new(header), head);
    render_cells(frame, table, v, s);
    render_overall(frame, overall, v, s);
    render_runs(frame, runs, v, s);
    frame.render_widget(
        Paragraph::new(" ←/→ sparsity  ↑/↓ run  Enter watch run  q quit").style(s.dim()),
        keys,
    );
}

fn render_cells(frame: &mut Frame, area: Rect, v: &SweepView, s: &Styles) {
    let sps = v.plan.sparsities();
    let sp = sps.get(v.sparsity_idx).copied().unwrap_or(0.0);
    let r = &v.report;
    let head = cell_header(r);
    let rows: Vec<Row> = r
        .cells
        .iter()
        .filter(|c| c.sparsity == sp)
        .map(|c| {
            let cells = cell_row(r, c);
            let n = cells.len();
            Row::new(cells.into_iter().enumerate().map(|(i, text)| {
                // The AUC mean is the figure the sweep is about.
                if i == n - 2 {
                    Cell::from(text).style(s.accent())
                } else {
                    Cell::from(text)
                }
            }))
            .style(s.text())
        })
        .collect();
    let mut widths = vec![Constraint::Min(12), Constraint::Length(4)];
    // Wide enough for each header: a clipped "DF-cut@0.05" would read as another budget.
    widths.extend(
        head[2..]
            .iter()
            .map(|h| Constraint::Length(h.chars().count().max(6) as u16 + 1)),
    );
    let title = format!(
        " sparsity {} ({}/{}) ",
        num(sp),
        v.sparsity_idx + 1,
        sps.len()
    );
    let t = Table::new(rows, widths)
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
    let rows: Vec<Row> = v
        .report
        .overall
        .iter()
        .map(|o| {
            Row::new(vec![
                o.method.clone(),
                o.sparsities.to_string(),
                f4(Some(o.accuracy)),
                f4(Some(o.robustness)),
                f4(o.instability),
            ])
            .style(s.text())
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Min(12),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(vec!["method", "sparsities", "A clean", "R AUC", "S spread"])
            .style(s.title(false)),
    )
    .block(
        Block::new()
            .borders(Borders::ALL)
            .border_style(s.border(false))
            .title(Span::styled(" overall (AER) ", s.title(false))),
    );
    frame.render_widget(t, area);
}

fn render_runs(frame: &mut Frame, area: Rect, v: &SweepView, s: &Styles) {
    let rows: Vec<Row> = v
        .plan
        .runs
        .iter()
        .zip(&v.runs)
        .enumerate()
        .map(|(i, (p, (st, row)))| {
            let style = match st {
                RunStatus::Finished => s.ok(),
                RunStatus::Running => s.accent(),
                RunStatus::Failed => s.error(),
                RunStatus::Interrupted(_) => s.warn(),
                RunStatus::Pending => s.dim(),
            };
            let progress = row
                .as_ref()
                .filter(|r| r.total_steps > 0)
                .map(|r| format!("{}/{}", r.step, r.total_steps))
                .unwrap_or_default();
            Row::new(vec![
                Cell::from(p.id.clone()),
                Cell::from(match v.slurm.as_ref().and_then(|l| l.get(i)) {
                    Some(label) => label.clone(),
                    None => st.label().to_string(),
                })
                .style(style),
                Cell::from(progress),
                Cell::from(f4(row.as_ref().and_then(|r| r.test_acc))),
                Cell::from(f4(row.as_ref().and_then(|r| r.auc))),
            ])
            .style(s.text())
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Min(20),
            Constraint::Length(if v.slurm.is_some() { 28 } else { 11 }),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(vec!["run", "state", "step", "acc", "auc"]).style(s.title(false)))
    .row_highlight_style(s.selected())
    .block(
        Block::new()
            .borders(Borders::ALL)
            .border_style(s.border(false))
            .title(Span::styled(" runs ", s.title(false))),
    );
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
