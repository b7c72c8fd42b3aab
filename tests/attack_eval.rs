//! The robustness evaluation on a small model trained in the test (synthetic blobs, seconds):
//! the one-gradient FGSM curve equals FGSM run per ε, PGD is never weaker than FGSM, and the
//! reported curves are consistent and repeatable.
mod attack_support;
use attack_support as common;

use bapw::attack::{self, cut_linf, Budget, Model, Norm, Objective, Pgd, Start};
use bapw::config::preset::SyntheticCfg;
use bapw::data::Dataset;
use bapw::eval::{evaluate, stats, EvalSpec};
use bapw::model::Net;
use tch::Tensor;

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
    // The evaluation's FGSM curve is exactly these accuracies.
    let spec = EvalSpec {
        attacks: vec!["fgsm".into()],
        eps: vec![0.0, 0.05, 0.1, 0.2],
        deltas: vec![],
        pgd_steps: 1,
        deepfool_iters: 1,
        batch_size: 100,
        seed: 0,
    };
    let r = evaluate(model, x, y, &spec).unwrap();
    for (i, &eps) in spec.eps.iter().enumerate() {
        let direct = attack::fgsm(model, x, &obj, &Budget::Scalar(eps)).unwrap();
        assert_eq!(r.curves[0].accuracy[i], acc(&net, &direct, y), "ε {eps}");
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
