//! Properties every attack must have, on tiny synthetic models (milliseconds each): ε = 0
//! changes nothing, outputs stay in [0, 1] and inside the budget ball (scalar and per-example
//! budgets), closed forms on linear models, DeepFool's analytic distances on affine
//! classifiers, batch independence, and no effect on the model's weights or gradients. APGD:
//! on affine classifiers it fools exactly the images whose boundary lies inside the ball.
mod attack_support;

use bapw::attack::{
    self, cut_l2_rms, cut_linf, cutoff::rms, Apgd, Budget, DeepFool, Model, Norm, Objective, Pgd,
    Start,
};
use bapw::config::preset::ModelCfg;
use bapw::model::Net;
use tch::{Device, Kind, Tensor};

const F32: (Kind, Device) = (Kind::Float, Device::Cpu);
const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

/// A small random ReLU network on flattened inputs, in the inputs' precision.
fn relu_net(d: i64, hidden: i64, classes: i64, opts: (Kind, Device)) -> impl Fn(&Tensor) -> Tensor {
    let w1 = Tensor::randn([hidden, d], opts) / (d as f64).sqrt();
    let b1 = Tensor::randn([hidden], opts) * 0.1;
    let w2 = Tensor::randn([classes, hidden], opts) / (hidden as f64).sqrt();
    move |x: &Tensor| {
        (x.flatten(1, -1).matmul(&w1.tr()) + &b1)
            .relu()
            .matmul(&w2.tr())
    }
}

fn linf(a: &Tensor, b: &Tensor) -> Tensor {
    (a - b).abs().flatten(1, -1).amax([1], false)
}

fn l2(a: &Tensor, b: &Tensor) -> Tensor {
    (a - b).flatten(1, -1).norm_scalaropt_dim(2, [1], false)
}

#[test]
fn zero_budget_changes_nothing() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(1);
    let model = relu_net(16, 12, 4, F32);
    let x = Tensor::rand([8, 1, 4, 4], F32);
    let y = Tensor::randint(4, [8], (Kind::Int64, Device::Cpu));
    let obj = Objective::CrossEntropy(&y);
    let zero = Budget::Scalar(0.0);
    let zeros = Budget::PerExample(Tensor::zeros([8], F32));
    for eps in [&zero, &zeros] {
        assert!(attack::fgsm(&model, &x, &obj, eps).unwrap().equal(&x));
        for norm in [Norm::Linf, Norm::L2] {
            let pgd = Pgd {
                norm,
                steps: 4,
                step_size: None,
                start: Start::Uniform,
                restarts: 2,
            };
            assert!(
                pgd.run(&model, &x, &obj, eps).unwrap().equal(&x),
                "{norm:?}"
            );
        }
    }
    let df = DeepFool::default().run(&model, &x).unwrap();
    assert!(cut_l2_rms(&x, &df.x_adv, &zero).equal(&x));
    assert!(cut_linf(&x, &df.x_adv, &zeros).equal(&x));
}

#[test]
fn outputs_stay_in_the_box_and_the_ball() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(2);
    let model = relu_net(64, 32, 5, F32);
    let n = 32;
    let x = Tensor::rand([n, 1, 8, 8], F32);
    let y = Tensor::randint(5, [n], (Kind::Int64, Device::Cpu));
    let obj = Objective::CrossEntropy(&y);
    let per = Tensor::rand([n], F32) * 0.3;
    let budgets = [
        (Budget::Scalar(0.1), Tensor::full([n], 0.1, F32)),
        (Budget::PerExample(per.shallow_clone()), per),
    ];
    let in_box = |t: &Tensor| t.min().double_value(&[]) >= 0.0 && t.max().double_value(&[]) <= 1.0;
    let within = |d: Tensor, b: &Tensor, tol: f64| (d - b).max().double_value(&[]) <= tol;
    for (eps, eps_t) in &budgets {
        let f = attack::fgsm(&model, &x, &obj, eps).unwrap();
        assert!(in_box(&f) && within(linf(&f, &x), eps_t, 1e-6));
        for start in [Start::Clean, Start::Uniform, Start::Gaussian(0.01)] {
            let pgd = Pgd {
                norm: Norm::Linf,
                steps: 5,
                step_size: Some(0.07),
                start,
                restarts: 2,
            };
            let p = pgd.run(&model, &x, &obj, eps).unwrap();
            assert!(in_box(&p) && within(linf(&p, &x), eps_t, 1e-6), "{start:?}");
        }
        // L2: the same numbers read as plain L2 radii (scaled up to be meaningful).
        let (eps2, eps2_t) = match eps {
            Budget::Scalar(e) => (Budget::Scalar(e * 10.0), eps_t * 10.0),
            Budget::PerExample(t) => (Budget::PerExample(t * 10.0), eps_t * 10.0),
        };
        let pgd = Pgd {
            norm: Norm::L2,
            steps: 5,
            step_size: None,
            start: Start::Uniform,
            restarts: 1,
        };
        let p = pgd.run(&model, &x, &obj, &eps2).unwrap();
        assert!(in_box(&p) && within(l2(&p, &x), &eps2_t, 1e-5));
        // DeepFool cut to an RMS budget.
        let df = DeepFool::default().run(&model, &x).unwrap();
        assert!(in_box(&df.x_adv));
        let cut = cut_l2_rms(&x, &df.x_adv, eps);
        assert!(in_box(&cut) && within(rms(&(&cut - &x)), eps_t, 1e-6));
        let cut = cut_linf(&x, &df.x_adv, eps);
        assert!(in_box(&cut) && within(linf(&cut, &x), eps_t, 1e-6));
    }
    // A wrong-length budget is an error, not a panic.
    let bad = Budget::PerExample(Tensor::ones([3], F32));
    assert!(attack::fgsm(&model, &x, &obj, &bad).is_err());
}

#[test]
fn fgsm_on_a_linear_model_is_the_closed_form() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(3);
    let (n, d, c) = (16, 20, 3);
    let w = Tensor::randn([c, d], F32);
    let b = Tensor::randn([c], F32);
    let (w2, b2) = (w.copy(), b.copy());
    let model = move |x: &Tensor| x.matmul(&w2.tr()) + &b2;
    let x = Tensor::rand([n, d], F32);
    let y = Tensor::randint(c, [n], (Kind::Int64, Device::Cpu));
    // d CE / dx = W^T (softmax(Wx + b) - onehot(y)).
    let p = (x.matmul(&w.tr()) + &b).softmax(-1, Kind::Float);
    let grad = (p - y.onehot(c).to_kind(Kind::Float)).matmul(&w);
    let want = (&x + grad.sign() * 0.05).clamp(0.0, 1.0);
    let got = attack::fgsm(
        &model,
        &x,
        &Objective::CrossEntropy(&y),
        &Budget::Scalar(0.05),
    )
    .unwrap();
    assert!(got.allclose(&want, 0.0, 1e-7, false));
}

/// An affine classifier in f64 (so analytic distances hold to ~1e-12) and its parameters.
fn affine(d: i64, c: i64) -> (impl Fn(&Tensor) -> Tensor, Tensor, Tensor) {
    let w = Tensor::randn([c, d], F64);
    let b = Tensor::randn([c], F64) * 0.05;
    let (w2, b2) = (w.copy(), b.copy());
    (
        move |x: &Tensor| x.flatten(1, -1).matmul(&w2.tr()) + &b2,
        w,
        b,
    )
}

/// Checks DeepFool on an affine model: one step to the nearest boundary, final distance
/// (1 + overshoot) times the analytic one, prediction flipped.
fn check_affine_deepfool(c: i64) {
    let d = 24;
    let (model, w, b) = affine(d, c);
    let n = 12;
    // Pixels near 0.5 and small distances: clipping never binds.
    let x = Tensor::rand([n, d], F64) * 0.1 + 0.45;
    let df = DeepFool::default();
    let r = df.run(&model, &x).unwrap();
    let f = x.matmul(&w.tr()) + &b;
    let orig = f.argmax(-1, false);
    assert!(r.orig.equal(&orig));
    assert_eq!(
        r.iterations, 1,
        "an affine model needs one step: {:?}",
        r.active
    );
    let got = l2(&r.x_adv, &x);
    for i in 0..n {
        let o = orig.int64_value(&[i]);
        let analytic = (0..c)
            .filter(|&k| k != o)
            .map(|k| {
                let gap = f.double_value(&[i, o]) - f.double_value(&[i, k]);
                let wn = (w.get(k) - w.get(o)).norm().double_value(&[]);
                gap / wn
            })
            .fold(f64::INFINITY, f64::min);
        let dist = got.double_value(&[i]);
        let want = 1.02 * analytic;
        // The 1e-5 logit margin adds at most 1e-5 / ||w|| to the step.
        assert!(
            (dist - want).abs() < 1e-5,
            "example {i}: {dist} vs {want} (analytic {analytic})"
        );
        assert!(dist > 1e-3, "the test needs non-trivial distances");
    }
    assert!(r.x_adv.min().double_value(&[]) > 0.0 && r.x_adv.max().double_value(&[]) < 1.0);
    let after = model(&r.x_adv).argmax(-1, false);
    assert_eq!(after.eq_tensor(&orig).sum(Kind::Int64).int64_value(&[]), 0);
    // Without the overshoot the point lies on the boundary (within the 1e-5 logit margin).
    let on = &x + (&r.x_adv - &x) / 1.02;
    let g = model(&on);
    let top2 = g.topk(2, 1, true, true).0;
    let gap = (top2.select(1, 0) - top2.select(1, 1))
        .abs()
        .max()
        .double_value(&[]);
    assert!(gap < 2e-5, "boundary gap {gap}");
}

#[test]
fn deepfool_lands_on_the_boundary_of_a_two_class_affine_model() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(4);
    check_affine_deepfool(2);
}

#[test]
fn deepfool_finds_the_nearest_boundary_of_a_multiclass_affine_model() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(5);
    check_affine_deepfool(6);
}

#[test]
fn deepfool_treats_examples_independently() {
    let _rng = attack_support::rng_lock();
    // Dropping fooled rows from the computation must not change anyone's result: the batch
    // result equals the per-example results.
    tch::manual_seed(6);
    let model = relu_net(36, 24, 5, F64);
    let x = Tensor::rand([10, 1, 6, 6], F64);
    let df = DeepFool {
        max_iter: 8,
        ..DeepFool::default()
    };
    let batch = df.run(&model, &x).unwrap();
    assert!(
        batch.active.windows(2).all(|w| w[1] <= w[0]),
        "{:?}",
        batch.active
    );
    eprintln!("active per iteration: {:?}", batch.active);
    for i in 0..10 {
        let one = df.run(&model, &x.narrow(0, i, 1)).unwrap();
        assert!(
            one.x_adv
                .allclose(&batch.x_adv.narrow(0, i, 1), 1e-9, 1e-9, false),
            "example {i}"
        );
    }
    // Candidates beyond the class count are capped, not an error.
    let many = DeepFool {
        candidates: 50,
        ..DeepFool::default()
    };
    assert!(many.run(&model, &x).is_ok());
}

#[test]
fn attacks_leave_weights_and_gradients_alone() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(7);
    let cfg = ModelCfg {
        arch: "mlp".into(),
        hidden: vec![16],
    };
    let net = Net::new(&cfg, (1, 6, 6), 3, Device::Cpu).unwrap();
    let x = Tensor::rand([8, 1, 6, 6], F32);
    let y = Tensor::randint(3, [8], (Kind::Int64, Device::Cpu));
    // Through autograd (a closure) and through the net's own input gradients.
    let run_all = || {
        let closure = |t: &Tensor| net.forward(t);
        for model in [&closure as Model, &net as Model] {
            let obj = Objective::CrossEntropy(&y);
            let eps = Budget::Scalar(0.1);
            let _ = attack::fgsm(model, &x, &obj, &eps).unwrap();
            let _ = Pgd::default().run(model, &x, &obj, &eps).unwrap();
            let _ = DeepFool::default().run(model, &x).unwrap();
            let _ = Apgd::default().ce(model, &x, &y, 0.1).unwrap();
        }
    };
    let params = |net: &Net| -> Vec<Tensor> {
        net.named_params()
            .into_iter()
            .map(|(_, t)| t.detach().copy())
            .collect()
    };
    // No gradients yet: none appear.
    let before = params(&net);
    run_all();
    for ((name, p), b) in net.named_params().iter().zip(&before) {
        assert!(p.equal(b), "{name} changed");
        assert!(!p.grad().defined(), "{name} got a gradient");
    }
    // Existing gradients are left exactly as they were.
    net.forward(&x).sum(Kind::Float).backward();
    let grads: Vec<Tensor> = net
        .named_params()
        .iter()
        .map(|(_, p)| p.grad().copy())
        .collect();
    run_all();
    for ((name, p), g) in net.named_params().iter().zip(&grads) {
        assert!(p.grad().equal(g), "{name}'s gradient changed");
    }
    // And the returned examples carry no graph.
    let closure = |t: &Tensor| net.forward(t);
    for model in [&closure as Model, &net as Model] {
        let adv = attack::fgsm(
            model,
            &x,
            &Objective::CrossEntropy(&y),
            &Budget::Scalar(0.1),
        )
        .unwrap();
        assert!(!adv.requires_grad());
        assert!(!DeepFool::default()
            .run(model, &x)
            .unwrap()
            .x_adv
            .requires_grad());
    }
}

#[test]
fn apgd_changes_nothing_at_zero_budget_and_stays_in_the_box_and_the_ball() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(8);
    let model = relu_net(64, 32, 5, F32);
    let n = 40;
    let x = Tensor::rand([n, 1, 8, 8], F32);
    // Labels = the model's predictions on most images, so there is something to attack; the
    // last 8 get a wrong label and must stay "not robust" untouched.
    let pred = model(&x).argmax(-1, false);
    let wrong = (pred.narrow(0, n - 8, 8) + 1).remainder(5);
    let y = Tensor::cat(&[pred.narrow(0, 0, n - 8), wrong], 0);
    let clean_ok = pred.eq_tensor(&y);
    for norm in [Norm::Linf, Norm::L2] {
        let apgd = Apgd {
            norm,
            steps: 20,
            ..Apgd::default()
        };
        for r in [
            apgd.ce(&model, &x, &y, 0.0).unwrap(),
            apgd.targeted(&model, &x, &y, 0.0, 9).unwrap(),
        ] {
            assert!(r.x_adv.equal(&x), "{norm:?}: ε 0 moved an image");
            assert!(
                r.robust.equal(&clean_ok),
                "{norm:?}: ε 0 changed who is robust"
            );
        }
        let eps = if norm == Norm::Linf { 0.1 } else { 1.0 };
        for r in [
            apgd.ce(&model, &x, &y, eps).unwrap(),
            apgd.targeted(&model, &x, &y, eps, 9).unwrap(),
        ] {
            let a = &r.x_adv;
            assert!(a.min().double_value(&[]) >= 0.0 && a.max().double_value(&[]) <= 1.0);
            let dist = if norm == Norm::Linf {
                linf(a, &x)
            } else {
                l2(a, &x)
            };
            assert!(
                dist.max().double_value(&[]) <= eps + 1e-5,
                "{norm:?} outside the ball"
            );
            // Not robust: wrong clean (untouched) or misclassified at its adversarial image;
            // robust: the clean image comes back.
            let after = model(a).argmax(-1, false).eq_tensor(&y);
            let fooled = clean_ok.logical_and(&r.robust.logical_not());
            assert!(!bool::try_from(after.logical_and(&fooled).any()).unwrap());
            let kept = r.robust.logical_or(&clean_ok.logical_not());
            let moved = dist.gt(0.0);
            assert!(
                !bool::try_from(kept.logical_and(&moved).any()).unwrap(),
                "{norm:?}"
            );
            assert!(!bool::try_from(r.robust.logical_and(&clean_ok.logical_not()).any()).unwrap());
            assert!(
                bool::try_from(fooled.any()).unwrap(),
                "{norm:?}: the attack did nothing"
            );
        }
    }
}

/// On an affine classifier the minimal L∞ (L2) distance of image i to class k's region is
/// (z_y - z_k) / ||w_y - w_k||_1 (resp. _2). With ε the median distance, APGD-CE followed by
/// APGD-T must fool every image whose nearest region is well inside the ball, and can never
/// fool one outside it.
fn check_affine_apgd(norm: Norm) {
    let (d, c, n) = (24, 5, 60);
    let w = Tensor::randn([c, d], F64);
    // Centred at x = 0.5, so every class occurs and distances are small: the box never binds.
    let b = -(w.sum_dim_intlist(1, false, Kind::Double) * 0.5);
    let (w2, b2) = (w.copy(), b.copy());
    let model = move |x: &Tensor| x.matmul(&w2.tr()) + &b2;
    let x = Tensor::rand([n, d], F64) * 0.1 + 0.45;
    let f = x.matmul(&w.tr()) + &b;
    let y = f.argmax(-1, false);
    let dist: Vec<f64> = (0..n)
        .map(|i| {
            let yi = y.int64_value(&[i]);
            (0..c)
                .filter(|&k| k != yi)
                .map(|k| {
                    let gap = f.double_value(&[i, yi]) - f.double_value(&[i, k]);
                    let dw = w.get(yi) - w.get(k);
                    let dual = match norm {
                        Norm::Linf => dw.abs().sum(Kind::Double).double_value(&[]),
                        Norm::L2 => dw.norm().double_value(&[]),
                    };
                    gap / dual
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut sorted = dist.clone();
    sorted.sort_by(f64::total_cmp);
    let eps = sorted[n as usize / 2];
    assert!(eps < 0.1, "{norm:?}: the box would bind at ε {eps}");
    let apgd = Apgd {
        norm,
        steps: 30,
        ..Apgd::default()
    };
    let ce = apgd.ce(&model, &x, &y, eps).unwrap();
    let left = ce.robust.nonzero().squeeze_dim(1);
    let t = apgd
        .targeted(
            &model,
            &x.index_select(0, &left),
            &y.index_select(0, &left),
            eps,
            9,
        )
        .unwrap();
    let mut robust = ce.robust.copy();
    let _ = robust.index_copy_(0, &left, &t.robust);
    let (mut inside, mut outside) = (0, 0);
    for (i, d) in dist.iter().enumerate() {
        let r = robust.int64_value(&[i as i64]) != 0;
        if *d < 0.8 * eps {
            inside += 1;
            assert!(
                !r,
                "{norm:?} image {i}: boundary at {d:.5} < ε {eps:.5} but not fooled"
            );
        } else if *d > eps * (1.0 + 1e-6) {
            outside += 1;
            assert!(
                r,
                "{norm:?} image {i}: fooled beyond reach ({d:.5} > ε {eps:.5})"
            );
        }
    }
    assert!(
        inside >= 10 && outside >= 10,
        "{norm:?}: {inside} inside, {outside} outside"
    );
}

#[test]
fn apgd_fools_exactly_the_images_an_affine_model_lets_it_reach() {
    let _rng = attack_support::rng_lock();
    tch::manual_seed(9);
    check_affine_apgd(Norm::Linf);
    tch::manual_seed(10);
    check_affine_apgd(Norm::L2);
}
