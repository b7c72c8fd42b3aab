//! Run management without a terminal: watching (read-only keys, a writer that goes away, a
//! log replayed from scratch), the run list (watch, resume, compare), comparing with another
//! run, exporting the focused pane and quitting to the background. Each key's effect on the
//! state and the requests it leaves for the runtime.
mod support;

use bapw::events::{EndState, Event, Finished, Step};
use std::path::PathBuf;

use bapw::run::list::RunRow;
use bapw::train::Command;
use bapw::tui::keymap::Action;
use bapw::tui::keymap::Pane;
use bapw::tui::model::{Level, RunModel, RunState, SeriesId};
use bapw::tui::popups::confirm::{Answer, ConfirmKind};
use bapw::tui::popups::Popup;
use bapw::tui::{App, Request};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use support::*;

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn ch(app: &mut App, c: char) {
    key(app, KeyCode::Char(c));
}

/// The screen with the legends' no-break spaces as plain ones.
fn text(app: &App) -> String {
    screen(app, 120, 40).replace('\u{a0}', " ")
}

fn last_log(app: &App) -> String {
    app.run
        .log
        .latest()
        .map(|e| e.text.clone())
        .unwrap_or_default()
}

/// This window's own run, 20 steps in.
fn running() -> App {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.handle(Action::Start);
    assert_eq!(app.take_requests(), [Request::StartRun]);
    for e in smoke_until(20) {
        app.apply(&e);
    }
    app
}

/// A window watching a run another process is writing, 20 steps in.
fn watching() -> App {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.watching = true;
    for e in smoke_until(20) {
        app.apply(&e);
    }
    app
}

fn row(name: &str, state: &str, mode: &str) -> RunRow {
    RunRow {
        name: name.into(),
        state: state.into(),
        preset: "smoke".into(),
        mode: mode.into(),
        step: 48,
        total_steps: 96,
        sparsity: Some(0.8),
        test_acc: Some(0.93),
        auc: Some(0.41),
    }
}

/// The run list as the runtime fills it: a finished, a stopped, a running run, one that could
/// not be read, and this window's own run (`fixture-smoke`, the recorded run's name).
fn listed(app: &mut App) {
    ch(app, 'r');
    assert_eq!(app.take_requests(), [Request::ListRuns]);
    app.runs_listed(
        "/data/runs",
        vec![
            Ok(row("a-finished", "finished", "bap")),
            Ok(row("b-stopped", "stopped", "adversarial")),
            Ok(row("c-running", "running", "natural")),
            Err("reading /data/runs/d/events.jsonl: line 3: bad".into()),
            Ok(row("fixture-smoke", "running", "natural")),
        ],
    );
}

fn select(app: &mut App, index: usize) {
    app.handle(Action::Home);
    for _ in 0..index {
        app.handle(Action::Down);
    }
}

#[test]
fn watching_refuses_the_keys_that_steer_a_run() {
    let mut app = watching();
    let s = screen(&app, 120, 40);
    assert!(s.lines().next().unwrap().contains("watching"), "{s}");
    assert!(s.contains("read-only: watching"), "{s}");
    assert!(s.contains("q leave"), "{s}");
    for c in ['s', 'p', 'x', 'e', 'o'] {
        ch(&mut app, c);
        assert!(app.take_requests().is_empty(), "{c} sent nothing");
        assert!(app.ui.popup.is_none(), "{c} opened nothing");
        let note = app.run.log.latest().unwrap();
        assert_eq!(note.level, Level::Warn);
        assert!(
            note.text.contains("watching fixture-smoke")
                && note.text.contains("the bapw process that runs it"),
            "{c}: {}",
            note.text
        );
    }
    app.handle(Action::Focus(Pane::Schedule));
    key(&mut app, KeyCode::Enter);
    assert!(app.ui.schedule.edit.is_none(), "no field opens for editing");
    assert!(last_log(&app).contains("editing settings"));
    // The view is still the viewer's: focus, zoom, series.
    ch(&mut app, '2');
    ch(&mut app, 'm');
    assert!(app.ui.loss.smooth);
    ch(&mut app, 'q');
    assert_eq!(
        app.take_requests(),
        [Request::Quit],
        "q leaves without asking"
    );
    let mut app = watching();
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app.take_requests(), [Request::Quit]);
}

#[test]
fn an_ended_watched_run_points_to_the_run_list() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.watching = true;
    for e in smoke_events() {
        app.apply(&e);
    }
    assert_eq!(app.run.state, RunState::Finished);
    ch(&mut app, 'p');
    assert!(app.take_requests().is_empty());
    let note = last_log(&app);
    assert!(
        note.contains("(finished)") && note.contains("r lists the runs"),
        "{note}"
    );
}

#[test]
fn a_watched_run_whose_writer_is_gone_is_interrupted_until_it_moves_again() {
    let mut app = watching();
    app.writer_gone();
    assert_eq!(app.run.state, RunState::Interrupted);
    assert!(!app.run.state.is_active());
    assert!(last_log(&app).contains("was interrupted"));
    assert!(screen(&app, 120, 40).contains("● interrupted"));
    // Another process resumed it and appends again.
    let next = smoke_events()
        .into_iter()
        .find(|e| matches!(e, Event::Step(Step { step: 21, .. })))
        .unwrap();
    app.apply(&next);
    assert_eq!(app.run.state, RunState::Running);
    // This window's own run is never "interrupted" by that check.
    let mut own = running();
    own.writer_gone();
    assert_eq!(own.run.state, RunState::Running);
}

#[test]
fn opening_another_run_drops_the_old_one_and_keeps_the_view() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(60));
    app.handle(Action::Focus(Pane::Robustness));
    app.handle(Action::Zoom);
    app.open_run(smoke_preset(), "smoke", true);
    assert!(app.run.started.is_none());
    assert_eq!(app.run.state, RunState::Idle);
    assert!(app.run.metrics.get(SeriesId::CleanLoss).is_empty());
    assert!(app.run.evals.latest.is_none() && app.run.budget.latest.is_none());
    assert_eq!(app.run.preset.train.mode.as_str(), "natural");
    assert!(app.watching);
    assert_eq!(app.ui.focus, Pane::Robustness);
    assert!(app.ui.zoom);
    // Replayed into it, the run looks as it does in a fresh window.
    let mut fresh = app_with(smoke_preset(), "smoke", &[]);
    fresh.watching = true;
    fresh.handle(Action::Focus(Pane::Loss));
    app.handle(Action::Focus(Pane::Loss));
    app.handle(Action::Zoom);
    for e in smoke_events() {
        app.apply(&e);
        fresh.apply(&e);
    }
    assert_eq!(screen(&app, 120, 40), screen(&fresh, 120, 40));
}

#[test]
fn the_run_list_watches_ended_and_running_runs() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    listed(&mut app);
    let Some(Popup::Runs(list)) = &app.ui.popup else {
        panic!("the run list is open");
    };
    assert_eq!(list.selected, 4, "the newest (last) run is selected first");
    assert_eq!(list.dir, "/data/runs");
    let s = screen(&app, 120, 40);
    for name in ["a-finished", "b-stopped", "c-running", "line 3: bad"] {
        assert!(s.contains(name), "{name}:\n{s}");
    }
    select(&mut app, 0);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.take_requests(), [Request::Watch("a-finished".into())]);
    assert!(app.ui.popup.is_none());
    listed(&mut app);
    select(&mut app, 2);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.take_requests(), [Request::Watch("c-running".into())]);
    // A row that could not be read does nothing.
    listed(&mut app);
    select(&mut app, 3);
    key(&mut app, KeyCode::Enter);
    assert!(app.take_requests().is_empty());
    assert!(matches!(app.ui.popup, Some(Popup::Runs(_))));
    key(&mut app, KeyCode::Esc);
    assert!(app.ui.popup.is_none());
}

#[test]
fn a_stopped_run_is_resumed_after_asking() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    listed(&mut app);
    select(&mut app, 1);
    key(&mut app, KeyCode::Enter);
    match &app.ui.popup {
        Some(Popup::Confirm(c)) => {
            assert_eq!(
                c.kind,
                ConfirmKind::Resume {
                    name: "b-stopped".into(),
                    state: "stopped".into(),
                    step: 48,
                    total: 96
                }
            );
            assert_eq!(c.selected_answer(), Answer::Cancel, "a stray Enter cancels");
        }
        other => panic!("expected the question, got {other:?}"),
    }
    assert!(screen(&app, 120, 40).contains("b-stopped is stopped at step 48/96"));
    key(&mut app, KeyCode::Enter);
    assert!(app.take_requests().is_empty());
    listed(&mut app);
    select(&mut app, 1);
    key(&mut app, KeyCode::Enter);
    ch(&mut app, 'y');
    assert_eq!(app.take_requests(), [Request::Resume("b-stopped".into())]);
}

#[test]
fn a_run_in_progress_here_keeps_the_window() {
    let mut app = running();
    listed(&mut app);
    for i in [0, 1, 4] {
        listed(&mut app);
        select(&mut app, i);
        key(&mut app, KeyCode::Enter);
        assert!(app.take_requests().is_empty(), "row {i}");
        assert!(app.ui.popup.is_none());
    }
    assert!(last_log(&app).contains("the run on screen"));
    listed(&mut app);
    select(&mut app, 0);
    key(&mut app, KeyCode::Enter);
    assert!(last_log(&app).contains("stop it (x) before watching or resuming"));
    // Comparing is fine during a run, except with itself.
    listed(&mut app);
    select(&mut app, 0);
    ch(&mut app, 'c');
    assert_eq!(app.take_requests(), [Request::Compare("a-finished".into())]);
    listed(&mut app);
    select(&mut app, 4);
    ch(&mut app, 'c');
    assert!(app.take_requests().is_empty());
    assert!(last_log(&app).contains("pick another"));
}

#[test]
fn the_run_list_refreshes_and_keeps_its_place() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    listed(&mut app);
    select(&mut app, 1);
    ch(&mut app, 'r');
    assert_eq!(app.take_requests(), [Request::ListRuns]);
    assert!(screen(&app, 120, 40).contains("reading the runs folder"));
    app.runs_listed(
        "/data/runs",
        vec![
            Ok(row("a-finished", "finished", "bap")),
            Ok(row("b-stopped", "stopped", "adversarial")),
        ],
    );
    let Some(Popup::Runs(list)) = &app.ui.popup else {
        panic!("the run list is open");
    };
    assert_eq!(list.selected, 1);
    // A listing that arrives after the list was closed is dropped.
    key(&mut app, KeyCode::Esc);
    app.runs_listed("/data/runs", vec![]);
    assert!(app.ui.popup.is_none());
}

fn compared() -> RunModel {
    RunModel::replay(
        adversarial_preset(),
        "smoke-adv-fixture",
        &adversarial_events(96),
    )
}

#[test]
fn comparing_draws_the_other_run_beside_this_one() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(96));
    let plain = text(&app);
    app.compare_loaded(Ok(compared()));
    let c = app.compare.as_ref().unwrap();
    assert_eq!((c.mode(), c.state), ("adversarial", RunState::Finished));
    assert_eq!(c.progress.steps_done, 96);
    assert!(last_log(&app).contains("comparing with smoke-adv-fixture (adversarial"));
    let s = text(&app);
    assert_ne!(s, plain);
    assert!(s.contains("vs smoke-adv-fixture (adversarial)"), "{s}");
    assert!(s.contains("vs smoke-adv-fixture step 96"), "{s}");
    let header = s.lines().find(|l| l.contains("ε L∞")).unwrap();
    assert!(header.contains("FGSM") && header.contains("vs"), "{header}");
    // Zoomed, there is room for the Δs against the other run too.
    app.handle(Action::Focus(Pane::Robustness));
    app.handle(Action::Zoom);
    let zoomed = text(&app);
    let header = zoomed.lines().find(|l| l.contains("ε L∞")).unwrap();
    assert!(header.contains("vs") && header.contains("Δ"), "{header}");
    // c again unpins.
    ch(&mut app, 'c');
    assert!(app.compare.is_none());
    assert!(app.take_requests().is_empty());
    assert!(last_log(&app).contains("no longer comparing"));
    app.handle(Action::Zoom);
    assert_eq!(screen(&app, 120, 40).lines().count(), 40);
    // Without one pinned, c opens the run list to pick one.
    ch(&mut app, 'c');
    assert_eq!(app.take_requests(), [Request::ListRuns]);
    assert!(matches!(app.ui.popup, Some(Popup::Runs(_))));
    app.compare_loaded(Err("no run \"x\"".into()));
    assert_eq!(app.run.log.latest().unwrap().level, Level::Error);
}

#[test]
fn export_asks_for_the_focused_pane_of_the_run_on_screen() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    ch(&mut app, 'E');
    assert!(app.take_requests().is_empty());
    assert!(last_log(&app).contains("nothing to export"));
    let mut app = running();
    // (A natural run has no budgets: its Budget pane says there is nothing to export, see
    // tui_daily_use.)
    ch(&mut app, '2');
    ch(&mut app, 'E');
    let dir = PathBuf::from(app.run.started.as_ref().unwrap().run_dir.clone());
    assert_eq!(
        app.take_requests(),
        [Request::Export {
            pane: Pane::Loss,
            run_dir: dir.clone()
        }]
    );
    app.exported(
        Pane::Loss,
        Ok(vec![
            dir.join("export/loss.csv"),
            dir.join("export/loss.svg"),
        ]),
    );
    assert_eq!(
        last_log(&app),
        format!(
            "exported Loss & sparsity to {}/: loss.csv loss.svg",
            dir.join("export").display()
        )
    );
    // A watching window exports too: it only reads the run.
    let mut app = watching();
    ch(&mut app, 'E');
    assert!(matches!(
        app.take_requests().as_slice(),
        [Request::Export {
            pane: Pane::Schedule,
            ..
        }]
    ));
}

#[test]
fn export_writes_each_panes_tables_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for e in bap_events(96) {
        text.push_str(&serde_json::to_string(&e).unwrap());
        text.push('\n');
    }
    std::fs::write(dir.path().join("events.jsonl"), text).unwrap();
    let names = |pane| -> Vec<String> {
        bapw::tui::file_jobs::export_pane(pane, dir.path())
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p.starts_with(dir.path().join("export")), "{p:?}");
                assert!(std::fs::metadata(p).unwrap().len() > 0, "{p:?} is empty");
                p.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect()
    };
    assert_eq!(names(Pane::Schedule), ["steps.csv", "loss_sparsity.svg"]);
    assert_eq!(
        names(Pane::Loss),
        ["steps.csv", "epochs.csv", "loss_sparsity.svg"]
    );
    assert_eq!(names(Pane::Budget), ["budget.csv", "budget_histogram.svg"]);
    assert_eq!(
        names(Pane::Robustness),
        [
            "robustness.csv",
            "robustness_fgsm.svg",
            "robustness_pgd.svg",
            "robustness_apgd.svg",
            "robustness_deepfool.svg"
        ]
    );
    let csv = std::fs::read_to_string(dir.path().join("export/budget.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 24,
        "a header and one row per budget event"
    );
}

#[test]
fn quitting_a_run_offers_the_background() {
    let mut app = running();
    ch(&mut app, 'q');
    let s = screen(&app, 120, 40);
    for text in [
        "[b] Keep running in the background",
        "[y] Stop the run and quit",
        "[n] Cancel",
    ] {
        assert!(s.contains(text), "{text}:\n{s}");
    }
    ch(&mut app, 'b');
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    assert!(app.background_after_stop && app.stop_requested);
    assert!(screen(&app, 120, 40).contains("● stopping…"));
    app.apply(&Event::Finished(Finished {
        step: 21,
        state: EndState::Stopped,
        sparsity: 0.8,
        test_acc: 0.9,
        seconds: 1.0,
    }));
    assert_eq!(app.take_requests(), [Request::Background]);
    assert!(!app.background_after_stop);
}

#[test]
fn the_background_choice_by_arrows_and_enter() {
    let mut app = running();
    ch(&mut app, 'q');
    // Cancel first; the choices wrap around.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    assert!(app.background_after_stop);
    let mut app = running();
    ch(&mut app, 'q');
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    assert!(
        !app.background_after_stop,
        "the middle choice stops and quits"
    );
    assert!(app.quit_after_stop);
}

#[test]
fn a_run_that_ends_before_the_hand_over_just_quits() {
    let mut app = running();
    ch(&mut app, 'q');
    ch(&mut app, 'b');
    app.take_requests();
    app.apply(&Event::Finished(Finished {
        step: 48,
        state: EndState::Finished,
        sparsity: 0.8,
        test_acc: 0.9,
        seconds: 1.0,
    }));
    assert_eq!(app.take_requests(), [Request::Quit]);
    assert!(app
        .run
        .log
        .entries()
        .any(|e| e.text.contains("ended before it could be handed over")));
}

#[test]
fn bapw_resume_on_a_terminal_starts_at_once() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.resume_here();
    assert_eq!(app.run.state, RunState::Starting);
    assert_eq!(app.take_requests(), [Request::StartRun]);
}

#[test]
fn the_new_keys_are_in_the_help() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    ch(&mut app, '?');
    let s = screen(&app, 120, 40);
    for line in [
        "runs: Enter watches or resumes, c compares",
        "compare with another run / unpin it",
        "export the focused pane (CSV + SVG)",
    ] {
        assert!(s.contains(line), "{line}:\n{s}");
    }
}

#[test]
fn a_watched_run_that_stopped_is_resumed_from_the_list() {
    let mut app = watching();
    app.writer_gone();
    ch(&mut app, 'r');
    app.take_requests();
    app.runs_listed(
        "/data/runs",
        vec![Ok(row("fixture-smoke", "interrupted", "natural"))],
    );
    key(&mut app, KeyCode::Enter);
    assert!(matches!(
        &app.ui.popup,
        Some(Popup::Confirm(c)) if matches!(&c.kind, ConfirmKind::Resume { name, .. } if name == "fixture-smoke")
    ));
    ch(&mut app, 'y');
    assert_eq!(
        app.take_requests(),
        [Request::Resume("fixture-smoke".into())]
    );
    // A watched run that is still going is just the run on screen.
    let mut app = watching();
    listed(&mut app);
    select(&mut app, 4);
    key(&mut app, KeyCode::Enter);
    assert!(app.take_requests().is_empty());
    assert!(last_log(&app).contains("is the run on screen"));
}
