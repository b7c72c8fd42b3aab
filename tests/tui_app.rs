//! The TUI's state transitions without a terminal: key → action → state, the commands the
//! app asks the runtime to send, and events folded back in.
mod support;

use bapw::config::store::Store;
use bapw::config::theme::Slot;
use bapw::events::{
    Alert, EndState, ErrorReport, Event, Finished, ParamChanged, Paused, Resumed, Step,
};
use bapw::train::Command;
use bapw::tui::keymap::Pane;
use bapw::tui::keymap::{Action, Mode};
use bapw::tui::model::{Level, RunState, SeriesId};
use bapw::tui::popups::confirm::ConfirmKind;
use bapw::tui::popups::problems::Problems;
use bapw::tui::popups::save_as::SaveAs;
use bapw::tui::popups::Popup;
use bapw::tui::{App, Request};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use support::*;

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn idle() -> App {
    app_with(smoke_preset(), "smoke", &[])
}

fn running() -> App {
    let mut app = idle();
    app.handle(Action::Start);
    assert_eq!(app.take_requests(), [Request::StartRun]);
    for e in smoke_until(20) {
        app.apply(&e);
    }
    app
}

/// Cursor onto the field with `key`.
fn select(app: &mut App, key_name: &str) {
    app.handle(Action::Focus(Pane::Schedule));
    app.handle(Action::PageUp);
    let i = app.fields().iter().position(|f| f.key == key_name).unwrap();
    for _ in 0..i {
        app.handle(Action::Down);
    }
}

fn last_log(app: &App) -> String {
    app.run
        .log
        .latest()
        .map(|e| e.text.clone())
        .unwrap_or_default()
}

#[test]
fn focus_cycles_and_jumps_and_zooms() {
    let mut app = idle();
    assert_eq!(app.ui.focus, Pane::Schedule);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.ui.focus, Pane::Loss);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.ui.focus, Pane::Robustness);
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.ui.focus, Pane::Budget);
    key(&mut app, KeyCode::Char('z'));
    assert!(app.ui.zoom);
    key(&mut app, KeyCode::Esc);
    assert!(!app.ui.zoom);
}

#[test]
fn refused_edit_stays_open_with_the_reason() {
    let mut app = idle();
    select(&mut app, "prune.final_sparsity");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.input_mode(), Mode::Editing);
    app.handle(Action::ClearInput);
    typed(&mut app, "1.5");
    // The reason shows while typing, before Enter.
    let reason = app
        .ui
        .schedule
        .edit
        .as_ref()
        .unwrap()
        .verdict
        .clone()
        .unwrap_err();
    assert!(reason.contains("outside [0, 1)"), "{reason}");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.ui.schedule.edit.is_some(),
        "a refused value is not applied"
    );
    assert_eq!(app.run.preset.prune.final_sparsity, 0.8);
    let screen = screen(&app, 120, 40);
    assert!(screen.contains("✗ 1.5 is outside [0, 1)"), "{screen}");
    key(&mut app, KeyCode::Esc);
    assert!(app.ui.schedule.edit.is_none());
    assert_eq!(app.run.preset.prune.final_sparsity, 0.8);
    assert!(app.take_requests().is_empty());
}

#[test]
fn letters_typed_into_a_field_are_text_not_commands() {
    let mut app = idle();
    select(&mut app, "train.lr");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "1e-4");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.run.preset.train.lr, 1e-4);
    assert!(app.take_requests().is_empty(), "`e` did not evaluate");
}

#[test]
fn before_a_run_edits_go_into_the_preset_and_the_schedule() {
    let mut app = idle();
    let before = app.run.schedule;
    select(&mut app, "prune.final_sparsity");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "0.5");
    // The chart's preview follows the typing.
    let preview = app
        .ui
        .schedule
        .edit
        .as_ref()
        .unwrap()
        .verdict
        .clone()
        .unwrap();
    assert_eq!(preview.final_sparsity, 0.5);
    assert_eq!(app.run.schedule, before, "not applied before Enter");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.run.preset.prune.final_sparsity, 0.5);
    assert_eq!(app.run.schedule.final_sparsity, 0.5);
    assert!(app.run.preset_edited);
    assert!(app.take_requests().is_empty(), "no engine involved");
}

#[test]
fn choices_cycle_and_change_the_fields_shown() {
    let mut app = idle();
    select(&mut app, "train.mode");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.run.preset.train.mode.as_str(), "bap");
    let keys: Vec<&str> = app.fields().iter().map(|f| f.key).collect();
    assert!(keys.contains(&"adv.delta") && keys.contains(&"adv.candidates"));
}

#[test]
fn during_a_run_an_accepted_edit_is_sent_and_applied_on_param_changed() {
    let mut app = running();
    assert_eq!(app.run.state, RunState::Running);
    select(&mut app, "prune.final_sparsity");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "0.5");
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.take_requests(),
        [Request::Engine(Command::Set {
            key: "prune.final_sparsity".into(),
            value: "0.5".into()
        })]
    );
    // Shown as pending; the preset changes only when the engine says so.
    assert_eq!(app.run.preset.prune.final_sparsity, 0.8);
    assert!(screen(&app, 120, 40).contains("0.5…"));
    app.apply(&Event::ParamChanged(ParamChanged {
        step: 21,
        key: "prune.final_sparsity".into(),
        old: "0.8".into(),
        new: "0.5".into(),
    }));
    assert_eq!(app.run.preset.prune.final_sparsity, 0.5);
    assert_eq!(app.run.schedule.final_sparsity, 0.5);
    assert_eq!(
        app.run.schedule.end_step, 32,
        "recomputed with the run's steps per epoch"
    );
    assert!(app.run.pending_sets.is_empty());
    assert_eq!(last_log(&app), "prune.final_sparsity 0.8 → 0.5");
}

#[test]
fn a_refused_live_change_clears_pending_and_shows_the_error() {
    let mut app = running();
    select(&mut app, "prune.power");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "2");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.run.pending_sets.len(), 1);
    app.apply(&Event::Error(ErrorReport {
        step: 21,
        message: "refused: prune.power: something".into(),
    }));
    assert!(app.run.pending_sets.is_empty());
    assert_eq!(app.run.preset.prune.power, 3.0);
    assert_eq!(app.run.log.latest().unwrap().level, Level::Error);
}

#[test]
fn scope_cannot_change_during_a_run() {
    let mut app = running();
    select(&mut app, "prune.scope");
    key(&mut app, KeyCode::Enter);
    assert!(app.ui.schedule.edit.is_none());
    let (k, why) = app.ui.schedule.note.clone().unwrap();
    assert_eq!(k, "prune.scope");
    assert!(why.contains("fixed once the run has started"), "{why}");
}

#[test]
fn pause_resume_eval_follow_the_run_state() {
    let mut app = idle();
    key(&mut app, KeyCode::Char('p'));
    key(&mut app, KeyCode::Char('e'));
    assert!(
        app.take_requests().is_empty(),
        "nothing to pause or evaluate"
    );
    let mut app = running();
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.take_requests(), [Request::Engine(Command::Pause)]);
    assert_eq!(
        app.run.state,
        RunState::Running,
        "paused only when the engine says so"
    );
    app.apply(&Event::Paused(Paused { step: 20 }));
    assert_eq!(app.run.state, RunState::Paused);
    assert!(screen(&app, 120, 40).contains("● paused"));
    key(&mut app, KeyCode::Char('e'));
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(
        app.take_requests(),
        [
            Request::Engine(Command::EvalNow),
            Request::Engine(Command::Resume)
        ]
    );
    app.apply(&Event::Resumed(Resumed { step: 20 }));
    assert_eq!(app.run.state, RunState::Running);
}

/// What the engine sends when the diverging rule fires in the workbench: the alert, then the
/// pause it causes (`train::engine::faults`), at the next step.
fn diverging_alert(app: &mut App) {
    app.apply(&Event::Alert(Alert {
        step: 19,
        rule: "diverging".into(),
        message: "loss diverging: 10 steps in a row above 4 x its moving average 0.3127 \
                  (now 9.8812 at step 19)"
            .into(),
    }));
    app.apply(&Event::Paused(Paused { step: 20 }));
}

#[test]
fn an_alert_pauses_with_the_rule_and_its_numbers_on_the_message_line() {
    let mut app = running();
    diverging_alert(&mut app);
    assert_eq!(app.run.state, RunState::Paused);
    let screen80 = screen(&app, 80, 24);
    assert!(screen80.contains("● paused"), "{screen80}");
    // The banner under the progress bar has it all, wrapped at 80 columns.
    let rows: Vec<&str> = screen80.lines().collect();
    assert_eq!(
        rows[2..5],
        [
            " ⚠ alert (diverging): loss diverging: 10 steps in a row above 4 x its moving    ",
            " average 0.3127 (now 9.8812 at step 19) — paused: change a setting, p resumes,  ",
            " x stops                                                                        ",
        ],
        "{screen80}"
    );
    // The message line (the last row) starts with the rule.
    let last = rows.last().unwrap();
    assert!(last.contains("alert (diverging): lo"), "{last}");
    assert!(last.contains("p resume"), "{last}");
    // One log entry says it all: which rule, the numbers, and that the run waits.
    let e = app.run.log.latest().unwrap();
    assert_eq!((e.step, e.level), (Some(19), Level::Error));
    assert_eq!(
        e.text,
        "alert (diverging): loss diverging: 10 steps in a row above 4 x its moving average \
         0.3127 (now 9.8812 at step 19); the run is paused"
    );
    assert!(!app.run.log.entries().any(|e| e.text == "paused"));
    // The whole line in the message log.
    key(&mut app, KeyCode::Char('!'));
    let log = screen(&app, 120, 40);
    assert!(log.contains("now 9.8812 at step 19"), "{log}");
    // Resumed, the alert is over: a later pause of the user's is a plain one.
    key(&mut app, KeyCode::Esc);
    app.apply(&Event::Resumed(Resumed { step: 20 }));
    assert!(app.run.alert.is_none());
    assert!(!screen(&app, 80, 24).contains("⚠ alert"));
    app.apply(&Event::Paused(Paused { step: 21 }));
    assert_eq!(app.run.log.latest().unwrap().text, "paused");
}

/// Watched from another window, the banner says who can resume the run; a headless run that
/// an alert stopped keeps its banner with what to do next.
#[test]
fn the_alert_banner_in_a_watching_window_and_after_a_headless_stop() {
    let mut app = running();
    app.watching = true;
    diverging_alert(&mut app);
    // The banner's lines joined, as a reader takes them in.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = words(&screen(&app, 120, 40));
    assert!(
        s.contains("(now 9.8812 at step 19) — paused until its own window resumes it"),
        "{s}"
    );
    assert!(!s.contains("p resumes"), "{s}");

    let mut app = running();
    app.apply(&Event::Alert(Alert {
        step: 19,
        rule: "collapse".into(),
        message: "accuracy collapse: training accuracy fell from 0.910 to 0.250".into(),
    }));
    app.apply(&Event::Finished(Finished {
        step: 20,
        state: EndState::Stopped,
        sparsity: 0.5,
        test_acc: 0.25,
        seconds: 3.0,
    }));
    let s = words(&screen(&app, 120, 40));
    assert!(
        s.contains(
            "⚠ alert (collapse): accuracy collapse: training accuracy fell from 0.910 to 0.250 — \
             the run stopped with a checkpoint (bapw resume continues it)"
        ),
        "{s}"
    );
}

#[test]
fn a_stall_alert_whose_pause_comes_later_repeats_the_numbers() {
    let mut app = running();
    app.apply(&Event::Alert(Alert {
        step: 20,
        rule: "stall".into(),
        message: "stalled: step 20 has not finished after 3 s (alerts.stall_seconds 2)".into(),
    }));
    app.apply(&Event::Message(bapw::events::Message {
        step: 20,
        text: "checkpoint written".into(),
    }));
    app.apply(&Event::Paused(Paused { step: 21 }));
    let e = app.run.log.latest().unwrap();
    assert_eq!(e.level, Level::Warn);
    assert_eq!(
        e.text,
        "paused by alert (stall): stalled: step 20 has not finished after 3 s \
         (alerts.stall_seconds 2); the run is paused"
    );
}

#[test]
fn start_only_when_no_run_is_active() {
    let mut app = running();
    key(&mut app, KeyCode::Char('s'));
    assert!(app.take_requests().is_empty());
    assert!(last_log(&app).contains("already in progress"));
    for e in smoke_events()
        .into_iter()
        .skip_while(|e| !matches!(e, Event::Step(Step { step: 21, .. })))
    {
        app.apply(&e);
    }
    assert_eq!(app.run.state, RunState::Finished);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.take_requests(), [Request::StartRun]);
    assert_eq!(app.run.state, RunState::Starting);
    app.start_failed("no data");
    // The finished run did not fail: it stays finished, and the message says what did.
    assert_eq!(app.run.state, RunState::Finished);
    assert!(last_log(&app).contains("could not start the run: no data"));
}

#[test]
fn quit_when_idle_is_immediate() {
    let mut app = idle();
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.take_requests(), [Request::Quit]);
}

#[test]
fn quit_during_a_run_asks_then_stops_and_quits_when_finished() {
    let mut app = running();
    key(&mut app, KeyCode::Char('q'));
    assert!(matches!(
        &app.ui.popup,
        Some(Popup::Confirm(c)) if c.kind == ConfirmKind::Quit
    ));
    assert!(screen(&app, 120, 40).contains("Stop the run and quit"));
    key(&mut app, KeyCode::Enter);
    assert!(
        app.ui.popup.is_none(),
        "Enter on the default answer cancels"
    );
    assert!(app.take_requests().is_empty());
    key(&mut app, KeyCode::Char('q'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    assert!(screen(&app, 120, 40).contains("stopping"));
    app.apply(&Event::Finished(Finished {
        step: 21,
        state: EndState::Stopped,
        sparsity: 0.8,
        test_acc: 0.9,
        seconds: 1.0,
    }));
    assert_eq!(app.run.state, RunState::Stopped);
    assert_eq!(app.take_requests(), [Request::Quit]);
}

#[test]
fn ctrl_c_twice_stops_and_quits() {
    let mut app = running();
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    app.on_key(ctrl_c);
    assert!(app.ui.popup.is_some());
    app.on_key(ctrl_c);
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    app.on_key(ctrl_c);
    assert_eq!(
        app.take_requests(),
        [Request::Quit],
        "a third one does not wait"
    );
}

#[test]
fn stop_asks_first() {
    let mut app = running();
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('n'));
    assert!(app.take_requests().is_empty());
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.take_requests(), [Request::Engine(Command::Stop)]);
    assert!(app.stop_requested);
}

#[test]
fn pinning_compares_later_evaluations_with_the_pinned_one() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(17));
    assert_eq!(app.run.evals.count, 1);
    key(&mut app, KeyCode::Char('P'));
    let pinned = app.run.evals.pinned.as_ref().unwrap().step;
    for e in bap_events(60).into_iter().skip(bap_events(17).len()) {
        app.apply(&e);
    }
    assert_eq!(app.run.evals.count, 3);
    let (base, is_pinned) = app.run.evals.baseline().unwrap();
    assert!(is_pinned);
    assert_eq!(base.step, pinned);
    key(&mut app, KeyCode::Char('P'));
    let (base, is_pinned) = app.run.evals.baseline().unwrap();
    assert!(!is_pinned);
    assert_eq!(base.step, 32, "the previous evaluation again");
}

#[test]
fn loss_pane_keys_toggle_smoothing_log_and_series() {
    let mut app = running();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('m'));
    key(&mut app, KeyCode::Char('L'));
    assert!(app.ui.loss.smooth && app.ui.loss.log_scale);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Char(' '));
    assert!(app.ui.loss.hidden[1], "adv loss hidden");
    key(&mut app, KeyCode::Enter);
    assert!(!app.ui.loss.hidden[1]);
}

#[test]
fn picker_keeps_the_preset_when_the_chosen_one_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("presets")).unwrap();
    std::fs::write(
        dir.path().join("presets/broken.toml"),
        "schema_version = 1\ninherit = \"smoke\"\n[prune]\nfinal_sparsity = 1.5\n",
    )
    .unwrap();
    let mut app = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    key(&mut app, KeyCode::Char('o'));
    app.handle(Action::End);
    key(&mut app, KeyCode::Enter);
    match &app.ui.popup {
        Some(Popup::Problems(Problems { lines, .. })) => {
            assert!(lines[0].contains("prune.final_sparsity"), "{lines:?}");
            assert!(lines[0].contains("broken.toml:4"), "located: {lines:?}");
        }
        other => panic!("expected the problems, got {other:?}"),
    }
    assert_eq!(app.run.label, "smoke");
    assert_eq!(app.run.preset.prune.final_sparsity, 0.8);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('o'));
    app.handle(Action::Home);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.run.label, "mnist-quick");
    assert_eq!(app.run.preset.data.dataset, "mnist");
    assert_eq!(app.run.total_steps(), 3 * 469, "estimated from 60k images");
    let settings = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
    assert!(
        settings.contains("last_preset = \"mnist-quick\""),
        "{settings}"
    );
}

#[test]
fn picker_is_refused_during_a_run() {
    let mut app = running();
    key(&mut app, KeyCode::Char('o'));
    assert!(app.ui.popup.is_none());
    assert!(last_log(&app).contains("stop the run"));
}

#[test]
fn saving_refuses_shipped_names_and_asks_before_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    key(&mut app, KeyCode::Char('w'));
    typed(&mut app, "smoke");
    key(&mut app, KeyCode::Enter);
    match &app.ui.popup {
        Some(Popup::SaveAs(SaveAs { error: Some(e), .. })) => assert!(e.contains("shipped"), "{e}"),
        other => panic!("expected the name prompt with a reason, got {other:?}"),
    }
    app.handle(Action::ClearInput);
    typed(&mut app, "mine");
    key(&mut app, KeyCode::Enter);
    assert!(app.ui.popup.is_none());
    let path = dir.path().join("presets/mine.toml");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("name = \"mine\""));
    assert_eq!(app.run.label, "mine");
    // Again: the file exists, so it asks.
    key(&mut app, KeyCode::Char('w'));
    assert!(
        matches!(&app.ui.popup, Some(Popup::SaveAs(SaveAs { input, .. })) if input.text() == "mine")
    );
    key(&mut app, KeyCode::Enter);
    assert!(matches!(
        &app.ui.popup,
        Some(Popup::Confirm(c)) if c.kind == ConfirmKind::Overwrite { name: "mine".into() }
    ));
    key(&mut app, KeyCode::Char('y'));
    assert!(app.ui.popup.is_none());
    assert!(last_log(&app).contains("saved preset mine"));
}

#[test]
fn themes_cycle_and_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    assert_eq!(app.theme().name, "dark");
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.theme().name, "light");
    let again = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    assert_eq!(again.theme().name, "light", "read back from settings.toml");
    let chosen = App::new(
        smoke_preset(),
        "smoke",
        Store::at(dir.path()),
        Some("ansi16"),
    );
    assert_eq!(chosen.theme().name, "ansi16", "--theme wins");
    let later = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    assert_eq!(later.theme().name, "ansi16", "and is remembered");
    let unknown = App::new(smoke_preset(), "smoke", Store::at(dir.path()), Some("nope"));
    assert!(last_log(&unknown).contains("no theme named \"nope\""));
}

#[test]
fn no_color_draws_without_colours_and_keeps_meaning_in_modifiers() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(60));
    app.set_monochrome(true);
    let buf = buffer(&app, 120, 40);
    for cell in buf.content() {
        assert_eq!(
            cell.fg,
            ratatui::style::Color::Reset,
            "at {:?}",
            cell.symbol()
        );
        assert_eq!(cell.bg, ratatui::style::Color::Reset);
    }
    // The focused pane's title is reversed, so focus still shows.
    let title_row: String = (0..30).map(|x| buf[(x, 2)].symbol().to_string()).collect();
    assert!(title_row.contains("1 Schedule"));
    let t = (0..30).find(|x| buf[(*x, 2)].symbol() == "1").unwrap();
    assert!(buf[(t, 2)]
        .modifier
        .contains(ratatui::style::Modifier::REVERSED));
    key(&mut app, KeyCode::Char('t'));
    assert!(last_log(&app).contains("NO_COLOR"));
}

#[test]
fn robustness_cells_are_coloured_by_value() {
    let app = app_with(bap_preset(), "smoke-bap", &bap_events(60));
    let theme = app.theme();
    let buf = buffer(&app, 120, 40);
    let text = screen(&app, 120, 40);
    let find = |needle: &str| {
        let row = text.lines().position(|l| l.contains(needle)).unwrap();
        let col = text
            .lines()
            .nth(row)
            .unwrap()
            .chars()
            .take_while(|_| true)
            .collect::<Vec<_>>();
        let start = col
            .windows(needle.chars().count())
            .position(|w| w.iter().collect::<String>() == needle)
            .unwrap();
        buf[(start as u16, row as u16)].fg
    };
    assert_eq!(find("0.875"), theme.color(Slot::HeatHigh));
    assert_eq!(find("0.072"), theme.color(Slot::HeatLow));
}

#[test]
fn replaying_a_run_rebuilds_every_pane() {
    let events = smoke_events();
    let a = App::replay(smoke_preset(), "smoke", &events);
    let mut b = App::new(smoke_preset(), "smoke", Store::ephemeral(), None);
    for chunk in events.chunks(7) {
        for e in chunk {
            b.apply(e);
        }
    }
    assert_eq!(a.run.state, RunState::Finished);
    assert_eq!(a.run.progress.steps_done, 48);
    assert_eq!(a.run.metrics.get(SeriesId::TestAcc).points().len(), 3);
    assert_eq!(screen(&a, 120, 40), screen(&b, 120, 40));
    assert!(screen(&a, 120, 40).contains("● finished"));
}
