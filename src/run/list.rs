//! Run folders as a user sees them: `bapw runs`, the workbench's run list and the sweep's run
//! states read one row per run from its log.
use std::path::Path;

use anyhow::Result;

use super::RunDir;
use crate::events::Event;

/// One row of `bapw runs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    pub name: String,
    /// running, finished, stopped, failed or interrupted (killed without a final event).
    pub state: String,
    pub preset: String,
    pub mode: String,
    pub step: usize,
    pub total_steps: usize,
    pub sparsity: Option<f64>,
    pub test_acc: Option<f64>,
    /// Mean AUC over the attacks of the last evaluation.
    pub auc: Option<f64>,
}

pub fn summarize(dir: &RunDir) -> Result<RunRow> {
    Ok(summarize_events(dir, &dir.read_events()?))
}

/// The row of the run in `dir` whose log holds `events` (for callers that read it anyway).
pub fn summarize_events(dir: &RunDir, events: &[Event]) -> RunRow {
    let mut row = RunRow {
        name: dir.name(),
        state: "interrupted".into(),
        preset: String::new(),
        mode: String::new(),
        step: 0,
        total_steps: 0,
        sparsity: None,
        test_acc: None,
        auc: None,
    };
    for ev in events {
        match ev {
            Event::RunStarted(r) => {
                row.preset = r.preset.clone();
                row.mode = r.mode.clone();
                row.total_steps = r.total_steps;
            }
            Event::Step(s) => {
                row.step = s.step + 1;
                row.sparsity = Some(s.sparsity);
            }
            Event::EpochEnd(e) => row.test_acc = Some(e.test_acc),
            Event::Eval(e) if !e.curves.is_empty() => row.auc = Some(e.mean_auc()),
            Event::Finished(f) => {
                row.state = f.state.as_str().into();
                if f.sparsity.is_finite() {
                    row.sparsity = Some(f.sparsity);
                }
                if f.test_acc.is_finite() {
                    row.test_acc = Some(f.test_acc);
                }
            }
            _ => {}
        }
    }
    if dir.is_running() {
        row.state = "running".into();
    }
    row
}

/// Every run folder under `runs_dir`, by name.
pub fn list(runs_dir: &Path) -> Vec<Result<RunRow>> {
    RunDir::list(runs_dir).iter().map(summarize).collect()
}

/// The columns of `bapw runs`, in display order, with the order they give way in when the
/// terminal is narrow (higher goes later; the run, its state and its step always stay).
const COLUMNS: [(&str, Align, u8); 8] = [
    ("RUN", Align::Left, 9),
    ("STATE", Align::Left, 9),
    ("PRESET", Align::Left, 1),
    ("MODE", Align::Left, 2),
    ("STEP", Align::Right, 9),
    ("SPARSITY", Align::Right, 4),
    ("TEST_ACC", Align::Right, 5),
    ("AUC", Align::Right, 3),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

fn cells(r: &RunRow) -> [String; 8] {
    let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
    [
        r.name.clone(),
        r.state.clone(),
        r.preset.clone(),
        r.mode.clone(),
        format!("{}/{}", r.step, r.total_steps),
        f(r.sparsity),
        f(r.test_acc),
        f(r.auc),
    ]
}

/// `bapw runs` as a table. Columns are as wide as their widest cell. Within `width` (the
/// terminal's, or none with `--wide` or into a pipe) the least important columns give way
/// first, then run names lose their middle (`mnist-bap-q…-101617`); a last line says what
/// was left out.
pub fn table(rows: &[RunRow], width: Option<usize>) -> String {
    let cells: Vec<[String; 8]> = rows.iter().map(cells).collect();
    let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.0.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut shown: Vec<bool> = vec![true; COLUMNS.len()];
    let total = |shown: &[bool], widths: &[usize]| -> usize {
        let cols: Vec<usize> = (0..COLUMNS.len())
            .filter(|i| shown[*i])
            .map(|i| widths[i])
            .collect();
        cols.iter().sum::<usize>() + cols.len().saturating_sub(1)
    };
    let mut dropped = Vec::new();
    if let Some(limit) = width {
        let mut by_priority: Vec<usize> = (0..COLUMNS.len()).collect();
        by_priority.sort_by_key(|i| COLUMNS[*i].2);
        for i in by_priority {
            if total(&shown, &widths) <= limit || COLUMNS[i].2 >= 9 {
                break;
            }
            shown[i] = false;
            dropped.push(COLUMNS[i].0);
        }
        let over = total(&shown, &widths).saturating_sub(limit);
        // The run's name keeps at least its first and last few characters.
        widths[0] = widths[0].saturating_sub(over).max(12);
    }
    let mut out = String::new();
    let mut line = |texts: Vec<String>| {
        let mut parts = Vec::new();
        for (i, t) in texts.into_iter().enumerate().filter(|(i, _)| shown[*i]) {
            let t = shorten_middle(&t, widths[i]);
            parts.push(match COLUMNS[i].1 {
                Align::Left => format!("{t:<w$}", w = widths[i]),
                Align::Right => format!("{t:>w$}", w = widths[i]),
            });
        }
        out.push_str(parts.join(" ").trim_end());
        out.push('\n');
    };
    line(COLUMNS.iter().map(|c| c.0.to_string()).collect());
    for row in cells {
        line(row.to_vec());
    }
    if let (false, Some(w)) = (dropped.is_empty(), width) {
        let note = format!(
            "({} left out to fit {w} columns: --wide shows every column)",
            dropped.join(", ")
        );
        for l in textwrap::wrap(&note, w) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// `text` in at most `width` characters, its middle replaced by `…` when it is longer.
fn shorten_middle(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    let keep = width.saturating_sub(1);
    let (head, tail) = (keep - keep / 2, keep / 2);
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, preset: &str) -> RunRow {
        RunRow {
            name: name.into(),
            state: "finished".into(),
            preset: preset.into(),
            mode: "bap".into(),
            step: 936,
            total_steps: 936,
            sparsity: Some(0.9),
            test_acc: Some(0.98125),
            auc: None,
        }
    }

    #[test]
    fn wide_tables_keep_every_column_and_cells_fit_their_column() {
        let rows = [row(
            "mnist-bap-quick-20261203-101617",
            "mnist-bap-quick (edited)",
        )];
        let t = table(&rows, None);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "RUN                             STATE    PRESET                   MODE    STEP SPARSITY TEST_ACC AUC"
        );
        assert_eq!(
            lines[1],
            "mnist-bap-quick-20261203-101617 finished mnist-bap-quick (edited) bap  936/936   0.9000   0.9812   -"
        );
    }

    #[test]
    fn narrow_terminals_drop_the_least_important_columns_then_shorten_names() {
        let rows = [row(
            "mnist-bap-quick-20261203-101617",
            "mnist-bap-quick (edited)",
        )];
        let t = table(&rows, Some(80));
        assert!(t.lines().all(|l| l.chars().count() <= 80), "{t}");
        let header = t.lines().next().unwrap();
        assert!(!header.contains("PRESET") && header.contains("MODE"), "{t}");
        assert!(t.ends_with("(PRESET left out to fit 80 columns: --wide shows every column)\n"));
        let t = table(&rows, Some(40));
        assert!(t.lines().all(|l| l.chars().count() <= 40), "{t}");
        assert!(
            t.contains("mnist-bap-q…1203-101617 finished 936/936"),
            "{t}"
        );
        // Numbers are never cut: their columns go whole.
        assert!(!t.contains("0.98"), "{t}");
    }
}
