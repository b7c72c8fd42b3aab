//! The fast input gradients of `Net` (`model::input_grad`) against autograd: for every
//! architecture, random weights (biases too), random inputs with zero backgrounds (so pooling
//! windows tie, as on MNIST), with and without pruning masks, the vector-Jacobian products,
//! DeepFool's logit-difference gradients, a loss gradient and row subsets all equal autograd's
//! to 1e-5 relative; and the attacks give the same results through either path.
mod attack_support;

use bapw::attack::{self, Budget, Classifier, DeepFool, Model, Norm, Objective, Pgd, Start};
use bapw::config::preset::ModelCfg;
use bapw::model::Net;
use bapw::prune::{Pruner, Scope};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;

/// Every architecture bapw ships, on input shapes that exercise each padding and pooling case:
/// odd sizes (floor-mode pooling, asymmetric "same" padding), strided convolutions, global
/// max-pool, RGB.
fn cases() -> Vec<(&'static str, (i64, i64, i64), i64)> {
    vec![
        ("lenet5", (1, 28, 28), 10),
        ("lenet5", (1, 30, 30), 10),
        ("cnn", (1, 28, 28), 10),
        ("cnn", (1, 29, 29), 10),
        ("mlp", (1, 28, 28), 10),
        ("fitnet", (3, 16, 16), 10),
        ("fitnet", (1, 11, 11), 7),
    ]
}

/// A model with random weights and biases (biases are zero at initialisation, which would
/// leave half the ReLUs exactly at 0).
fn random_net(arch: &str, input: (i64, i64, i64), classes: i64, seed: i64) -> Net {
    tch::manual_seed(seed);
    let cfg = ModelCfg {
        arch: arch.into(),
        hidden: vec![64, 32],
    };
    let net = Net::new(&cfg, input, classes, Device::Cpu).unwrap();
    tch::no_grad(|| {
        for (name, mut t) in net.named_params() {
            if name.ends_with("bias") {
                t.copy_(&(t.randn_like() * 0.1));
            }
        }
    });
    net
}

/// Images in [0, 1] with a zero background on about half the pixels, in blocks, so whole
/// pooling windows see equal values.
fn images(n: i64, (c, h, w): (i64, i64, i64)) -> Tensor {
    let x = Tensor::rand([n, c, h, w], (Kind::Float, Device::Cpu));
    let blocks = Tensor::rand([n, 1, (h + 3) / 4, (w + 3) / 4], (Kind::Float, Device::Cpu))
        .gt(0.5)
        .repeat_interleave_self_int(4, 2, None)
        .repeat_interleave_self_int(4, 3, None)
        .narrow(2, 0, h)
        .narrow(3, 0, w);
    x * blocks.to_kind(Kind::Float)
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let num = (a - b).norm().double_value(&[]);
    num / b.norm().double_value(&[]).max(1e-30)
}

/// Autograd on the same weights, as a closure.
fn autograd(net: &Net) -> impl Fn(&Tensor) -> Tensor + '_ {
    move |t: &Tensor| net.forward(t)
}

fn check_all(net: &Net, input: (i64, i64, i64), label: &str) {
    let n = 6;
    let x = images(n, input);
    let slow = autograd(net);
    let fast = net.linearize(&x).unwrap();
    let reference = slow.linearize(&x).unwrap();
    assert!(
        fast.logits().equal(reference.logits()),
        "{label}: logits differ from the forward's"
    );
    let classes = fast.logits().size()[1];
    // Several random cotangents at once, all rows.
    let cot = Tensor::randn([3, n, classes], (Kind::Float, Device::Cpu));
    let a = fast.vjp(&cot, None).unwrap();
    let b = reference.vjp(&cot, None).unwrap();
    assert_eq!(a.size(), b.size());
    assert!(
        b.abs().max().double_value(&[]) > 0.0,
        "{label}: zero gradient"
    );
    let d = rel(&a, &b);
    assert!(d < TOL, "{label}: vjp differs from autograd by {d:e}");
    // A subset of rows, in a shuffled order.
    let rows = Tensor::from_slice(&[4i64, 1, 5]);
    let cot_r = cot.index_select(1, &rows);
    let d = rel(
        &fast.vjp(&cot_r, Some(&rows)).unwrap(),
        &b.index_select(1, &rows),
    );
    assert!(d < TOL, "{label}: vjp on rows differs by {d:e}");
    // DeepFool's gradients of f_k - f_0 for the top-K classes.
    let (_, top) = fast.logits().topk(classes.min(5), 1, true, true);
    let d = rel(
        &fast.diff_grads(&top, None).unwrap(),
        &reference.diff_grads(&top, None).unwrap(),
    );
    assert!(d < TOL, "{label}: DeepFool gradients differ by {d:e}");
    // The gradient of a per-example loss, and its logits.
    let y = Tensor::randint(classes, [n], (Kind::Int64, Device::Cpu));
    let obj = Objective::CrossEntropy(&y);
    let (ga, la) = attack::input_grad(net, &x, &obj).unwrap();
    let (gb, lb) = attack::input_grad(&slow, &x, &obj).unwrap();
    assert!(la.equal(&lb), "{label}: loss_grad logits");
    let d = rel(&ga, &gb);
    assert!(d < TOL, "{label}: loss gradient differs by {d:e}");
}

#[test]
fn input_gradients_equal_autograd_for_every_architecture() {
    let _rng = attack_support::rng_lock();
    for (i, (arch, input, classes)) in cases().into_iter().enumerate() {
        let net = random_net(arch, input, classes, 100 + i as i64);
        check_all(&net, input, &format!("{arch} {input:?}"));
    }
}

#[test]
fn input_gradients_equal_autograd_with_pruned_weights() {
    let _rng = attack_support::rng_lock();
    for (i, (arch, input, classes)) in cases().into_iter().enumerate() {
        let net = random_net(arch, input, classes, 200 + i as i64);
        let mut pruner = Pruner::new(net.prunable(), Scope::Layer, &[]);
        pruner.update(0.7);
        let zeros: i64 = net
            .prunable()
            .iter()
            .map(|(_, w)| w.eq(0.0).sum(Kind::Int64).int64_value(&[]))
            .sum();
        assert!(zeros > 0, "{arch}: the masks zeroed no weight");
        check_all(&net, input, &format!("{arch} {input:?} pruned 70%"));
    }
}

#[test]
fn a_constructed_case_has_the_exact_gradient() {
    // mlp with one hidden unit: f = W2 relu(W1 x + b1) + b2. With the unit active, the
    // gradient of f_0 - f_1 is (W2[0] - W2[1]) W1 exactly.
    let cfg = ModelCfg {
        arch: "mlp".into(),
        hidden: vec![1],
    };
    let net2 = Net::new(&cfg, (1, 2, 2), 2, Device::Cpu).unwrap();
    let set = |name: &str, v: &[f32], shape: &[i64]| {
        let params = net2.named_params();
        let mut t = params
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .shallow_clone();
        tch::no_grad(|| t.copy_(&Tensor::from_slice(v).view(shape)));
    };
    set("fc1.weight", &[1.0, -2.0, 0.5, 4.0], &[1, 4]);
    set("fc1.bias", &[0.25], &[1]);
    set("fc2.weight", &[3.0, -1.0], &[2, 1]);
    set("fc2.bias", &[0.0, 0.0], &[2]);
    let x = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([1, 1, 2, 2]);
    let lin = net2.linearize(&x).unwrap();
    let classes = Tensor::from_slice(&[0i64, 1]).view([1, 2]);
    let g = lin.diff_grads(&classes, None).unwrap();
    let want = Tensor::from_slice(&[-4.0f32, 8.0, -2.0, -16.0]).view([1, 1, 4]);
    assert!(g.equal(&want), "{g:?}");
    // With the unit off (pre-activation < 0) the gradient is zero.
    let off = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 0.0]).view([1, 1, 2, 2]);
    let g = net2
        .linearize(&off)
        .unwrap()
        .diff_grads(&classes, None)
        .unwrap();
    assert_eq!(g.abs().sum(Kind::Float).double_value(&[]), 0.0);
}

#[test]
fn attacks_agree_through_either_path() {
    let _rng = attack_support::rng_lock();
    let input = (1, 28, 28);
    let net = random_net("lenet5", input, 10, 31);
    let slow = autograd(&net);
    let x = images(16, input);
    let y = tch::no_grad(|| net.forward(&x)).argmax(-1, false);
    let obj = Objective::CrossEntropy(&y);
    let paths: [Model; 2] = [&net, &slow];
    // DeepFool: one iteration's step equal to 1e-5. After five, each step has divided by
    // logit gaps that shrink towards the boundary, which magnifies rounding differences, and an
    // example that lands within rounding of the boundary may stop one iteration earlier on
    // one path: the active counts agree to one example, and every other example's
    // perturbation to 1e-3 (the reference parity test's bound).
    let one = DeepFool {
        max_iter: 1,
        ..DeepFool::default()
    };
    let [a, b] = paths.map(|m| one.run(m, &x).unwrap());
    let d = rel(&(&a.x_adv - &x), &(&b.x_adv - &x));
    assert!(d < TOL, "DeepFool's first step differs by {d:e}");
    let df = DeepFool::default();
    let [a, b] = paths.map(|m| df.run(m, &x).unwrap());
    assert!(a.orig.equal(&b.orig));
    assert_eq!(a.active.len(), b.active.len());
    for (p, q) in a.active.iter().zip(&b.active) {
        assert!(
            (p - q).abs() <= 1,
            "active {:?} vs {:?}",
            a.active,
            b.active
        );
    }
    let per_example = |t: &Tensor| (t - &x).flatten(1, -1).norm_scalaropt_dim(2, [1], false);
    let (na, nb) = (per_example(&a.x_adv), per_example(&b.x_adv));
    let rel_i = ((&na - &nb).abs() / nb.clamp_min(1e-12)).gt(1e-3);
    let off = rel_i.sum(Kind::Int64).int64_value(&[]);
    assert!(
        off <= 1,
        "{off} DeepFool perturbations differ by more than 1e-3"
    );
    // L2 PGD (normalised gradient steps, no sign) from the clean point.
    let pgd = Pgd {
        norm: Norm::L2,
        steps: 3,
        step_size: Some(0.5),
        start: Start::Clean,
        restarts: 1,
    };
    let [a, b] = paths.map(|m| pgd.run(m, &x, &obj, &Budget::Scalar(1.5)).unwrap());
    let d = rel(&(&a - &x), &(&b - &x));
    assert!(d < TOL, "PGD-L2 perturbations differ by {d:e}");
}
