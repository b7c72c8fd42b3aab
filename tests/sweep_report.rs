//! The report's aggregation, on a sweep folder of recorded runs whose numbers are chosen so
//! every mean and spread can be worked out by hand; plus the files it writes, the README
//! embedding and the sweep view drawn from the same report.
mod common;

use bapw::events::{AttackCurve, EndState, Eval, Event, Finished};
use std::path::Path;

use bapw::sweep::folder::Plan;
use bapw::sweep::publish::embed;
use bapw::sweep::render::markdown;
use bapw::sweep::report::{accuracy_at, aggregate, collect};
use bapw::sweep::spec::SweepFile;

const SWEEP: &str = r#"
schema_version = 1
name = "recorded"
base = "smoke"
sparsity = [0.5, 0.9]
seeds = [1, 2]
[[process]]
name = "A"
[[process]]
name = "B"
[[method]]
name = "natural"
mode = "natural"
[[method]]
name = "bap"
mode = "bap"
[report]
eps = 0.1
delta = 0.05
"#;

/// FGSM accuracy at ε = 0.1: 0.5, +0.1 for process B, +0.2 for BAP, −0.1 at sparsity 0.9.
/// AUCs: FGSM = that / 2, DeepFool = 0.3 (+0.05 for B). Clean accuracy 0.9 + 0.01 × seed.
fn recorded_events(method: &str, sparsity: f64, process: &str, seed: u64) -> Vec<Event> {
    let b = if process == "B" { 0.1 } else { 0.0 };
    let bap = if method == "bap" { 0.2 } else { 0.0 };
    let sp = if sparsity > 0.8 { -0.1 } else { 0.0 };
    let a = 0.5 + b + bap + sp;
    let clean = 0.9 + 0.01 * seed as f64;
    vec![
        Event::Eval(Eval {
            step: 10,
            epoch: 1,
            examples: 100,
            clean_acc: clean,
            curves: vec![
                AttackCurve {
                    attack: "fgsm".into(),
                    grid: vec![0.0, 0.1, 0.2],
                    accuracy: vec![clean, a, 0.1],
                    auc: a / 2.0,
                    auc_se: None,
                },
                AttackCurve {
                    attack: "deepfool".into(),
                    grid: vec![0.0, 0.1],
                    accuracy: vec![clean, 0.2],
                    auc: 0.3 + b / 2.0,
                    auc_se: None,
                },
            ],
            seconds: 1.0,
            ..Default::default()
        }),
        Event::Finished(Finished {
            step: 10,
            state: EndState::Finished,
            sparsity,
            test_acc: clean,
            seconds: 2.0,
        }),
    ]
}

/// A sweep folder as `bapw sweep` leaves it, with one run (bap, 0.9, B, seed 2) killed
/// before it finished.
fn recorded_sweep(dir: &Path) -> Plan {
    let sweep = SweepFile::parse("recorded.toml", SWEEP).unwrap();
    let plan = Plan {
        name: sweep.name.clone(),
        description: String::new(),
        base: sweep.base.clone(),
        report: sweep.report.clone(),
        runs: sweep.expand(),
    };
    std::fs::write(dir.join("plan.json"), serde_json::to_string(&plan).unwrap()).unwrap();
    for r in &plan.runs {
        let rd = dir.join("runs").join(&r.id);
        std::fs::create_dir_all(&rd).unwrap();
        let mut events = recorded_events(&r.method, r.sparsity, &r.process, r.seed);
        if r.id == "bap-s0.9-B-seed2" {
            events.pop();
        }
        let text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(rd.join("events.jsonl"), text).unwrap();
    }
    plan
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn report_means_and_spreads_match_the_hand_worked_numbers() {
    let d = tempfile::tempdir().unwrap();
    let plan = recorded_sweep(d.path());
    let results = collect(d.path(), &plan).unwrap();
    assert_eq!(results.len(), 15, "the killed run is left out");
    let r = aggregate(&plan, &results);
    assert_eq!((r.planned, r.finished), (16, 15));
    assert_eq!(r.attacks, ["fgsm", "deepfool"]);
    assert_eq!(r.cells.len(), 4);

    let cell = |m: &str, s: f64| {
        r.cells
            .iter()
            .find(|c| c.method == m && c.sparsity == s)
            .unwrap()
    };
    // BAP at 0.5: FGSM@0.1 = 0.7 (A) and 0.8 (B), two seeds each.
    let c = cell("bap", 0.5);
    assert_eq!(c.runs, 4);
    assert!(close(c.clean_acc, 0.915));
    assert!(close(c.robust["fgsm"].unwrap(), 0.75));
    assert!(close(c.auc["fgsm"], 0.375));
    assert!(close(c.auc["deepfool"], 0.325));
    // DeepFool at δ = 0.05 is halfway along its [0, 0.1] segment: (clean + 0.2) / 2.
    assert!(close(c.robust["deepfool"].unwrap(), (0.915 + 0.2) / 2.0));
    // Per-run mean AUC: A (0.35 + 0.3) / 2 = 0.325, B (0.4 + 0.35) / 2 = 0.375.
    assert!(close(c.auc_mean, 0.35));
    assert!(close(c.spread.unwrap(), 0.05));
    // BAP at 0.9 lost (B, seed 2): B keeps only seed 1, so the seed-averaged process means
    // are still 0.3 (A) and 0.35 (B), but the cell's run-weighted mean tilts towards A.
    let c = cell("bap", 0.9);
    assert_eq!(c.runs, 3);
    assert!(close(c.clean_acc, (0.91 + 0.92 + 0.91) / 3.0));
    assert!(close(c.spread.unwrap(), 0.05));
    assert!(close(c.auc_mean, (0.3 * 2.0 + 0.35) / 3.0));
    // Natural at 0.9: FGSM@0.1 = 0.4 and 0.5.
    assert!(close(cell("natural", 0.9).robust["fgsm"].unwrap(), 0.45));

    // Overall: means over the two sparsities of the cells above.
    let o = |m: &str| r.overall.iter().find(|o| o.method == m).unwrap();
    assert_eq!(
        r.overall
            .iter()
            .map(|o| o.method.as_str())
            .collect::<Vec<_>>(),
        ["natural", "bap"]
    );
    assert!(close(o("natural").accuracy, 0.915));
    // natural: 0.5 -> runs (0.25+0.3)/2, (0.3+0.35)/2 -> 0.3; 0.9 -> 0.275; mean 0.2875.
    assert!(close(o("natural").robustness, 0.2875));
    assert!(close(o("natural").instability.unwrap(), 0.05));
    assert!(close(
        o("bap").robustness,
        (0.35 + (0.3 * 2.0 + 0.35) / 3.0) / 2.0
    ));
}

#[test]
fn curves_read_at_a_budget_interpolate_between_grid_points() {
    let g = [0.0, 0.1, 0.3];
    let a = [1.0, 0.6, 0.2];
    assert_eq!(accuracy_at(&g, &a, 0.1), Some(0.6));
    assert!(close(accuracy_at(&g, &a, 0.2).unwrap(), 0.4));
    assert!(close(accuracy_at(&g, &a, 0.05).unwrap(), 0.8));
    assert_eq!(
        accuracy_at(&g, &a, 0.5),
        None,
        "off the grid is not extrapolated"
    );
}

#[test]
fn report_files_and_readme_embedding() {
    let d = tempfile::tempdir().unwrap();
    recorded_sweep(d.path());
    let out = d.path().join("out");
    let readme = d.path().join("README.md");
    std::fs::write(
        &readme,
        "# Title\n\nbefore\n<!-- bapw-report:begin recorded -->\nold text\n<!-- bapw-report:end recorded -->\nafter\n",
    )
    .unwrap();
    // Relative paths, as `make readme-report` gives them.
    let o = common::bapw()
        .current_dir(d.path())
        .args(["report", ".", "--out", "out", "--embed", "README.md"])
        .env("BAPW_DATA_DIR", d.path().join("data"))
        .env("BAPW_CONFIG_DIR", d.path().join("config"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let mut lines = csv.lines();
    // The columns of reports before worst cases come first, unchanged; R (here, with no worst
    // case recorded, the AUC mean), the seed count and the standard deviations across seeds
    // are appended.
    assert_eq!(
        lines.next().unwrap(),
        "sparsity,method,runs,clean_acc,fgsm_at_budget,deepfool_at_budget,auc_fgsm,auc_deepfool,auc_mean,auc_spread\
         ,r,seeds,clean_acc_sd,r_sd,spread_sd,flagged_runs"
    );
    let bap05: Vec<f64> = csv
        .lines()
        .find(|l| l.starts_with("0.5,bap,"))
        .unwrap()
        .split(',')
        .skip(3)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(close(bap05[0], 0.915) && close(bap05[1], 0.75) && close(bap05[6], 0.05));
    // r = the AUC mean 0.35; 2 seeds; clean accuracy 0.91 (seed 1) and 0.92 (seed 2).
    assert!(close(bap05[7], 0.35) && close(bap05[8], 2.0));
    assert!((bap05[9] - 0.005f64.sqrt() / 10.0).abs() < 1e-12);
    assert_eq!(
        std::fs::read_to_string(out.join("runs.csv"))
            .unwrap()
            .lines()
            .count(),
        16
    );
    for svg in [
        "auc-vs-sparsity.svg",
        "robustness-s0.5.svg",
        "robustness-s0.9.svg",
    ] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("bap"), "{svg}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("15 of 16 runs finished"), "{md}");
    // Figures now carry ± the standard deviation across the 2 seeds, three decimals (this
    // assertion read "| bap | 4 | 0.9150 | 0.7500 |" before intervals).
    assert!(
        md.contains("| bap | 4 | 0.915 ± 0.007 | 0.750 ± 0.000 |"),
        "{md}"
    );
    assert!(md.contains("training seeds 1, 2"), "{md}");
    let text = std::fs::read_to_string(&readme).unwrap();
    assert!(text.starts_with("# Title\n\nbefore\n<!-- bapw-report:begin recorded -->\n"));
    assert!(text.ends_with("<!-- bapw-report:end recorded -->\nafter\n"));
    assert!(!text.contains("old text"));
    // Images are linked relative to the README.
    assert!(text.contains("](out/auc-vs-sparsity.svg)"), "{text}");
    // Embedding twice gives the same file.
    let plan = Plan::load(d.path()).unwrap();
    let r = aggregate(&plan, &collect(d.path(), &plan).unwrap());
    embed(&readme, "recorded", &markdown(&r, "out")).unwrap();
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), text);
}

#[test]
fn sweep_view_shows_the_report_table_and_run_states() {
    use bapw::tui::sweep_view::{render, SweepView, ViewAction};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let d = tempfile::tempdir().unwrap();
    recorded_sweep(d.path());
    let mut v = SweepView::load(d.path()).unwrap();
    let draw = |v: &SweepView| draw_at(v, 100, 30);
    insta::assert_snapshot!("sweep_view_100x30", draw(&v));
    // Narrower: whole columns go (and say so) rather than "FGSM@0.1" reading "FGSM@0"; the
    // numbers left are never cut into other numbers; too narrow says so.
    let s80 = draw_at(&v, 80, 24);
    insta::assert_snapshot!("sweep_view_80x24", s80);
    let s60 = draw_at(&v, 60, 16);
    insta::assert_snapshot!("sweep_view_60x16", s60);
    for (s, size) in [(&s80, "80x24"), (&s60, "60x16")] {
        let body = s.lines().filter(|l| !l.contains("sparsity "));
        for word in body.flat_map(|l| l.split(|c: char| c.is_whitespace() || c == '│')) {
            if let Some((_, b)) = word.split_once('@') {
                assert!(
                    ["0.1", "0.05"].contains(&b),
                    "{size}: a cut budget {word}:\n{s}"
                );
            }
            if word.starts_with("0.") && word.chars().all(|c| c.is_ascii_digit() || c == '.') {
                assert_eq!(word.len(), 6, "{size}: a cut number {word}:\n{s}");
            }
        }
    }
    assert!(s80.contains("FGSM@0.1"), "{s80}");
    assert!(s60.contains("columns hidden"), "{s60}");
    // The narrowest the view draws keeps the method and its headline figure whole.
    let s40 = draw_at(&v, 40, 14);
    assert!(
        s40.contains("natural 0.9150") && s40.contains("0.3000"),
        "{s40}"
    );
    fn draw_at(v: &SweepView, w: u16, h: u16) -> String {
        let theme = bapw::config::theme::Theme::monochrome();
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(f, v, &bapw::tui::style::Styles::new(&theme)))
            .unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert_eq!(v.on_key(key(KeyCode::Right)), ViewAction::None);
    let screen = draw(&v);
    assert!(screen.contains("sparsity 0.9 (2/2)"), "{screen}");
    // The killed run is the last one.
    v.on_key(key(KeyCode::End));
    let screen = draw(&v);
    assert!(
        screen.contains("bap-s0.9-B-seed2") && screen.contains("interrupted"),
        "{screen}"
    );
    v.on_key(key(KeyCode::Home));
    v.on_key(key(KeyCode::Down));
    match v.on_key(key(KeyCode::Enter)) {
        ViewAction::Watch(p) => assert!(p.ends_with("runs/bap-s0.5-A-seed1")),
        other => panic!("{other:?}"),
    }
    assert_eq!(v.on_key(key(KeyCode::Char('q'))), ViewAction::Quit);
}

const SWEEP_3_SEEDS: &str = r#"
schema_version = 1
name = "worst"
base = "smoke"
sparsity = [0.5]
seeds = [1, 2, 3]
[[process]]
name = "A"
[[process]]
name = "B"
[[method]]
name = "natural"
mode = "natural"
[[method]]
name = "bap"
mode = "bap"
[report]
eps = 0.1
delta = 0.05
"#;

/// A run that recorded the worst cases: worst L∞ AUC 0.3 (+0.1 for BAP, +0.02 for process
/// B, +0.01 × seed), worst L2 AUC 0.2 (+0.05 for BAP), each with a standard error of 0.02;
/// natural runs of seed 2 raise `fgsm_above_pgd`. R = (worst L∞ + worst L2) / 2.
fn worst_case_events(method: &str, process: &str, seed: u64) -> Vec<Event> {
    let bap = if method == "bap" { 1.0 } else { 0.0 };
    let b = if process == "B" { 0.02 } else { 0.0 };
    let wl = 0.3 + 0.1 * bap + b + 0.01 * seed as f64;
    let w2 = 0.2 + 0.05 * bap;
    let curve = |attack: &str, grid: Vec<f64>, auc: f64| AttackCurve {
        attack: attack.into(),
        accuracy: grid.iter().map(|g| 0.9 - g).collect(),
        grid,
        auc,
        auc_se: Some(0.02),
    };
    let flags = if method == "natural" && seed == 2 {
        vec![bapw::events::MaskingFlag {
            check: "fgsm_above_pgd".into(),
            message: "FGSM accuracy 0.700 is 20.0 points above PGD's 0.500 at ε 0.1".into(),
        }]
    } else {
        vec![]
    };
    let settings = bapw::eval::EvalSpec::from_preset(&bapw::config::preset::Preset::default())
        .unwrap()
        .settings(10);
    vec![
        Event::Eval(Eval {
            step: 10,
            epoch: 1,
            examples: 100,
            clean_acc: 0.9,
            curves: vec![
                curve("fgsm", vec![0.0, 0.1, 0.2], wl + 0.1),
                curve("apgd", vec![0.0, 0.1, 0.2], wl),
                curve("deepfool", vec![0.0, 0.1], w2),
            ],
            worst_case: vec![
                curve("worst-linf", vec![0.0, 0.1, 0.2], wl),
                curve("worst-l2", vec![0.0, 0.1], w2),
            ],
            flags,
            subset: Some(bapw::events::EvalSubset {
                seed: 0,
                size: 100,
                of: 1000,
            }),
            settings: Some(settings),
            seconds: 1.0,
        }),
        Event::Finished(Finished {
            step: 10,
            state: EndState::Finished,
            sparsity: 0.5,
            test_acc: 0.9,
            seconds: 2.0,
        }),
    ]
}

fn worst_case_sweep(dir: &Path, text: &str) -> Plan {
    let sweep = SweepFile::parse("worst.toml", text).unwrap();
    let plan = Plan {
        name: sweep.name.clone(),
        description: String::new(),
        base: sweep.base.clone(),
        report: sweep.report.clone(),
        runs: sweep.expand(),
    };
    for r in &plan.runs {
        let rd = dir.join("runs").join(&r.id);
        std::fs::create_dir_all(&rd).unwrap();
        let text: String = worst_case_events(&r.method, &r.process, r.seed)
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(rd.join("events.jsonl"), text).unwrap();
    }
    plan
}

#[test]
fn r_is_the_worst_case_auc_with_its_spread_across_seeds_and_the_flags() {
    let d = tempfile::tempdir().unwrap();
    let plan = worst_case_sweep(d.path(), SWEEP_3_SEEDS);
    let r = aggregate(&plan, &collect(d.path(), &plan).unwrap());
    assert_eq!(r.seeds, [1, 2, 3]);
    assert_eq!(r.attacks, ["fgsm", "apgd", "deepfool"]);
    assert_eq!(r.worst, ["worst-linf", "worst-l2"]);
    let cell = |m: &str| r.cells.iter().find(|c| c.method == m).unwrap();
    // BAP, seed k: R = (0.4 + 0.01k + 0.25) / 2 (A) and 0.01 more (B): per-seed means 0.335,
    // 0.340, 0.345 -> R 0.340 ± 0.005; spread 0.01 at every seed -> 0.01 ± 0.
    let bap = cell("bap");
    assert!((bap.r - 0.34).abs() < 1e-12, "{bap:?}");
    assert!((bap.r_est.sd().unwrap() - 0.005).abs() < 1e-12);
    assert!((bap.spread.unwrap() - 0.01).abs() < 1e-12);
    assert!(bap.spread_est.as_ref().unwrap().sd().unwrap() < 1e-12);
    // Not the mean of the attacks' AUCs (what R was before worst cases).
    assert!((bap.auc_mean - bap.r).abs() > 0.01);
    let nat = cell("natural");
    assert!((nat.r - 0.265).abs() < 1e-12);
    assert_eq!((nat.flagged, bap.flagged), (2, 0));
    let o = |m: &str| r.overall.iter().find(|o| o.method == m).unwrap();
    assert!((o("bap").robustness - 0.34).abs() < 1e-12);
    assert!((o("natural").r_est.sd().unwrap() - 0.005).abs() < 1e-12);
    let md = markdown(&r, "img");
    for want in [
        "12 of 12 runs finished, training seeds 1, 2, 3.",
        "100 test images, the same in every run: a class-stratified random draw from the 1000 \
         with subset seed 0",
        "apgd: APGD-CE, then APGD-T",
        "AutoAttack-lite: FAB-T and Square are not included",
        "**R** = the worst-case AUC",
        "| method | runs | clean | FGSM@0.1 | APGD@0.1 | DF-cut@0.05 | worst L∞@0.1 | \
         worst L2@0.05 | AUC FGSM | AUC APGD | AUC DF-cut | AUC worst L∞ | AUC worst L2 | R | \
         spread | flagged |",
        "| 0.340 ± 0.005 | 0.010 ± 0.000 | 0 of 6 |",
        "| natural | 6 | 0.900 ± 0.000 | 0.800 ± 0.000 |",
        "| 0.265 ± 0.005 | 0.010 ± 0.000 | 2 of 6 |",
        "- natural: `fgsm_above_pgd` in 2 of 6 runs, e.g. `natural-s0.5-A-seed2`: FGSM accuracy \
         0.700 is 20.0 points above PGD's 0.500 at ε 0.1",
        "about 3.5 standard deviations",
    ] {
        assert!(md.contains(want), "{want}\n----\n{md}");
    }
}

#[test]
fn with_one_seed_the_report_gives_intervals_over_the_images() {
    let d = tempfile::tempdir().unwrap();
    let one = SWEEP_3_SEEDS.replace("seeds = [1, 2, 3]", "seeds = [1]");
    let plan = worst_case_sweep(d.path(), &one);
    let r = aggregate(&plan, &collect(d.path(), &plan).unwrap());
    let bap = r.cells.iter().find(|c| c.method == "bap").unwrap();
    // R of each run has standard error √(0.02² + 0.02²) / 2; the cell's mean of two runs
    // √2 of that over 2 = 0.01: R (0.33 for A, 0.34 for B) 0.335 ± 1.96 × 0.01.
    let (lo, hi) = bap.r_est.interval.unwrap();
    assert!((bap.r - 0.335).abs() < 1e-12);
    assert!((hi - lo - 2.0 * 1.959_963_984_540_054 * 0.01).abs() < 1e-9);
    // The spread's (0.01) error is that of a difference of two runs' R.
    let (slo, shi) = bap.spread_est.as_ref().unwrap().interval.unwrap();
    assert!((shi - 0.01 - 1.959_963_984_540_054 * 0.02).abs() < 1e-9 && slo == 0.0);
    // FGSM@0.1 of each run: 0.8 of 100 images; pooled 160 of 200 -> Wilson.
    let fgsm = &bap.robust_est["fgsm"];
    assert_eq!(fgsm.interval, Some(bapw::eval::stats::wilson(160, 200)));
    let md = markdown(&r, "img");
    assert!(md.contains("| 0.335 [0.315, 0.355] |"), "{md}");
    assert!(
        md.contains("95 % interval over the evaluated images"),
        "{md}"
    );
}
