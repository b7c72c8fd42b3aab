//! Issue 17, "the workbench in daily use": each item as the user met it, on the app without a
//! terminal (keys in, requests and the drawn screen out) and, where the engine's own words
//! matter, against a real engine.
mod support;

use bapw::config::store::Store;
use bapw::events::{ErrorReport, Event, Message, Paused, RolledBack};
use bapw::train::Command;
use bapw::tui::keymap::{Action, Mode, Pane};
use bapw::tui::model::{Level, RunState};
use bapw::tui::popups::confirm::{AfterDiscard, ConfirmKind};
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

fn ctrl_c(app: &mut App) {
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
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

/// `key_name` typed into its field and applied.
fn edit(app: &mut App, key_name: &str, value: &str) {
    select(app, key_name);
    key(app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(app, value);
    key(app, KeyCode::Enter);
    assert!(
        app.ui.schedule.edit.is_none(),
        "{key_name} = {value} applied"
    );
}

fn asking(app: &App) -> Option<ConfirmKind> {
    match &app.ui.popup {
        Some(Popup::Confirm(c)) => Some(c.kind.clone()),
        _ => None,
    }
}

fn idle() -> App {
    app_with(smoke_preset(), "smoke", &[])
}

fn running() -> App {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.handle(Action::Start);
    assert_eq!(app.take_requests(), [Request::StartRun]);
    for e in smoke_until(20) {
        app.apply(&e);
    }
    app
}

/// The last line of the screen: the message line.
fn message_line(app: &App, w: u16, h: u16) -> String {
    screen(app, w, h)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

const NAN: &str = "loss became NaN/Inf at step 21: the weights after the last update are \
                   broken, so they are neither trained on nor saved; the last good checkpoint \
                   is step 16; lower train.lr if it diverged, then roll back (R) and resume";

// ---- item 2: a NaN can be recovered from, and the error stays until read ----

#[test]
fn a_nan_pause_offers_the_roll_back_and_keeps_the_error_on_screen() {
    let mut app = running();
    app.apply(&Event::Error(ErrorReport {
        step: 21,
        message: NAN.into(),
    }));
    app.apply(&Event::Paused(Paused { step: 21 }));
    assert_eq!(app.run.log.latest().unwrap().text, "paused");
    for (w, h) in [(120, 40), (80, 24)] {
        let line = message_line(&app, w, h);
        assert!(line.contains("loss became NaN/Inf"), "{w}x{h}: {line}");
        assert!(line.contains("R roll back"), "the hint, {w}x{h}: {line}");
    }
    assert!(message_line(&app, 120, 40).contains("R rolls back to step 16"));
    // Resuming broken weights is refused here, with what to do instead.
    key(&mut app, KeyCode::Char('p'));
    assert!(app.take_requests().is_empty());
    assert!(app
        .run
        .log
        .latest()
        .unwrap()
        .text
        .contains("R rolls back to step 16"));
    // The warning is newer, but the error still holds the line.
    assert!(message_line(&app, 120, 40).contains("loss became NaN/Inf"));
    key(&mut app, KeyCode::Char('R'));
    assert_eq!(app.take_requests(), [Request::Engine(Command::RollBack)]);
    app.apply(&Event::RolledBack(RolledBack {
        step: 21,
        to_step: 16,
    }));
    app.apply(&Event::Message(Message {
        step: 16,
        text: "rolled back from step 21 to the checkpoint of step 16".into(),
    }));
    assert!(app.run.broken.is_none());
    assert_eq!(app.run.progress.steps_done, 16);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.take_requests(), [Request::Engine(Command::Resume)]);
}

#[test]
fn an_error_stays_until_the_log_is_opened_or_it_is_dismissed() {
    let mut app = running();
    app.apply(&Event::Error(ErrorReport {
        step: 21,
        message: "adv.rho refused by the engine".into(),
    }));
    app.apply(&Event::Paused(Paused { step: 21 }));
    app.apply(&Event::Message(Message {
        step: 21,
        text: "something ordinary".into(),
    }));
    assert!(message_line(&app, 120, 40).contains("adv.rho refused"));
    key(&mut app, KeyCode::Char('!'));
    key(&mut app, KeyCode::Esc);
    assert!(app.ui.popup.is_none());
    assert!(message_line(&app, 120, 40).contains("something ordinary"));
    // Esc with nothing else to cancel dismisses the next one.
    app.apply(&Event::Error(ErrorReport {
        step: 22,
        message: "another refusal".into(),
    }));
    app.note(Level::Info, "an ordinary note");
    assert!(message_line(&app, 120, 40).contains("another refusal"));
    key(&mut app, KeyCode::Esc);
    assert!(message_line(&app, 120, 40).contains("an ordinary note"));
}

#[test]
fn rolling_back_a_healthy_pause_asks_first_and_a_running_run_is_told_to_pause() {
    let mut app = running();
    key(&mut app, KeyCode::Char('R'));
    assert!(app.take_requests().is_empty());
    assert!(app
        .run
        .log
        .latest()
        .unwrap()
        .text
        .contains("pause the run first"));
    app.apply(&Event::Paused(Paused { step: 21 }));
    key(&mut app, KeyCode::Char('R'));
    assert!(matches!(
        &app.ui.popup,
        Some(Popup::Confirm(c)) if matches!(c.kind, ConfirmKind::RollBack { from: 21, to: Some(16) })
    ));
    assert!(screen(&app, 120, 40).contains("goes back from step 21"));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.take_requests(), [Request::Engine(Command::RollBack)]);
    assert_eq!(app.run.state, RunState::Paused);
}

// ---- item 5: unsaved edits are not thrown away without asking ----

const DISCARD_QUIT: ConfirmKind = ConfirmKind::Discard {
    then: AfterDiscard::Quit,
};

#[test]
fn q_with_unsaved_edits_asks_and_cancel_keeps_them() {
    let mut app = idle();
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(
        app.take_requests(),
        [Request::Quit],
        "nothing edited: at once"
    );
    edit(&mut app, "train.lr", "0.05");
    key(&mut app, KeyCode::Char('q'));
    assert!(app.take_requests().is_empty());
    assert_eq!(asking(&app), Some(DISCARD_QUIT));
    assert!(screen(&app, 80, 24).contains("Unsaved edits"));
    key(&mut app, KeyCode::Enter); // Cancel is selected first
    assert!(app.ui.popup.is_none());
    assert_eq!(app.run.preset.train.lr, 0.05);
    key(&mut app, KeyCode::Char('q'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.take_requests(), [Request::Quit]);
}

#[test]
fn ctrl_c_while_typing_asks_and_cancel_goes_back_to_the_text() {
    let mut app = idle();
    select(&mut app, "train.lr");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "0.07");
    ctrl_c(&mut app);
    assert!(app.take_requests().is_empty());
    assert_eq!(asking(&app), Some(DISCARD_QUIT));
    key(&mut app, KeyCode::Esc);
    let edit = app.ui.schedule.edit.as_ref().expect("still typing");
    assert_eq!(edit.input.text(), "0.07");
    // Twice: discard and quit, as for a run.
    ctrl_c(&mut app);
    ctrl_c(&mut app);
    assert_eq!(app.take_requests(), [Request::Quit]);
}

#[test]
fn opening_another_preset_over_edits_asks_and_w_saves_them_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(smoke_preset(), "smoke", Store::at(dir.path()), None);
    edit(&mut app, "train.lr", "0.05");
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(
        asking(&app),
        Some(ConfirmKind::Discard {
            then: AfterDiscard::OpenPreset
        })
    );
    key(&mut app, KeyCode::Char('w'));
    assert!(matches!(app.ui.popup, Some(Popup::SaveAs(_))));
    typed(&mut app, "mine");
    key(&mut app, KeyCode::Enter);
    assert!(app.ui.popup.is_none());
    // Saved: nothing is lost now, so `o` opens the picker and `q` quits.
    assert!(!app.run.preset_edited);
    key(&mut app, KeyCode::Char('o'));
    assert!(matches!(app.ui.popup, Some(Popup::Picker(_))));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.take_requests(), [Request::Quit]);
    // The saved description says what the settings are, not the shipped "used by tests".
    let saved = std::fs::read_to_string(dir.path().join("presets/mine.toml")).unwrap();
    assert!(!saved.contains("used by tests"), "{saved}");
    assert!(
        saved.contains(
            "description = \"natural training of mlp on synthetic, from smoke with \
             train.lr = 0.05 (saved from the workbench)\""
        ),
        "{saved}"
    );
}

// ---- item 3: edited settings say so, and how, one key away ----

#[test]
fn the_header_says_edited_only_while_settings_differ_and_d_lists_the_differences() {
    let mut app = idle();
    let header = |app: &App| screen(app, 120, 40).lines().next().unwrap().to_string();
    assert!(!header(&app).contains("(edited)"));
    edit(&mut app, "train.lr", "0.05");
    assert!(
        header(&app).contains("preset smoke (edited)"),
        "{}",
        header(&app)
    );
    edit(&mut app, "prune.final_sparsity", "0.5");
    key(&mut app, KeyCode::Char('D'));
    match &app.ui.popup {
        Some(Popup::Differences(d)) => assert_eq!(
            d.rows,
            [
                ("prune.final_sparsity".into(), "0.8".into(), "0.5".into()),
                ("train.lr".into(), "0.003".into(), "0.05".into()),
            ]
        ),
        other => panic!("expected the differences, got {other:?}"),
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("Differences from smoke"), "{s}");
    let row = s.lines().find(|l| l.contains("train.lr")).unwrap();
    assert!(row.contains("0.003") && row.contains("0.05"), "{row}");
    key(&mut app, KeyCode::Esc);
    assert!(app.ui.popup.is_none());
    // Undone by hand: the settings are the preset's again.
    edit(&mut app, "train.lr", "0.003");
    edit(&mut app, "prune.final_sparsity", "0.8");
    assert!(!header(&app).contains("(edited)"), "{}", header(&app));
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.take_requests(), [Request::Quit]);
}

// ---- item 6: text shrinks by a rule, never mid-number ----

#[test]
fn a_choice_being_edited_keeps_both_arrows_and_a_long_value_scrolls_to_the_cursor() {
    let mut app = idle();
    select(&mut app, "train.mode");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Right); // natural → adversarial
    for (w, h) in [(120, 40), (80, 24), (60, 16)] {
        let s = screen(&app, w, h);
        let row = s.lines().find(|l| l.contains('◂')).unwrap_or_default();
        assert!(row.contains('▸'), "{w}x{h}: {row}");
    }
    key(&mut app, KeyCode::Esc);
    select(&mut app, "train.lr");
    key(&mut app, KeyCode::Enter);
    app.handle(Action::ClearInput);
    typed(&mut app, "0.000123456789012345678");
    // At the end of the text: its end shows, the start is marked hidden.
    let s = screen(&app, 60, 16);
    let row = s
        .lines()
        .find(|l| l.contains("345678"))
        .expect("the typed end shows");
    assert!(row.contains('…'), "{row}");
    app.handle(Action::Home);
    let s = screen(&app, 60, 16);
    assert!(
        s.contains("0.000123"),
        "the start shows again at Home:\n{s}"
    );
}

#[test]
fn the_hint_bar_drops_whole_hints_and_the_message_is_cut_after_a_word() {
    let mut app = running();
    app.note(
        Level::Info,
        "exported Schedule to /home/someone/runs/smoke-20261203-101617/export/schedule.csv",
    );
    for (w, h) in [(80, 24), (60, 16)] {
        let line = message_line(&app, w, h);
        // Every hint is whole: a key followed by its whole word.
        for (k, word) in [
            ("p", "pause"),
            ("x", "stop"),
            ("e", "eval"),
            ("?", "help"),
            ("q", "quit"),
        ] {
            if let Some(i) = line.find(&format!(" {k} ")) {
                assert!(
                    line[i..].starts_with(&format!(" {k} {word}")),
                    "{w}x{h}: {line}"
                );
            }
        }
        assert!(line.contains("? help"), "{w}x{h}: {line}");
        assert!(line.contains("exported Schedule to…"), "{w}x{h}: {line}");
    }
    insta::assert_snapshot!("daily_use_running_60x16", snapshot(&app, 60, 16));
    insta::assert_snapshot!("daily_use_running_80x24", snapshot(&app, 80, 24));
}

// ---- item 4: the compare view shows measured points only, and says when grids differ ----

#[test]
fn comparing_runs_on_different_grids_shows_only_measured_points_and_says_so() {
    let mut app = app_with(
        bap_preset(),
        "smoke-bap",
        &bap_events(BAP_STEPS_PER_EPOCH * 2),
    );
    // The other run measured ε 0, 0.1, 0.2, 0.3 only (and so its AUC spans the same ε but
    // from fewer points): at ε 0.15 it has no value, and none may be made up.
    let mut coarse = eval_at(BAP_STEPS_PER_EPOCH * 2, 2, 0.5);
    if let Event::Eval(e) = &mut coarse {
        for c in e.curves.iter_mut().filter(|c| c.attack != "deepfool") {
            let keep: Vec<usize> = (0..c.grid.len()).step_by(2).collect();
            c.grid = keep.iter().map(|&i| c.grid[i]).collect();
            c.accuracy = keep.iter().map(|&i| c.accuracy[i]).collect();
        }
    }
    let other = bapw::tui::model::RunModel::replay(bap_preset(), "coarse", &[coarse]);
    app.compare_loaded(Ok(other));
    app.handle(Action::Focus(Pane::Robustness));
    app.handle(Action::Zoom);
    let s = screen(&app, 120, 40);
    assert!(s.contains("grids differ"), "{s}");
    let row = |eps: &str| {
        s.lines()
            .find(|l| {
                l.trim_start_matches(['┃', '│', ' ', '▸'])
                    .starts_with(&format!("{eps} "))
            })
            .unwrap_or_else(|| panic!("no row for ε {eps}:\n{s}"))
            .to_string()
    };
    // Measured by both: a value in each column.
    assert!(!row("0.1").contains('—'), "{}", row("0.1"));
    // Not measured by the other run: a dash, not an interpolated number.
    let r = row("0.15");
    assert!(r.contains('—'), "{r}");
}

// ---- item 7: the numbers agree with each other ----

#[test]
fn header_and_message_quote_the_same_test_accuracy_after_a_stop() {
    let mut app = running();
    app.apply(&Event::Finished(bapw::events::Finished {
        step: 21,
        state: bapw::events::EndState::Stopped,
        sparsity: 0.5,
        test_acc: 0.983,
        seconds: 4.0,
    }));
    let s = screen(&app, 120, 40);
    let header = s.lines().next().unwrap();
    assert!(header.contains("test acc 0.983"), "{header}");
    assert!(message_line(&app, 120, 40).contains("test acc 0.983"));
}

#[test]
fn budget_steps_count_from_one_as_the_header_does_and_evaluations_name_their_epoch() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(4));
    app.handle(Action::Focus(Pane::Budget));
    app.handle(Action::Zoom);
    let s = screen(&app, 120, 40);
    assert!(s.lines().next().unwrap().contains("step 4/96"), "{s}");
    assert!(s.contains("step 4 · δ"), "the budget of the 4th step:\n{s}");
    let app = app_with(
        bap_preset(),
        "smoke-bap",
        &bap_events(BAP_STEPS_PER_EPOCH + 3),
    );
    let mut app = app;
    app.handle(Action::Focus(Pane::Robustness));
    app.handle(Action::Zoom);
    let s = screen(&app, 120, 40);
    assert!(s.contains("end of epoch 1"), "{s}");
    assert!(s.lines().next().unwrap().contains("epoch 2/6"), "{s}");
}

#[test]
fn a_huge_learning_rate_reads_in_e_notation() {
    let mut app = idle();
    edit(&mut app, "train.lr", "1e30");
    let s = screen(&app, 120, 40);
    let row = s.lines().find(|l| l.contains("learning rate")).unwrap();
    assert!(row.contains("1e30"), "{row}");
    assert!(!s.contains("000000000"), "{s}");
}

// ---- item 9: the small ones ----

#[test]
fn p_on_an_ended_run_says_what_the_pane_shows() {
    let mut app = app_with(
        bap_preset(),
        "smoke-bap",
        &bap_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS),
    );
    assert_eq!(app.run.state, RunState::Finished);
    key(&mut app, KeyCode::Char('P'));
    let said = app.run.log.latest().unwrap().text.clone();
    let pane = screen(&app, 120, 40);
    let shown = pane
        .split("Δ vs step ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("the pane names its Δ step");
    assert!(
        said.contains(&format!("stay against step {shown}")),
        "{said} / {shown}"
    );
    assert!(app.run.evals.pinned.is_none());
}

#[test]
fn e_on_a_natural_runs_budget_pane_exports_nothing_and_says_why() {
    let mut app = running();
    app.handle(Action::Focus(Pane::Budget));
    key(&mut app, KeyCode::Char('E'));
    assert!(app.take_requests().is_empty(), "no header-only CSV");
    let said = app.run.log.latest().unwrap().text.clone();
    assert!(
        said.contains("nothing to export") && said.contains("natural"),
        "{said}"
    );
}

#[test]
fn the_high_contrast_theme_leaves_no_cell_on_the_terminals_background() {
    let mut app = App::new(
        bap_preset(),
        "smoke-bap",
        Store::ephemeral(),
        Some("high-contrast"),
    );
    for e in bap_events(60) {
        app.apply(&e);
    }
    for (w, h) in [(120, 40), (80, 24)] {
        let buf = buffer(&app, w, h);
        let reset = buf
            .content()
            .iter()
            .filter(|c| c.bg == ratatui::style::Color::Reset)
            .count();
        assert_eq!(reset, 0, "{w}x{h}: cells left on the terminal's background");
    }
}

// ---- against a real engine: NaN recovery with R, paused time ----

#[path = "daily_use/engine.rs"]
mod engine;

// ---- the monkey: random keys from every state ----

#[path = "daily_use/monkey.rs"]
mod monkey;

#[test]
fn the_budget_pane_drops_whole_pieces_rather_than_cut_a_number() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(60));
    app.handle(Action::Focus(Pane::Budget));
    // 100x30: the four panes, the Budget pane 50 columns wide.
    for (w, h) in [(100, 30), (80, 24), (60, 16)] {
        let s = screen(&app, w, h);
        for word in s.split(|c: char| c.is_whitespace() || "│┃".contains(c)) {
            assert!(
                !word.ends_with("±.…") && !word.ends_with('±'),
                "{w}x{h}: {word}\n{s}"
            );
        }
        let summary = s
            .lines()
            .flat_map(|l| l.split(['│', '┃']))
            .find(|seg| seg.starts_with("step 60 · "))
            .expect("the summary")
            .trim_end();
        // Whole pieces only: it ends with one ("flips 58%"), not with a cut or a separator.
        assert!(
            summary.ends_with(|c: char| c == '%' || c == ')' || c.is_ascii_digit()),
            "{w}x{h}: {summary}"
        );
        assert!(!summary.contains('…'), "{w}x{h}: {summary}");
    }
}

#[test]
fn the_preset_pickers_descriptions_are_cut_after_a_word() {
    let mut app = idle();
    key(&mut app, KeyCode::Char('o'));
    let s = screen(&app, 80, 24);
    let row = s
        .lines()
        .find(|l| l.contains(" smoke ") && l.contains("shipped"))
        .expect("smoke in the picker");
    // The description's end within the frame: a whole word and `…`, not a word cut short.
    let inside = row
        .split("shipped")
        .nth(1)
        .unwrap()
        .split('│')
        .next()
        .unwrap()
        .trim_end();
    assert!(inside.ends_with('…'), "{row}");
    let last = inside.trim_end_matches('…').split(' ').next_back().unwrap();
    let description = bapw::config::preset::Preset::load("smoke")
        .unwrap()
        .description;
    assert!(
        description.split(' ').any(|w| w == last),
        "{last:?} is a whole word of {description:?}"
    );
}

/// Item 6, the schedule legend: it wraps between its pieces (no-break spaces inside each), so
/// at every size from 40 to 120 columns its description is whole or absent, never cut.
#[test]
fn the_schedule_legend_is_never_cut_inside_its_description() {
    let mut app = running();
    app.handle(Action::Focus(Pane::Schedule));
    let sizes: Vec<(u16, u16)> = (40..=120)
        .step_by(4)
        .flat_map(|w| [(w, 16), (w, 24), (w, 40)])
        .collect();
    for (w, h) in sizes {
        let screen = screen(&app, w, h);
        // The description, when shown, is whole: "<kind> a → b, steps c-d" (it may wrap
        // after its comma, but its end is on screen).
        if screen.contains("polynomial 0 → 0.8") {
            assert!(
                screen.contains("steps 0-"),
                "{w}x{h}: the description is cut:\n{screen}"
            );
        }
        if w == 120 {
            assert!(screen.contains("steps"), "{screen}");
        }
    }
}
