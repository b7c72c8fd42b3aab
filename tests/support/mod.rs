//! Fixtures for the TUI tests: a recorded natural run (`fixtures/smoke-natural.jsonl`, from
//! `bapw train --preset smoke --headless`) and a BAP run built by hand from the event types,
//! since the engine does not emit `budget` and `eval` events yet. Building it in Rust keeps it
//! in step with `events.rs`: a changed field fails to compile here instead of rotting in JSON.
#![allow(dead_code)]

use bapw::config::preset::Preset;
use bapw::config::store::Store;
use bapw::events::{
    parse_events, AttackCurve, Budget, Checkpoint, Distribution, EndState, EpochEnd, ErrorReport,
    Eval, Event, Finished, LayerInfo, MaskUpdate, ParamChanged, RunStarted, Step, StepTiming,
};
use bapw::prune::{LayerSparsity, ScheduleKind, ScheduleSpec};
use bapw::tui::App;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

pub fn smoke_events() -> Vec<Event> {
    parse_events(include_str!("../fixtures/smoke-natural.jsonl")).expect("fixture parses")
}

/// The recorded run up to (not including) the first event past `step`.
pub fn smoke_until(step: usize) -> Vec<Event> {
    smoke_events()
        .into_iter()
        .take_while(|e| match e {
            Event::Step(Step { step: s, .. }) | Event::MaskUpdate(MaskUpdate { step: s, .. }) => {
                *s <= step
            }
            Event::EpochEnd(EpochEnd { step: s, .. })
            | Event::Checkpoint(Checkpoint { step: s, .. }) => *s <= step,
            Event::Finished(Finished { .. }) => false,
            _ => true,
        })
        .collect()
}

pub fn smoke_preset() -> Preset {
    Preset::load("smoke").expect("shipped preset")
}

pub fn bap_preset() -> Preset {
    let mut p = smoke_preset();
    p.name = "smoke-bap".into();
    p.train.mode = bapw::config::preset::Mode::Bap;
    p.adv.budget_every = 4;
    p
}

pub const BAP_STEPS_PER_EPOCH: usize = 16;
pub const BAP_EPOCHS: usize = 6;

fn bell(n: usize, centre: f64, width: f64, total: f64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let z = (i as f64 + 0.5 - centre) / width;
            (total * (-0.5 * z * z).exp()).round() as u64
        })
        .collect()
}

fn distribution(lo: f64, bin_width: f64, counts: Vec<u64>, p50: f64, spread: f64) -> Distribution {
    Distribution {
        lo,
        bin_width,
        counts,
        p5: p50 - 1.6 * spread,
        p25: p50 - 0.7 * spread,
        p50,
        p75: p50 + 0.7 * spread,
        p95: p50 + 1.6 * spread,
        mean: p50 + 0.1 * spread,
        std: spread,
    }
}

/// A budget event at `step`: distances grow as the model gets more robust; the cut-off δ is
/// their batch mean, so the budgets pile up at ρ·δ.
pub fn budget_at(step: usize) -> Event {
    let progress = step as f64 / (BAP_STEPS_PER_EPOCH * BAP_EPOCHS) as f64;
    let median = 0.05 + 0.06 * progress;
    let delta = median * 1.1;
    let rho = 1.0;
    let mut budget_counts = bell(24, median / 0.005 * 0.8, 3.0, 20.0);
    let cut_bin = ((delta * rho) / 0.005) as usize;
    for c in budget_counts.iter_mut().skip(cut_bin + 1) {
        *c = 0;
    }
    budget_counts[cut_bin.min(23)] += 90;
    Event::Budget(Budget {
        step,
        mode: "bap".into(),
        distances: Some(distribution(
            0.0,
            0.01,
            bell(24, median / 0.01, 2.5, 40.0),
            median,
            0.02,
        )),
        budgets: distribution(0.0, 0.005, budget_counts, median * 0.9, 0.012),
        delta: Some(delta),
        rho,
        cut_fraction: 0.45 - 0.1 * progress,
        flip_rate: 0.7 - 0.2 * progress,
    })
}

/// An evaluation whose accuracies improve with `quality` in [0, 1].
pub fn eval_at(step: usize, epoch: usize, quality: f64) -> Event {
    let eps = vec![0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];
    let deltas = vec![0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2];
    let clean = 0.80 + 0.15 * quality;
    let curve = |attack: &str, grid: &Vec<f64>, scale: f64| {
        let accuracy: Vec<f64> = grid
            .iter()
            .map(|g| clean * (-g / (scale * (0.5 + quality))).exp())
            .collect();
        let span = grid[grid.len() - 1] - grid[0];
        let auc = grid
            .windows(2)
            .zip(accuracy.windows(2))
            .map(|(g, a)| (g[1] - g[0]) * (a[0] + a[1]) / 2.0)
            .sum::<f64>()
            / span;
        AttackCurve {
            attack: attack.into(),
            grid: grid.clone(),
            accuracy,
            auc,
            auc_se: None,
        }
    };
    Event::Eval(Eval {
        step,
        epoch,
        examples: 256,
        clean_acc: clean,
        curves: vec![
            curve("fgsm", &eps, 0.2),
            curve("pgd", &eps, 0.12),
            curve("apgd", &eps, 0.1),
            curve("deepfool", &deltas, 0.08),
        ],
        // Below every attack's curve, as a worst case over images is.
        worst_case: vec![
            curve("worst-linf", &eps, 0.09),
            curve("worst-l2", &deltas, 0.075),
        ],
        seconds: 3.5,
        ..Default::default()
    })
}

/// A BAP run on the smoke data: run_started, steps with adversarial losses, mask updates,
/// budgets every 4 steps, epoch ends with evaluations, one live change and one refused one.
/// `until` cuts it after that many steps (no `finished` unless the run is complete).
pub fn bap_events(until: usize) -> Vec<Event> {
    let spe = BAP_STEPS_PER_EPOCH;
    let total = spe * BAP_EPOCHS;
    let schedule = ScheduleSpec {
        kind: ScheduleKind::Polynomial,
        initial_sparsity: 0.0,
        final_sparsity: 0.8,
        begin_step: 0,
        end_step: 2 * spe,
        frequency: 4,
        power: 3.0,
    };
    let mut out = vec![Event::RunStarted(RunStarted {
        run_id: "smoke-bap-fixture".into(),
        run_dir: "runs/smoke-bap-fixture".into(),
        preset: "smoke-bap".into(),
        mode: "bap".into(),
        dataset: "synthetic".into(),
        model: "mlp".into(),
        device: "cpu".into(),
        device_model: None,
        device_memory: None,
        threads: 2,
        epochs: BAP_EPOCHS,
        steps_per_epoch: spe,
        total_steps: total,
        batch_size: 64,
        train_examples: 1024,
        test_examples: 256,
        layers: vec![
            LayerInfo {
                name: "fc1.weight".into(),
                numel: 4096,
            },
            LayerInfo {
                name: "fc2.weight".into(),
                numel: 2048,
            },
        ],
        schedule,
        start_step: 0,
    })];
    let mut mask = 0.0;
    for step in 0..until.min(total) {
        if schedule.updates_at(step) {
            mask = schedule.sparsity_at(step);
            out.push(Event::MaskUpdate(MaskUpdate {
                step,
                target_sparsity: mask,
                sparsity: mask,
                layers: vec![LayerSparsity {
                    name: "fc1.weight".into(),
                    kept: ((1.0 - mask) * 4096.0) as i64,
                    total: 4096,
                    sparsity: mask,
                }],
            }));
        }
        let t = step as f64;
        let wobble = ((step * 37 % 11) as f64 - 5.0) * 0.01;
        let clean = 1.4 * (-t / 40.0).exp() + 0.35 + wobble;
        let adv = clean + 0.5 * (-t / 60.0).exp() + 0.2 + wobble;
        out.push(Event::Step(Step {
            step,
            epoch: step / spe,
            loss: 0.5 * (clean + adv),
            clean_loss: clean,
            adv_loss: Some(adv),
            train_acc: 0.5 + 0.4 * (1.0 - (-t / 30.0).exp()),
            target_sparsity: schedule.sparsity_at(step),
            sparsity: mask,
            samples_per_s: 5120.0,
            timing: StepTiming {
                attack_ms: 8.0,
                train_ms: 4.0,
                prune_ms: 0.5,
            },
        }));
        if step % 4 == 3 {
            out.push(budget_at(step));
        }
        if step == 40 {
            out.push(Event::ParamChanged(ParamChanged {
                step: 41,
                key: "adv.rho".into(),
                old: "1.0".into(),
                new: "0.8".into(),
            }));
        }
        if step == 50 {
            out.push(Event::Error(ErrorReport {
                step: 51,
                message: "model.arch cannot change during a run".into(),
            }));
        }
        if (step + 1) % spe == 0 {
            let epoch = step / spe;
            let end = step + 1;
            out.push(Event::EpochEnd(EpochEnd {
                epoch,
                step: end,
                train_loss: clean,
                train_acc: 0.8,
                test_loss: clean * 1.05,
                test_acc: 0.80 + 0.025 * epoch as f64,
                seconds: 2.0,
            }));
            out.push(eval_at(end, epoch + 1, end as f64 / total as f64));
        }
    }
    if until >= total {
        out.push(Event::Finished(Finished {
            step: total,
            state: EndState::Finished,
            sparsity: 0.8,
            test_acc: 0.925,
            seconds: 60.0,
        }));
    }
    out
}

pub fn app_with(preset: Preset, label: &str, events: &[Event]) -> App {
    let mut app = App::new(preset, label, Store::ephemeral(), None);
    for e in events {
        app.apply(e);
    }
    app
}

/// The screen as ratatui's test view: one quoted line per row, so trailing blanks show.
pub fn snapshot(app: &App, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    t.draw(|f| bapw::tui::draw(f, app)).expect("draw");
    t.backend().to_string()
}

/// The screen as plain text, one line per row, for `contains` checks.
pub fn screen(app: &App, width: u16, height: u16) -> String {
    let buf = buffer(app, width, height);
    let mut out = String::new();
    for y in 0..height {
        for x in 0..width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

pub fn buffer(app: &App, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    t.draw(|f| bapw::tui::draw(f, app)).expect("draw");
    t.backend().buffer().clone()
}

/// A second run to compare with: the BAP fixture's steps and evaluations as a uniform-budget
/// adversarial run might report them (higher losses, weaker robustness), with no budgets.
pub fn adversarial_events(until: usize) -> Vec<Event> {
    bap_events(until)
        .into_iter()
        .filter_map(|mut e| {
            match &mut e {
                Event::RunStarted(RunStarted {
                    run_id,
                    run_dir,
                    preset,
                    mode,
                    ..
                }) => {
                    *run_id = "smoke-adv-fixture".into();
                    *run_dir = "runs/smoke-adv-fixture".into();
                    *preset = "smoke-adv".into();
                    *mode = "adversarial".into();
                }
                Event::Step(Step {
                    loss,
                    clean_loss,
                    adv_loss,
                    ..
                }) => {
                    *loss *= 1.2;
                    *clean_loss *= 1.2;
                    *adv_loss = adv_loss.map(|a| a * 1.3);
                }
                Event::Eval(Eval { step, epoch, .. }) => {
                    let quality = *step as f64 / (BAP_STEPS_PER_EPOCH * BAP_EPOCHS) as f64;
                    return Some(eval_at(*step, *epoch, 0.6 * quality));
                }
                Event::EpochEnd(EpochEnd {
                    train_loss,
                    test_loss,
                    test_acc,
                    ..
                }) => {
                    *train_loss *= 1.2;
                    *test_loss *= 1.2;
                    *test_acc -= 0.04;
                }
                Event::Finished(Finished { test_acc, .. }) => *test_acc -= 0.04,
                Event::Budget(Budget { .. })
                | Event::ParamChanged(ParamChanged { .. })
                | Event::Error(ErrorReport { .. }) => return None,
                _ => {}
            }
            Some(e)
        })
        .collect()
}

pub fn adversarial_preset() -> Preset {
    let mut p = smoke_preset();
    p.name = "smoke-adv".into();
    p.train.mode = bapw::config::preset::Mode::Adversarial;
    p
}
