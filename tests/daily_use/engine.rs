//! `tui_daily_use` against a real engine, where the engine's own words and clock matter.
use super::*;

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
    // The rate reaches the engine between two steps, so the NaN may come a checkpoint later
    // than step 8: the good checkpoint is the newest one written before it.
    let mut newest = 0;
    while let Some(ev) = h.events.blocking_recv() {
        app.apply(&ev);
        match &ev {
            Event::Checkpoint(c) if !diverged || app.run.broken.is_none() => {
                newest = c.step;
                if c.step == 8 && !diverged {
                    diverged = true;
                    send(set("train.lr", "1e30"));
                }
            }
            Event::Paused(_) if app.run.broken.is_some() => {
                let b = app.run.broken.clone().unwrap();
                assert!(newest >= 8, "{b:?}");
                assert_eq!(b.checkpoint, Some(newest), "{b:?}");
                let line = message_line(&app, 120, 40);
                assert!(
                    line.contains(&format!("R rolls back to step {newest}")),
                    "{line}"
                );
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

/// Time spent paused is not time spent training: an epoch's seconds (which the ETA is
/// computed from) leave it out.
#[test]
fn paused_time_is_left_out_of_the_epoch_seconds() {
    use bapw::train::{spawn, RunSpec};
    let home = tempfile::tempdir().unwrap();
    let sets = ["train.epochs=1", "eval.every=0"].map(String::from);
    let preset = bapw::config::preset::Preset::load_with("smoke", &sets).unwrap();
    let spec = RunSpec::new(preset, "smoke", home.path().join("runs"))
        .named(Some("pause".into()))
        .on(bapw::device::DeviceChoice::Cpu)
        .interactive(true)
        .waiting();
    let mut h = spawn(spec).unwrap();
    h.commands.send(Command::Start).unwrap();
    h.commands.send(Command::Pause).unwrap();
    let mut epoch_secs = None;
    let mut paused_for = std::time::Duration::ZERO;
    while let Some(ev) = h.events.blocking_recv() {
        match ev {
            Event::Paused(_) => {
                // Stay paused for a while: what is measured is this wait's absence.
                let t = std::time::Instant::now();
                std::thread::sleep(std::time::Duration::from_millis(1500));
                paused_for = t.elapsed();
                h.commands.send(Command::Resume).unwrap();
            }
            Event::EpochEnd(e) => epoch_secs = Some(e.seconds),
            _ => {}
        }
    }
    h.thread.join().unwrap();
    let secs = epoch_secs.expect("an epoch ended");
    assert!(paused_for.as_secs_f64() >= 1.5);
    assert!(
        secs < 1.0,
        "the epoch took {secs}s, paused {paused_for:?} included"
    );
}
