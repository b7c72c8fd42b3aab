//! The monkey for `tui_daily_use`: random key sequences (Ctrl-C bursts, popups, edits and
//! the run's own events in between) from every state a user meets, through the app's pure
//! key handling. Nothing may panic, and the invariants below hold after every key.
use super::*;
use proptest::prelude::*;

/// Every key the app maps in some mode, and a few it maps in none.
fn keys() -> Vec<KeyEvent> {
    let mut out: Vec<KeyEvent> = "0123456789abcdefghijklmnopqrstuvwxyzDEPLR!?.-e "
        .chars()
        .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    for code in [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::F(5),
    ] {
        out.push(KeyEvent::new(code, KeyModifiers::NONE));
    }
    for c in ['c', 'u', 'a', 'e'] {
        out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    }
    out.push(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::ALT));
    out
}

#[derive(Debug, Clone)]
enum Input {
    Key(usize),
    /// The run's next event (a run that goes on while keys arrive).
    Event,
    /// A burst of Ctrl-C.
    Interrupts(usize),
}

/// The app in one of the states a user meets: idle, running, paused on broken weights,
/// a finished BAP run, watching a finished run; with the events still to come.
fn start(which: usize, store: Store) -> (App, Vec<Event>) {
    let events = smoke_events();
    match which {
        0 => (App::new(smoke_preset(), "smoke", store, None), Vec::new()),
        1 | 2 => {
            let mut app = App::new(smoke_preset(), "smoke", store, None);
            app.handle(Action::Start);
            app.take_requests();
            for e in &events[..20] {
                app.apply(e);
            }
            if which == 2 {
                app.apply(&Event::Error(ErrorReport {
                    step: 21,
                    message: NAN.into(),
                }));
                app.apply(&Event::Paused(Paused { step: 21 }));
            }
            (app, events[20..].to_vec())
        }
        3 => {
            let mut app = App::new(bap_preset(), "smoke-bap", store, None);
            for e in bap_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS) {
                app.apply(&e);
            }
            (app, Vec::new())
        }
        _ => {
            let mut app = App::new(smoke_preset(), "smoke", store, None);
            app.watching = true;
            for e in &events {
                app.apply(e);
            }
            (app, Vec::new())
        }
    }
}

fn input() -> impl Strategy<Value = Input> {
    let n = keys().len();
    prop_oneof![
        20 => (0..n).prop_map(Input::Key),
        2 => Just(Input::Event),
        1 => (1..4usize).prop_map(Input::Interrupts),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_keys_from_every_state_never_panic_and_keep_the_invariants(
        which in 0..5usize,
        inputs in prop::collection::vec(input(), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, mut events) = start(which, Store::at(dir.path()));
        events.reverse();
        let keys = keys();
        for i in inputs {
            let active = app.run.state.is_active();
            match i {
                Input::Key(k) => app.on_key(keys[k]),
                Input::Event => {
                    if let Some(e) = events.pop() {
                        app.apply(&e);
                    }
                }
                Input::Interrupts(n) => {
                    for _ in 0..n {
                        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
                    }
                }
            }
            let requests = app.take_requests();
            for r in &requests {
                match r {
                    Request::Engine(_) => {
                        prop_assert!(!app.watching, "a watching window steers nothing");
                        prop_assert!(active, "a command with no run: {r:?}");
                    }
                    Request::StartRun => prop_assert!(!app.watching),
                    _ => {}
                }
            }
            // Edits only ever leave settings that load.
            let problems = app.run.preset.validate();
            prop_assert!(problems.is_empty(), "{problems:?}");
            prop_assert!(app.ui.schedule.cursor < app.fields().len());
            prop_assert!(app.run.log.len() <= 500);
            if app.ui.popup.is_none() && app.ui.capturing().is_none() {
                prop_assert_eq!(app.input_mode(), Mode::Normal);
            }
            if requests.contains(&Request::Quit) {
                break;
            }
        }
        // Drawing is where a state no test thought of would panic: a wide and a narrow
        // screen (the narrowest, "too small", draws nothing of the state).
        let (w, h) = [(120, 40), (80, 24)][which % 2];
        screen(&app, w, h);
        screen(&app, 60, 16);
    }
}
