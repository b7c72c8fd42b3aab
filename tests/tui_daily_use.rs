//! Issue 17, "the workbench in daily use": each item as the user met it, on the app without a
//! terminal (keys in, requests and the drawn screen out) and, where the engine's own words
//! matter, against a real engine.
mod support;

use bapw::events::{ErrorReport, Event, Message, Paused, RolledBack};
use bapw::train::Command;
use bapw::tui::keymap::Action;
use bapw::tui::model::{Level, RunState};
use bapw::tui::popups::confirm::ConfirmKind;
use bapw::tui::popups::Popup;
use bapw::tui::{App, Request};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use support::*;

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
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

/// The real engine's words: a NaN in an interactive run is read as broken weights with the
/// right checkpoint, `R` goes back to it, and the run trains on.
#[test]
fn a_real_nan_is_recovered_with_r() {
    use bapw::train::{spawn, RunSpec};
    let home = tempfile::tempdir().unwrap();
    let sets = ["train.epochs=2", "checkpoint.every=4", "eval.every=0"].map(String::from);
    let preset = bapw::config::preset::Preset::load_with("smoke", &sets).unwrap();
    let spec = RunSpec::new(preset.clone(), "smoke", home.path().join("runs"))
        .named(Some("nan".into()))
        .on(bapw::device::DeviceChoice::Cpu)
        .interactive(true)
        .waiting();
    let mut h = spawn(spec).unwrap();
    let mut app = App::new(
        preset,
        "smoke",
        bapw::config::store::Store::ephemeral(),
        None,
    );
    let send = |c: Command| h.commands.send(c).unwrap();
    let set = |k: &str, v: &str| Command::Set {
        key: k.into(),
        value: v.into(),
    };
    send(Command::Start);
    let (mut diverged, mut rolled_back) = (false, false);
    while let Some(ev) = h.events.blocking_recv() {
        app.apply(&ev);
        match &ev {
            Event::Checkpoint(c) if c.step == 8 && !diverged => {
                diverged = true;
                send(set("train.lr", "1e30"));
            }
            Event::Paused(_) if app.run.broken.is_some() => {
                let b = app.run.broken.clone().unwrap();
                assert_eq!(b.checkpoint, Some(8), "{b:?}");
                let line = message_line(&app, 120, 40);
                assert!(line.contains("R rolls back to step 8"), "{line}");
                send(set("train.lr", "0.002"));
                key(&mut app, KeyCode::Char('R'));
                for r in app.take_requests() {
                    if let Request::Engine(c) = r {
                        send(c);
                    }
                }
            }
            Event::RolledBack(_) => {
                rolled_back = true;
                assert!(app.run.broken.is_none());
                key(&mut app, KeyCode::Char('p'));
                assert_eq!(app.take_requests(), [Request::Engine(Command::Resume)]);
                send(Command::Resume);
            }
            _ => {}
        }
    }
    h.thread.join().unwrap();
    assert!(diverged && rolled_back);
    assert_eq!(app.run.state, RunState::Finished);
}
