//! The terminal never breaks the workbench: every size down to 1x1 draws (below 60x16 a one-line
//! "too small" note), random bursts of keys at any size never panic, and a real run under tmux
//! survives resizes down to 10x3 and back and a burst of thousands of keys, still training and
//! answering keys. How each signal leaves the terminal: `reliability_terminal_signals.rs`.
mod common;
mod support;

use bapw::tui::keymap::Action;
use common::tmux::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proptest::prelude::*;
use support::*;

#[test]
fn every_size_draws_without_panicking() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(60));
    let popups = [
        None,
        Some(Action::Help),
        Some(Action::Messages),
        Some(Action::Quit),
        Some(Action::Save),
    ];
    for p in popups {
        app.ui.popup = None;
        if let Some(a) = p {
            app.handle(a);
        }
        for w in (1..=130)
            .step_by(7)
            .chain([1, 10, 59, 60, 80, 99, 100, 120])
        {
            for h in (1..=45).step_by(4).chain([1, 3, 15, 16, 24, 29, 30, 40]) {
                let _ = buffer(&app, w, h);
            }
        }
    }
}

#[test]
fn too_small_says_so_on_one_line() {
    let app = app_with(smoke_preset(), "smoke", &[]);
    let s = screen(&app, 50, 10);
    assert!(s.starts_with("terminal too small: 50x10"), "{s}");
    assert_eq!(s.lines().filter(|l| !l.trim().is_empty()).count(), 1);
    assert_eq!(screen(&app, 10, 3).lines().next().unwrap(), "too small ");
    assert_eq!(screen(&app, 1, 1), "!\n");
    assert!(screen(&app, 59, 40).starts_with("terminal too small: 59x40"));
}

/// Any key a terminal can send: every code the keymap knows, printable characters (which
/// land in text boxes while editing) and Ctrl combinations.
fn any_key() -> impl Strategy<Value = KeyEvent> {
    let named = prop::sample::select(vec![
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Enter,
        KeyCode::Esc,
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
        KeyCode::F(1),
    ]);
    prop_oneof![
        named.prop_map(|c| KeyEvent::new(c, KeyModifiers::NONE)),
        prop::char::range(' ', '~')
            .prop_map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        prop::char::range('a', 'z')
            .prop_map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200),
        ..ProptestConfig::default()
    })]

    /// Very fast key repeat: a burst of keys, each folded in before the next frame, on a run
    /// in progress that keeps sending events, drawn at a size that can change between keys.
    #[test]
    fn bursts_of_keys_at_any_size_never_panic(
        keys in prop::collection::vec(any_key(), 1..300),
        sizes in prop::collection::vec((1u16..140, 1u16..50), 1..6),
    ) {
        let events = bap_events(60);
        let (start, rest) = events.split_at(events.len() / 2);
        let mut app = app_with(bap_preset(), "smoke-bap", start);
        let mut more = rest.iter();
        for (i, k) in keys.iter().enumerate() {
            app.on_key(*k);
            // What the runtime would have carried out; the app must not care that it is not.
            let _ = app.take_requests();
            if let Some(e) = more.next() {
                app.apply(e);
            }
            if i % 16 == 0 {
                let (w, h) = sizes[i / 16 % sizes.len()];
                let _ = buffer(&app, w, h);
            }
        }
        for (w, h) in sizes {
            let _ = buffer(&app, w, h);
        }
    }
}

/// What the screen shows at `w`x`h` while a run is going.
fn settled_at(w: u16, h: u16) -> impl Fn(&str) -> bool {
    move |s: &str| {
        let first = s.lines().next().unwrap_or("");
        if w < 10 {
            first.starts_with('!')
        } else if w < 60 || h < 16 {
            first.contains("too small")
        } else {
            s.contains("● running")
        }
    }
}

#[test]
fn a_run_survives_resizes_and_a_burst_of_keys_under_tmux() {
    if !tmux_or_skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(&format!(
        "{} train --preset smoke --set train.epochs=100000 --set checkpoint.every=0 \
         --set eval.every=0 --name resize; echo {EXIT_MARKER}$?; exec sleep 600",
        env_prefix(data.path(), config.path())
    ));
    tmux.wait_for("● running");
    let pid = tmux.bapw_pid();
    for (w, h) in [
        (10, 3),
        (1, 1),
        (59, 15),
        (60, 16),
        (61, 17),
        (200, 60),
        (80, 24),
        (120, 40),
    ] {
        let out = tmux.run(&[
            "resize-window",
            "-t",
            "e2e",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        assert!(out.status.success(), "resize to {w}x{h}: {out:?}");
        tmux.wait_until(&format!("the screen redrawn at {w}x{h}"), settled_at(w, h));
        assert!(alive(pid), "bapw died at {w}x{h}");
    }

    // Thousands of keys in one write, faster than any key repeat, mixing focus changes,
    // cursor moves and scrolling.
    let round = [
        "Tab", "j", "j", "k", "Down", "Up", "PageDown", "PageUp", "BTab", "2", "3", "4", "1",
    ];
    let burst: Vec<&str> = round
        .iter()
        .cycle()
        .take(round.len() * 250)
        .copied()
        .collect();
    tmux.keys(&burst);
    let s = tmux.wait_until("the run to go on after the burst", |s| {
        s.contains("● running") && step_of(s).is_some()
    });
    let before = step_of(&s).unwrap();
    tmux.wait_until("the steps to move on", |s| {
        step_of(s).is_some_and(|n| n > before)
    });
    // Still answering keys.
    tmux.keys(&["?"]);
    tmux.wait_for("focus the next pane");
    // Esc then a key within a moment reads as Alt+key, in any terminal: wait in between.
    tmux.keys(&["Escape"]);
    tmux.wait_until("the help to close", |s| !s.contains("focus the next pane"));
    tmux.keys(&["q"]);
    tmux.wait_for("Stop the run and quit");
    tmux.keys(&["y"]);
    let s = tmux.wait_for(EXIT_MARKER);
    assert!(s.contains(&format!("{EXIT_MARKER}0")), "clean exit:\n{s}");
}
