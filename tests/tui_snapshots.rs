//! What the screen looks like, pane by pane and whole, at 120x40 (all four panes) and 80x24
//! (the focused pane with a tab strip), fed by recorded and hand-built event sequences.
//! Review changed snapshots with `cargo insta review` (or INSTA_UPDATE=always and git diff).
mod support;

use bapw::events::{Budget, Step};
use bapw::tui::keymap::Action;
use bapw::tui::keymap::Pane;
use bapw::tui::model::SeriesId;
use bapw::tui::App;
use support::*;

fn natural_midway() -> App {
    app_with(smoke_preset(), "smoke", &smoke_until(29))
}

fn bap_midway() -> App {
    app_with(bap_preset(), "smoke-bap", &bap_events(60))
}

fn focus(mut app: App, pane: Pane) -> App {
    app.handle(Action::Focus(pane));
    app
}

macro_rules! snap {
    ($name:literal, $app:expr, $w:expr, $h:expr) => {
        insta::assert_snapshot!($name, snapshot(&$app, $w, $h));
    };
}

#[test]
fn whole_screen_idle_120x40() {
    let app = app_with(smoke_preset(), "smoke", &[]);
    snap!("idle_120x40", app, 120, 40);
}

#[test]
fn whole_screen_natural_run_120x40() {
    snap!("natural_running_120x40", natural_midway(), 120, 40);
}

#[test]
fn whole_screen_natural_finished_120x40() {
    let app = app_with(smoke_preset(), "smoke", &smoke_events());
    snap!("natural_finished_120x40", app, 120, 40);
}

#[test]
fn whole_screen_bap_run_120x40() {
    snap!("bap_running_120x40", bap_midway(), 120, 40);
}

#[test]
fn whole_screen_bap_run_80x24() {
    snap!("bap_running_80x24", bap_midway(), 80, 24);
}

#[test]
fn pane_schedule_80x24_bap() {
    snap!(
        "pane_schedule_80x24",
        focus(bap_midway(), Pane::Schedule),
        80,
        24
    );
}

#[test]
fn pane_schedule_editing_preview_and_refusal() {
    let mut app = focus(app_with(smoke_preset(), "smoke", &[]), Pane::Schedule);
    for a in [
        Action::Down,
        Action::Down,
        Action::Enter,
        Action::ClearInput,
    ] {
        app.handle(a);
    }
    for c in "0.5".chars() {
        app.handle(Action::Input(c));
    }
    snap!("pane_schedule_edit_preview_80x24", app, 80, 24);
    app.handle(Action::ClearInput);
    for c in "1.5".chars() {
        app.handle(Action::Input(c));
    }
    app.handle(Action::Enter);
    snap!("pane_schedule_edit_refused_80x24", app, 80, 24);
}

#[test]
fn pane_loss_80x24_bap_smoothed_log() {
    let mut app = focus(bap_midway(), Pane::Loss);
    app.handle(Action::ToggleSmoothing);
    app.handle(Action::ToggleLogScale);
    snap!("pane_loss_80x24_smoothed_log", app, 80, 24);
}

#[test]
fn pane_loss_80x24_natural_series_hidden() {
    let mut app = focus(natural_midway(), Pane::Loss);
    // Hide the measured sparsity (last in the legend).
    for _ in 0..SeriesId::ALL.len() - 1 {
        app.handle(Action::Right);
    }
    app.handle(Action::ToggleSeries);
    snap!("pane_loss_80x24_natural", app, 80, 24);
}

#[test]
fn pane_budget_80x24_bap() {
    snap!(
        "pane_budget_80x24_bap",
        focus(bap_midway(), Pane::Budget),
        80,
        24
    );
}

#[test]
fn pane_budget_80x24_uniform() {
    let mut preset = bap_preset();
    preset.train.mode = bapw::config::preset::Mode::Adversarial;
    let mut events = bap_events(12);
    for e in &mut events {
        if let bapw::train::Event::Budget(Budget {
            distances,
            delta,
            budgets,
            mode,
            ..
        }) = e
        {
            *mode = "adversarial".into();
            *distances = None;
            *delta = None;
            budgets.p5 = 0.3;
            budgets.p25 = 0.3;
            budgets.p50 = 0.3;
            budgets.p75 = 0.3;
            budgets.p95 = 0.3;
        }
    }
    snap!(
        "pane_budget_80x24_uniform",
        focus(app_with(preset, "x", &events), Pane::Budget),
        80,
        24
    );
}

#[test]
fn pane_budget_80x24_natural() {
    snap!(
        "pane_budget_80x24_natural",
        focus(natural_midway(), Pane::Budget),
        80,
        24
    );
}

#[test]
fn pane_robustness_80x24_with_deltas() {
    snap!(
        "pane_robustness_80x24",
        focus(bap_midway(), Pane::Robustness),
        80,
        24
    );
}

#[test]
fn pane_robustness_80x24_pinned() {
    let mut app = app_with(bap_preset(), "smoke-bap", &bap_events(20));
    app.handle(Action::Pin);
    for e in bap_events(60)
        .into_iter()
        .skip_while(|e| !matches!(e, bapw::train::Event::Step(Step { step: 20, .. })))
    {
        app.apply(&e);
    }
    snap!(
        "pane_robustness_80x24_pinned",
        focus(app, Pane::Robustness),
        80,
        24
    );
}

#[test]
fn popup_help_120x40() {
    let mut app = natural_midway();
    app.handle(Action::Help);
    snap!("popup_help_120x40", app, 120, 40);
}

#[test]
fn popup_quit_confirm_120x40() {
    let mut app = natural_midway();
    app.handle(Action::Quit);
    snap!("popup_quit_120x40", app, 120, 40);
}

#[test]
fn popup_picker_80x24() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.handle(Action::Presets);
    snap!("popup_picker_80x24", app, 80, 24);
}

#[test]
fn popup_save_refuses_shipped_name_80x24() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.handle(Action::Save);
    for c in "smoke".chars() {
        app.handle(Action::Input(c));
    }
    app.handle(Action::Enter);
    snap!("popup_save_refused_80x24", app, 80, 24);
}

#[test]
fn popup_messages_80x24() {
    let mut app = bap_midway();
    app.handle(Action::Messages);
    snap!("popup_messages_80x24", app, 80, 24);
}

#[test]
fn pane_robustness_zoomed_120x40_with_curves() {
    let mut app = focus(bap_midway(), Pane::Robustness);
    app.handle(Action::Zoom);
    snap!("pane_robustness_zoomed_120x40", app, 120, 40);
}

fn adversarial_fixture() -> bapw::tui::model::RunModel {
    bapw::tui::model::RunModel::replay(
        adversarial_preset(),
        "smoke-adv-fixture",
        &adversarial_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS),
    )
}

fn run_row(
    name: &str,
    state: &str,
    preset: &str,
    mode: &str,
    step: usize,
    total: usize,
    numbers: Option<(f64, f64, f64)>,
) -> Result<bapw::run::list::RunRow, String> {
    Ok(bapw::run::list::RunRow {
        name: name.into(),
        state: state.into(),
        preset: preset.into(),
        mode: mode.into(),
        step,
        total_steps: total,
        sparsity: numbers.map(|n| n.0),
        test_acc: numbers.map(|n| n.1),
        auc: numbers.map(|n| n.2).filter(|a| *a > 0.0),
    })
}

/// The run list over this window's running run, with the adversarial fixture pinned for
/// comparison: every state a run can be in, and a run that could not be read.
#[test]
fn popup_run_list_120x40() {
    let mut app = natural_midway();
    app.compare = Some(adversarial_fixture());
    app.handle(Action::Runs);
    app.runs_listed(
        "/home/me/.local/share/bapw/runs",
        vec![
            run_row(
                "fixture-smoke",
                "running",
                "smoke",
                "natural",
                30,
                48,
                Some((0.8, 0.66, 0.0)),
            ),
            run_row(
                "mnist-bap-20261125-110502",
                "stopped",
                "mnist-bap",
                "bap",
                2345,
                9380,
                Some((0.71, 0.982, 0.412)),
            ),
            run_row(
                "mnist-quick-20261125-111939",
                "interrupted",
                "mnist-quick",
                "natural",
                812,
                1407,
                Some((0.64, 0.971, 0.0)),
            ),
            Err(
                "/home/me/.local/share/bapw/runs/scratch/events.jsonl: line 7: expected value"
                    .into(),
            ),
            run_row(
                "smoke-20261125-101617",
                "finished",
                "smoke",
                "natural",
                48,
                48,
                Some((0.8, 0.938, 0.215)),
            ),
            run_row(
                "smoke-20261125-120000",
                "failed",
                "smoke (edited)",
                "natural",
                3,
                48,
                None,
            ),
            run_row(
                "smoke-adv-fixture",
                "finished",
                "smoke-adv",
                "adversarial",
                96,
                96,
                Some((0.8, 0.905, 0.301)),
            ),
            run_row(
                "smoke-bap-20261125-102004",
                "finished",
                "smoke-bap",
                "bap",
                96,
                96,
                Some((0.8, 0.925, 0.394)),
            ),
        ],
    );
    snap!("popup_runs_120x40", app, 120, 40);
}

/// A BAP run compared with a uniform-budget adversarial one at the same sparsity: its curves
/// dimmed under the Loss pane's, its accuracies in a column of the Robustness pane.
#[test]
fn compare_bap_with_adversarial_120x40() {
    let mut app = app_with(
        bap_preset(),
        "smoke-bap",
        &bap_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS),
    );
    app.compare_loaded(Ok(adversarial_fixture()));
    snap!("compare_120x40", app, 120, 40);
    let mut app = focus(app, Pane::Robustness);
    app.handle(Action::Zoom);
    snap!("compare_robustness_zoomed_120x40", app, 120, 40);
}

/// `bapw watch` on a finished run: the final screen, marked as watched, with the keys that
/// make sense there.
#[test]
fn watching_a_finished_run_120x40() {
    let mut app = app_with(smoke_preset(), "smoke", &[]);
    app.watching = true;
    for e in smoke_events() {
        app.apply(&e);
    }
    snap!("watching_finished_120x40", app, 120, 40);
}

/// Issue 17 item 4 and issue 12: a compared run evaluated on a coarser ε grid shows only the
/// points it measured (no interpolated 0.05, 0.15, 0.25), no AUC of another span beside this
/// run's, and the summary says the grids differ; gradient-masking flags sit under the tables.
#[test]
fn compare_on_different_grids_shows_measured_points_only() {
    use bapw::events::{Event, MaskingFlag};
    let coarse = |events: Vec<Event>| -> Vec<Event> {
        events
            .into_iter()
            .map(|e| match e {
                Event::Eval(mut ev) => {
                    for c in ev.curves.iter_mut().chain(ev.worst_case.iter_mut()) {
                        if c.grid.len() == 7 {
                            // ε 0, 0.1, 0.2, 0.3 of the seven-point grid.
                            let keep = [0, 2, 4, 6];
                            c.grid = keep.iter().map(|&i| c.grid[i]).collect();
                            c.accuracy = keep.iter().map(|&i| c.accuracy[i]).collect();
                        }
                    }
                    ev.flags = vec![MaskingFlag {
                        check: "fgsm_above_pgd".into(),
                        message: "FGSM 0.528 is 14.0 points above PGD's 0.388 at ε 0.1".into(),
                    }];
                    Event::Eval(ev)
                }
                e => e,
            })
            .collect()
    };
    let other = bapw::tui::model::RunModel::replay(
        adversarial_preset(),
        "smoke-adv-fixture",
        &coarse(adversarial_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS)),
    );
    let mut app = app_with(
        bap_preset(),
        "smoke-bap",
        &bap_events(BAP_STEPS_PER_EPOCH * BAP_EPOCHS),
    );
    app.compare_loaded(Ok(other));
    let app = focus(app, Pane::Robustness);
    let screen = snapshot(&app, 120, 40);
    assert!(screen.contains("grids differ"), "{screen}");
    // The row at ε 0.05 has this run's numbers and empty compared cells.
    let row = screen
        .lines()
        .find(|l| l.contains(" 0.05 "))
        .expect("an ε 0.05 row");
    assert_eq!(row.matches('—').count(), 4, "{row}");
    snap!("compare_coarser_grid_120x40", app, 120, 40);
    // This run's own flags are shown under its tables.
    let mut flagged = app_with(bap_preset(), "smoke-bap", &coarse(bap_events(60)));
    flagged.handle(Action::Focus(Pane::Robustness));
    let screen = snapshot(&flagged, 80, 24);
    assert!(screen.contains("⚑ fgsm_above_pgd: FGSM 0.528"), "{screen}");
}

// ---- the GPU strip, from recorded monitor samples ----

use bapw::monitor::{GpuSample, ProcessSample, Sample};

/// Utilisation as NVML reported it every second on an H100 while a BAP run trained: DeepFool's
/// bursts of small kernels, then the training pass.
const UTIL: [u32; 30] = [
    0, 12, 64, 88, 91, 97, 95, 62, 40, 93, 98, 99, 97, 71, 55, 96, 98, 99, 99, 85, 60, 94, 97, 98,
    99, 100, 97, 78, 90, 96,
];

fn gpu_sample(i: usize, util: u32) -> Sample {
    Sample {
        at_ms: i as u64 * 1000,
        process: Some(ProcessSample {
            cpu_percent: Some(99.2),
            threads: 31,
            rss_bytes: 2_811_939_328,
        }),
        gpus: vec![GpuSample {
            cuda_index: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            utilization_pct: Some(util),
            memory_used_bytes: Some(9_348 << 20),
            memory_total_bytes: Some(81_559 << 20),
            process_memory_bytes: Some(8_830 << 20),
            power_watts: Some(412.571),
            temperature_c: Some(47),
        }],
        took_us: 910,
    }
}

/// CPU use of the engine process (two threads), without NVML.
const CPU: [f64; 30] = [
    12.0, 150.0, 197.0, 199.0, 198.5, 187.0, 199.0, 196.0, 120.0, 199.5, 198.0, 199.0, 197.0,
    180.0, 165.0, 199.0, 198.0, 199.0, 199.0, 190.0, 160.0, 194.0, 197.0, 198.0, 199.0, 200.0,
    197.0, 178.0, 190.0, 196.0,
];

fn cpu_sample(i: usize, cpu: f64) -> Sample {
    Sample {
        at_ms: i as u64 * 1000,
        process: Some(ProcessSample {
            cpu_percent: (i > 0).then_some(cpu),
            threads: 23,
            rss_bytes: 611_000_320,
        }),
        gpus: vec![],
        took_us: 84,
    }
}

/// The BAP fixture as it would run on `device`.
fn bap_on(device: &str) -> App {
    let mut events = bap_events(60);
    if let bapw::train::Event::RunStarted(r) = &mut events[0] {
        r.device = device.into();
    }
    app_with(bap_preset(), "smoke-bap", &events)
}

fn with_gpu_samples(mut app: App) -> App {
    for (i, u) in UTIL.into_iter().enumerate() {
        app.ui.gpu.push(gpu_sample(i, u));
    }
    app
}

fn with_cpu_samples(mut app: App) -> App {
    for (i, c) in CPU.into_iter().enumerate() {
        app.ui.gpu.push(cpu_sample(i, c));
    }
    app
}

#[test]
fn gpu_strip_80x24_and_120x40() {
    snap!(
        "gpu_strip_80x24",
        with_gpu_samples(bap_on("cuda:0")),
        80,
        24
    );
    snap!(
        "gpu_strip_120x40",
        with_gpu_samples(bap_on("cuda:0")),
        120,
        40
    );
}

#[test]
fn gpu_strip_cpu_fallback_80x24_and_120x40() {
    snap!(
        "gpu_strip_cpu_80x24",
        with_cpu_samples(bap_on("cpu")),
        80,
        24
    );
    snap!(
        "gpu_strip_cpu_120x40",
        with_cpu_samples(bap_on("cpu")),
        120,
        40
    );
}

#[test]
fn gpu_strip_hidden_by_g_gives_the_rows_back() {
    let mut app = with_gpu_samples(bap_on("cuda:0"));
    let with = screen(&app, 80, 24);
    assert!(
        with.contains(" cuda:0  ") && with.contains("util  96%"),
        "{with}"
    );
    app.handle(Action::ToggleGpuStrip);
    let without = screen(&app, 80, 24);
    assert!(!without.contains("util"), "{without}");
    assert_eq!(without, screen(&bap_on("cuda:0"), 80, 24));
}

// ---- chart characters (`--charts`) ----

use bapw::config::settings::ChartStyle;

fn charts(mut app: App, style: ChartStyle, pane: Pane) -> App {
    app.set_charts(style);
    focus(app, pane)
}

#[test]
fn charts_in_block_characters_80x24() {
    snap!(
        "charts_block_loss_80x24",
        charts(bap_midway(), ChartStyle::Block, Pane::Loss),
        80,
        24
    );
    snap!(
        "charts_block_schedule_80x24",
        charts(bap_midway(), ChartStyle::Block, Pane::Schedule),
        80,
        24
    );
}

#[test]
fn charts_in_ascii_80x24() {
    for (name, pane) in [
        ("charts_ascii_loss_80x24", Pane::Loss),
        ("charts_ascii_schedule_80x24", Pane::Schedule),
        ("charts_ascii_budget_80x24", Pane::Budget),
    ] {
        let app = charts(bap_midway(), ChartStyle::Ascii, pane);
        insta::assert_snapshot!(name, snapshot(&app, 80, 24));
    }
}

/// The Robustness pane draws its curves under the tables when zoomed with room to spare.
#[test]
fn charts_ascii_robustness_zoomed_120x40() {
    let mut app = charts(bap_midway(), ChartStyle::Ascii, Pane::Robustness);
    app.handle(Action::Zoom);
    let screen = snapshot(&app, 120, 40);
    assert!(!screen
        .chars()
        .any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)));
    snap!("charts_ascii_robustness_zoomed_120x40", app, 120, 40);
}
