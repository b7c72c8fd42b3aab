//! The report's aggregation, on a sweep folder of recorded runs whose numbers are chosen so
//! every mean and spread can be worked out by hand; plus the files it writes, the README
//! embedding and the sweep view drawn from the same report.
mod common;

use bapw::events::{AttackCurve, EndState, Eval, Event, Finished};
use std::path::Path;

use bapw::sweep::folder::Plan;
use bapw::sweep::publish::embed;
use bapw::sweep::report::{accuracy_at, aggregate, collect, markdown};
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
    assert_eq!(
        lines.next().unwrap(),
        "sparsity,method,runs,clean_acc,fgsm_at_budget,deepfool_at_budget,auc_fgsm,auc_deepfool,auc_mean,auc_spread"
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
    assert!(md.contains("| bap | 4 | 0.9150 | 0.7500 |"), "{md}");
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
    let draw = |v: &SweepView| {
        let theme = bapw::config::theme::Theme::monochrome();
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
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
    };
    insta::assert_snapshot!("sweep_view_100x30", draw(&v));
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
