//! The robustness evaluation on a small model trained in the test (synthetic blobs, seconds):
//! the one-gradient FGSM curve equals FGSM run per ε, PGD is never weaker than FGSM, and the
//! reported curves are consistent and repeatable. The counting rule (robust = correct clean and
//! under the attack at every budget up to this one) as a property of every attack's curve, on
//! trained and on random models, including an image DeepFool "repairs"; the worst case; the
//! stratified subset; the uniform attack's labels (`adv.labels`).
mod attack_support;
use attack_support as common;

use bapw::attack::{self, cut_linf, Budget, Model, Norm, Objective, Pgd, Start};
use bapw::config::preset::SyntheticCfg;
use bapw::data::Dataset;
use bapw::eval::{evaluate, evaluate_test_set, stats, EvalSpec, ATTACKS};
use bapw::model::Net;
use tch::{Device, Kind, Tensor};

fn blobs() -> Dataset {
    bapw::data::synthetic::blobs(&SyntheticCfg {
        train: 2048,
        test: 256,
        channels: 1,
        height: 8,
        width: 8,
        classes: 4,
        noise: 0.35,
        seed: 3,
    })
}

/// Callers hold `common::rng_lock()`: the data and the model come from the seeded generator.
fn trained() -> (Dataset, Net) {
    let data = blobs();
    let net = common::train(common::mlp(&[64, 32]), &data, 150, 64, 3e-3, 5);
    (data, net)
}

fn acc(net: &Net, x: &Tensor, y: &Tensor) -> f64 {
    attack::accuracy(&tch::no_grad(|| net.forward(x)), y)
}

fn correct(net: &Net, x: &Tensor, y: &Tensor) -> Tensor {
    tch::no_grad(|| net.forward(x))
        .argmax(-1, false)
        .eq_tensor(y)
}

/// An evaluation of every attack with small settings (APGD: 10 steps).
fn spec(seed: i64) -> EvalSpec {
    EvalSpec {
        attacks: ATTACKS.iter().map(|a| a.to_string()).collect(),
        eps: vec![0.0, 0.05, 0.1, 0.2],
        deltas: vec![0.0, 0.05, 0.1, 0.3],
        pgd_steps: 5,
        pgd_restarts: 1,
        apgd_steps: 10,
        apgd_restarts: 1,
        deepfool_iters: 10,
        batch_size: 100,
        seed,
    }
}

#[test]
fn fgsm_curve_from_one_huge_step_is_fgsm_at_each_eps() {
    let _rng = common::rng_lock();
    let (data, net) = trained();
    let model: Model = &net;
    let (x, y) = (&data.test_x, &data.test_y);
    let obj = Objective::CrossEntropy(y);
    let huge = attack::fgsm(model, x, &obj, &Budget::Scalar(100.0)).unwrap();
    // Every pixel saturates along the gradient sign (or stays where the sign is 0).
    let sat = huge
        .eq(0.0)
        .logical_or(&huge.eq(1.0))
        .logical_or(&huge.eq_tensor(x));
    assert!(bool::try_from(sat.all()).unwrap());
    for eps in [0.0, 0.01, 0.05, 0.1, 0.2, 0.5] {
        let cut = cut_linf(x, &huge, &Budget::Scalar(eps));
        let direct = attack::fgsm(model, x, &obj, &Budget::Scalar(eps)).unwrap();
        // x + min(1 - x, ε) vs min(x + ε, 1): equal up to one float rounding.
        let diff = (&cut - &direct).abs().max().double_value(&[]);
        assert!(diff <= 1e-7, "ε {eps}: {diff}");
        let (pc, pd) = tch::no_grad(|| {
            (
                net.forward(&cut).argmax(-1, false),
                net.forward(&direct).argmax(-1, false),
            )
        });
        assert!(pc.equal(&pd), "ε {eps}: predictions differ");
    }
    // The evaluation's FGSM curve counts exactly the images correct clean and under FGSM at
    // every ε up to each one.
    let spec = EvalSpec {
        attacks: vec!["fgsm".into()],
        eps: vec![0.0, 0.05, 0.1, 0.2],
        ..spec(1)
    };
    let r = evaluate(model, x, y, &spec).unwrap();
    let mut alive = correct(&net, x, y);
    for (i, &eps) in spec.eps.iter().enumerate() {
        let direct = attack::fgsm(model, x, &obj, &Budget::Scalar(eps)).unwrap();
        alive = alive.logical_and(&correct(&net, &direct, y));
        let want = alive
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert_eq!(r.curves[0].accuracy[i], want, "ε {eps}");
    }
}

#[test]
fn pgd_never_does_worse_than_fgsm_on_a_trained_model() {
    let _rng = common::rng_lock();
    let (data, net) = trained();
    let model: Model = &net;
    let (x, y) = (&data.test_x, &data.test_y);
    let obj = Objective::CrossEntropy(y);
    let clean = acc(&net, x, y);
    assert!(clean > 0.8, "the test needs a trained model: {clean}");
    for eps in [0.02, 0.05, 0.1, 0.2] {
        let f = attack::fgsm(model, x, &obj, &Budget::Scalar(eps)).unwrap();
        let pgd = Pgd {
            norm: Norm::Linf,
            steps: 20,
            step_size: None,
            start: Start::Clean,
            restarts: 1,
        };
        let p = pgd.run(model, x, &obj, &Budget::Scalar(eps)).unwrap();
        let (af, ap) = (acc(&net, &f, y), acc(&net, &p, y));
        assert!(ap <= af, "ε {eps}: PGD accuracy {ap} > FGSM accuracy {af}");
        assert!(af < clean || eps < 0.05, "ε {eps}: FGSM did nothing");
    }
    // Restarts keep each example's strongest run: never weaker than one run from the same
    // seed.
    let eps = Budget::Scalar(0.1);
    let one = Pgd {
        restarts: 1,
        steps: 5,
        ..Pgd::default()
    };
    let three = Pgd {
        restarts: 3,
        ..one.clone()
    };
    tch::manual_seed(9);
    let a1 = acc(&net, &one.run(model, x, &obj, &eps).unwrap(), y);
    tch::manual_seed(9);
    let a3 = acc(&net, &three.run(model, x, &obj, &eps).unwrap(), y);
    assert!(a3 <= a1, "restarts {a3} vs one run {a1}");
}

#[test]
fn evaluation_curves_are_consistent_and_repeatable() {
    let _rng = common::rng_lock();
    let (data, net) = trained();
    let model: Model = &net;
    let (x, y) = (&data.test_x, &data.test_y);
    let spec = EvalSpec {
        attacks: vec!["deepfool".into(), "pgd".into(), "fgsm".into()],
        // Unsorted with a duplicate: `checked` sorts and dedups.
        eps: vec![0.1, 0.0, 0.05, 0.1],
        deltas: vec![0.0, 0.05, 0.1, 0.3],
        pgd_steps: 5,
        pgd_restarts: 1,
        apgd_steps: 10,
        apgd_restarts: 1,
        deepfool_iters: 20,
        batch_size: 100, // 256 images: batches of 100, 100, 56
        seed: 1,
    }
    .checked()
    .unwrap();
    assert_eq!(spec.eps, vec![0.0, 0.05, 0.1]);
    let r = evaluate(model, x, y, &spec).unwrap();
    assert_eq!(r.examples, 256);
    assert_eq!(r.clean_acc, acc(&net, x, y));
    let names: Vec<&str> = r.curves.iter().map(|c| c.attack.as_str()).collect();
    assert_eq!(names, ["deepfool", "pgd", "fgsm"]);
    for c in &r.curves {
        assert_eq!(
            c.accuracy[0], r.clean_acc,
            "{}: budget 0 is clean",
            c.attack
        );
        assert_eq!(c.auc, stats::auc(&c.grid, &c.accuracy));
        assert!(c.accuracy.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    // DeepFool with 20 iterations fools nearly everything once the cut is loose.
    let df = &r.curves[0];
    assert!(df.accuracy[3] < 0.1 * r.clean_acc, "{:?}", df.accuracy);
    let d = r.deepfool_rms.as_ref().unwrap();
    assert_eq!(d.counts.iter().sum::<u64>(), 256);
    assert!(d.p50 > 0.0);
    // Same seed, same numbers.
    let again = evaluate(model, x, y, &spec).unwrap();
    for (a, b) in r.curves.iter().zip(&again.curves) {
        assert_eq!(a.accuracy, b.accuracy, "{}", a.attack);
    }
    // Bad specs are errors.
    let bad = EvalSpec {
        attacks: vec!["cw".into()],
        ..spec.clone()
    };
    assert!(bad.checked().is_err());
    let bad = EvalSpec {
        eps: vec![-0.1],
        ..spec
    };
    assert!(bad.checked().is_err());
}

/// The counting property of one report: every curve (per attack and worst case) starts at
/// the clean accuracy when its grid starts at 0, never rises, never exceeds the clean
/// accuracy; each worst case is at or below every attack of its threat model.
fn check_counting(r: &bapw::eval::Report, what: &str) {
    for c in r.curves.iter().chain(&r.worst_case) {
        if c.grid[0] == 0.0 {
            assert_eq!(c.accuracy[0], r.clean_acc, "{what} {}", c.attack);
        }
        for w in c.accuracy.windows(2) {
            assert!(w[1] <= w[0], "{what} {}: rises {:?}", c.attack, c.accuracy);
        }
        assert!(
            c.accuracy.iter().all(|a| *a <= r.clean_acc),
            "{what} {}: above clean {} {:?}",
            c.attack,
            r.clean_acc,
            c.accuracy
        );
        assert_eq!(c.auc, stats::auc(&c.grid, &c.accuracy));
        assert!(c.auc_se.unwrap() >= 0.0);
    }
    for w in &r.worst_case {
        let l2 = w.attack == "worst-l2";
        let members: Vec<_> = r
            .curves
            .iter()
            .filter(|c| bapw::eval::is_l2(&c.attack) == l2)
            .collect();
        assert!(!members.is_empty(), "{what}: {} without attacks", w.attack);
        for m in members {
            for (a, b) in w.accuracy.iter().zip(&m.accuracy) {
                assert!(a <= b, "{what}: {} above {}", w.attack, m.attack);
            }
        }
    }
}

#[test]
fn every_curve_counts_only_images_correct_clean_and_under_attack() {
    let _rng = common::rng_lock();
    // A trained model, and random untrained ones (about a quarter right clean: attacks often
    // push a wrong image into its true class, which the old counting took for robustness).
    let (data, net) = trained();
    let model = |t: &Tensor| net.forward(t);
    let r = evaluate(&model, &data.test_x, &data.test_y, &spec(3)).unwrap();
    check_counting(&r, "trained");
    let names: Vec<&str> = r.worst_case.iter().map(|c| c.attack.as_str()).collect();
    assert_eq!(names, ["worst-linf", "worst-l2"]);
    // The strongest attacks bite: APGD at the largest ε is no weaker than PGD by more than a
    // few images (they are different attacks, but PGD with 5 steps is the weaker one).
    let at = |name: &str| r.curves.iter().find(|c| c.attack == name).unwrap();
    assert!(at("apgd").accuracy[3] <= at("pgd").accuracy[3] + 0.02);
    let mut repaired_somewhere = false;
    for seed in 0..4 {
        tch::manual_seed(100 + seed);
        let cfg = common::mlp(&[32]);
        let random = Net::new(&cfg, (1, 8, 8), 4, Device::Cpu).unwrap();
        let model = |t: &Tensor| random.forward(t);
        let r = evaluate(&model, &data.test_x, &data.test_y, &spec(seed)).unwrap();
        check_counting(&r, &format!("random model {seed}"));
        // Is there an image wrong clean but right under a DeepFool cut? (the property above
        // is what keeps it from counting)
        let df = bapw::attack::DeepFool {
            max_iter: 10,
            ..Default::default()
        }
        .run(&model, &data.test_x)
        .unwrap();
        let wrong = correct(&random, &data.test_x, &data.test_y).logical_not();
        let fixed = correct(&random, &df.x_adv, &data.test_y);
        repaired_somewhere |= bool::try_from(wrong.logical_and(&fixed).any()).unwrap();
    }
    assert!(
        repaired_somewhere,
        "the random models should include repaired images"
    );
}

#[test]
fn an_image_deepfool_repairs_is_not_robust() {
    let _rng = common::rng_lock(); // the evaluation seeds LibTorch's generator
                                   // Two classes on 4 pixels: class 0 when pixel 0 > 0.5 (logits x0 - 0.5 and 0.5 - x0).
    let w = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0]).view([2, 4]);
    let b = Tensor::from_slice(&[-0.5f64, 0.5]);
    let model = move |x: &Tensor| x.flatten(1, -1).matmul(&w.tr()) + &b;
    // Image A (label 0, pixel 0.4) is predicted 1: wrong. DeepFool moves it 0.1 to the
    // boundary (RMS 0.05), times 1.02: it lands in class 0, its true class. Image B (label 0,
    // pixel 0.7) is right and DeepFool moves it 0.2 (RMS 0.1) into class 1.
    let x = Tensor::from_slice(&[0.4f64, 0.5, 0.5, 0.5, 0.7, 0.5, 0.5, 0.5]).view([2, 4]);
    let y = Tensor::from_slice(&[0i64, 0]);
    let df = bapw::attack::DeepFool::default().run(&model, &x).unwrap();
    let after = model(&df.x_adv).argmax(-1, false);
    assert_eq!(
        Vec::<i64>::try_from(&after).unwrap(),
        [0, 1],
        "A repaired, B fooled"
    );
    let spec = EvalSpec {
        attacks: vec![
            "deepfool".into(),
            "fgsm".into(),
            "pgd".into(),
            "apgd".into(),
        ],
        eps: vec![0.0, 0.05, 0.3],
        deltas: vec![0.0, 0.04, 0.2],
        ..spec(0)
    };
    let r = evaluate(&model, &x, &y, &spec).unwrap();
    assert_eq!(r.clean_acc, 0.5);
    let df = &r.curves[0];
    // δ 0.04 cuts B to pixel 0.62 (still right) and A to 0.48 (still wrong); at δ 0.2 A is
    // uncut and predicted 0, but it was wrong clean: 0 robust, not 0.5.
    assert_eq!(df.accuracy, [0.5, 0.5, 0.0]);
    check_counting(&r, "repaired");
    // APGD-T needs 4 classes: with 2, APGD-CE runs alone and the settings say so.
    assert_eq!(r.settings.apgd_targets, 0);
}

#[test]
fn the_test_subset_is_stratified_and_recorded() {
    let _rng = common::rng_lock();
    let (data, net) = trained();
    let model = |t: &Tensor| net.forward(t);
    let spec = EvalSpec {
        attacks: vec!["fgsm".into()],
        ..spec(0)
    };
    let (r, subset) = evaluate_test_set(&model, &data.test_x, &data.test_y, 40, 7, &spec).unwrap();
    assert_eq!((subset.seed, subset.size, subset.of), (7, 40, 256));
    assert_eq!(r.examples, 40);
    // Same images as the subset module picks, evaluated directly.
    let labels = Vec::<i64>::try_from(&data.test_y).unwrap();
    let idx = bapw::eval::subset::stratified(&labels, 40, 7);
    let ix = Tensor::from_slice(&idx);
    let direct = evaluate(
        &model,
        &data.test_x.index_select(0, &ix),
        &data.test_y.index_select(0, &ix),
        &spec,
    )
    .unwrap();
    assert_eq!(direct.curves[0].accuracy, r.curves[0].accuracy);
    // 0 means every image.
    let (all, subset) = evaluate_test_set(&model, &data.test_x, &data.test_y, 0, 7, &spec).unwrap();
    assert_eq!((all.examples, subset.size), (256, 256));
}

#[test]
fn the_uniform_attack_uses_predicted_labels_unless_told_otherwise() {
    use bapw::config::preset::{AdvLabels, Preset};
    use bapw::train::step::{AdvOutcome, StepKit};
    let _rng = common::rng_lock();
    let (data, net) = trained();
    let x = data.test_x.narrow(0, 0, 64);
    // Labels that disagree with the model on every image: (prediction + 1) mod 4.
    let pred = tch::no_grad(|| net.forward(&x)).argmax(-1, false);
    let y = (&pred + 1).remainder(4);
    let model = |t: &Tensor| net.forward(t);
    let fgsm_on = |labels: &Tensor| {
        attack::fgsm(
            &model,
            &x,
            &Objective::CrossEntropy(labels),
            &Budget::Scalar(0.1),
        )
        .unwrap()
    };
    let text = |labels: &str| {
        format!(
            "schema_version = 1\ninherit = \"smoke\"\n[train]\nmode = \"adversarial\"\n\
             [adv]\nattack = \"fgsm\"\neps = 0.1\n{labels}"
        )
    };
    for (line, want) in [
        ("", &pred),
        ("labels = \"predicted\"", &pred),
        ("labels = \"true\"", &y),
    ] {
        let p = Preset::from_toml_str("t.toml", &text(line), &[]).unwrap();
        let AdvOutcome::Examples { x_adv, .. } =
            StepKit::new(&p).examples(&net, &x, &y, 0).unwrap()
        else {
            panic!("adversarial mode makes examples")
        };
        assert!(x_adv.equal(&fgsm_on(want)), "{line:?}");
    }
    assert_eq!(Preset::default().adv.labels, AdvLabels::Predicted);
    let bad = Preset::from_toml_str("t.toml", &text("labels = \"gold\""), &[]).unwrap_err();
    let msg = bad.to_string();
    assert!(
        msg.contains("t.toml") && msg.contains("labels") && msg.contains("gold"),
        "{msg}"
    );
}
