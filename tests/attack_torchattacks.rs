//! Cross-check with an established attack library: torchattacks' FGSM and PGD (no random start)
//! on our checkpoint loaded in PyTorch, against our attacks on the same images. FGSM accuracy
//! must agree within one example, PGD within 1%. And torchattacks' APGD and APGDT against our
//! APGD-CE and APGD-T on 500 images: within 1 point at every ε.
mod attack_support;
use attack_support as common;

use bapw::attack::{self, Budget, Model, Norm, Objective, Pgd, Start};
use tch::Tensor;

const IMAGES: i64 = 200;
const FGSM_EPS: [f64; 3] = [0.05, 0.1, 0.2];
const PGD_EPS: [f64; 2] = [0.1, 0.2];
const PGD_STEPS: usize = 10;

#[test]
fn fgsm_and_pgd_agree_with_torchattacks() {
    // The model is trained from LibTorch's seeded generator, which the APGD check seeds too.
    let _rng = common::rng_lock();
    let Some(data) = common::mnist() else { return };
    let Some(py) = common::python(&["torch", "safetensors", "torchattacks"]) else {
        return;
    };
    let net = common::train(common::lenet(), &data, 40, 64, 1e-3, 21);
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let images = dir.path().join("x.safetensors");
    bapw::run::checkpoint::write_tensors_atomic(&weights, &net.named_params()).unwrap();
    let x = data.test_x.narrow(0, 0, IMAGES);
    let y = data.test_y.narrow(0, 0, IMAGES);
    Tensor::write_safetensors(&[("x", x.contiguous()), ("y", y.contiguous())], &images).unwrap();
    let list = |v: &[f64]| {
        v.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/crosscheck_attacks.py"
    );
    let out = common::run_python(
        &py,
        &[
            script,
            weights.to_str().unwrap(),
            images.to_str().unwrap(),
            "--eps",
            &list(&FGSM_EPS),
            "--pgd-eps",
            &list(&PGD_EPS),
            "--pgd-steps",
            &PGD_STEPS.to_string(),
        ],
    );
    let theirs: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let closure = |t: &Tensor| net.forward(t);
    let acc = |t: &Tensor| attack::accuracy(&tch::no_grad(|| net.forward(t)), &y);
    let obj = Objective::CrossEntropy(&y);
    let one = 1.0 / IMAGES as f64 + 1e-9;
    assert!((theirs["clean"].as_f64().unwrap() - acc(&x)).abs() <= one);
    // Through autograd (a closure) and through the net's own input gradients.
    for (path, model) in [("autograd", &closure as Model), ("net", &net as Model)] {
        let mut spread = Vec::new();
        for eps in FGSM_EPS {
            let ours = acc(&attack::fgsm(model, &x, &obj, &Budget::Scalar(eps)).unwrap());
            let t = theirs["fgsm"][eps.to_string()].as_f64().unwrap();
            eprintln!("{path}: FGSM ε {eps}: bapw {ours:.4}, torchattacks {t:.4}");
            assert!(
                (ours - t).abs() <= one,
                "{path}: FGSM ε {eps}: {ours} vs {t}"
            );
            spread.push(ours);
        }
        for eps in PGD_EPS {
            let pgd = Pgd {
                norm: Norm::Linf,
                steps: PGD_STEPS,
                step_size: Some(2.5 * eps / PGD_STEPS as f64),
                start: Start::Clean,
                restarts: 1,
            };
            let ours = acc(&pgd.run(model, &x, &obj, &Budget::Scalar(eps)).unwrap());
            let t = theirs["pgd"][eps.to_string()].as_f64().unwrap();
            eprintln!("{path}: PGD ε {eps}: bapw {ours:.4}, torchattacks {t:.4}");
            assert!(
                (ours - t).abs() <= 0.01 + 1e-9,
                "{path}: PGD ε {eps}: {ours} vs {t}"
            );
        }
        // The comparison means something only if the attacks move the accuracy.
        assert!(spread[0] > spread[2] + 0.1, "FGSM accuracies {spread:?}");
    }
}

/// Images and budgets of the APGD cross-check (issue 12: 500 MNIST test images, ε 0.1-0.3 in
/// L∞), and one L2 radius (plain L2 norm; 1.5 is an RMS of 0.054 on 28x28 images).
const APGD_IMAGES: i64 = 500;
const APGD_EPS: [f64; 3] = [0.1, 0.2, 0.3];
const APGD_L2_EPS: [f64; 1] = [1.5];
/// torchattacks' default number of steps: checkpoints after steps 2, 3, ..., 10, so the
/// step-size rule acts at every one of them.
const APGD_STEPS: usize = 10;
/// Steps of "fast" adversarial training before the check.
const ROBUST_TRAIN_STEPS: usize = 50;

/// A LeNet-5 with some robustness, so robust accuracy at ε 0.1-0.3 is neither 0 nor clean:
/// "fast" adversarial training (Wong et al. 2020: one FGSM step of 1.25 ε from a uniform
/// random start, ε = 0.3), half clean and half adversarial loss, seeded.
fn robust_lenet(data: &bapw::data::Dataset, steps: usize) -> bapw::model::Net {
    use bapw::config::preset::{Optimizer as OptKind, TrainCfg};
    use bapw::train::loss::smoothed_ce;
    use bapw::train::optim::Optimizer;
    use tch::{Device, Kind};
    tch::manual_seed(12);
    let (c, h, w) = data.shape();
    let net =
        bapw::model::Net::new(&common::lenet(), (c, h, w), data.classes, Device::Cpu).unwrap();
    let cfg = TrainCfg {
        optimizer: OptKind::Adam,
        lr: 1e-3,
        ..TrainCfg::default()
    };
    let mut opt = Optimizer::new(&cfg, net.named_params());
    let n = data.n_train() as i64;
    let fast = Pgd {
        norm: Norm::Linf,
        steps: 1,
        step_size: Some(0.375),
        start: Start::Uniform,
        restarts: 1,
    };
    for _ in 0..steps {
        let idx = Tensor::randint(n, [64], (Kind::Int64, Device::Cpu));
        let x = data.train_x.index_select(0, &idx);
        let y = data.train_y.index_select(0, &idx);
        let model = |t: &Tensor| net.forward(t);
        let adv = fast
            .run(
                &model,
                &x,
                &Objective::CrossEntropy(&y),
                &Budget::Scalar(0.3),
            )
            .unwrap();
        opt.zero_grad();
        let loss = smoothed_ce(&net.forward(&x), &y, 0.0) * 0.5
            + smoothed_ce(&net.forward(&adv), &y, 0.0) * 0.5;
        loss.backward();
        opt.step();
    }
    net
}

/// torchattacks' `APGD` (loss "ce") and `APGDT` (9 targets) against bapw's `Apgd::ce` and
/// `Apgd::targeted` on the same weights, the first 500 MNIST test images and seed 0, one
/// restart: robust accuracy within 1 point at every ε (L∞ 0.1, 0.2, 0.3 and L2 1.5). Both
/// draw their random starts from LibTorch's generator in the same order.
#[test]
fn apgd_ce_and_apgd_t_agree_with_torchattacks() {
    let _rng = common::rng_lock();
    let Some(data) = common::mnist() else { return };
    let Some(py) = common::python(&["torch", "safetensors", "torchattacks"]) else {
        return;
    };
    let net = robust_lenet(&data, ROBUST_TRAIN_STEPS);
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let images = dir.path().join("x.safetensors");
    bapw::run::checkpoint::write_tensors_atomic(&weights, &net.named_params()).unwrap();
    let x = data.test_x.narrow(0, 0, APGD_IMAGES);
    let y = data.test_y.narrow(0, 0, APGD_IMAGES);
    Tensor::write_safetensors(&[("x", x.contiguous()), ("y", y.contiguous())], &images).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/crosscheck_apgd.py"
    );
    let model = |t: &Tensor| net.forward(t);
    let acc = |robust: &Tensor| {
        robust
            .to_kind(tch::Kind::Float)
            .mean(tch::Kind::Float)
            .double_value(&[])
    };
    let clean = attack::accuracy(&tch::no_grad(|| net.forward(&x)), &y);
    for (norm, name, grid) in [
        (Norm::Linf, "Linf", &APGD_EPS[..]),
        (Norm::L2, "L2", &APGD_L2_EPS[..]),
    ] {
        let list: Vec<String> = grid.iter().map(|e| e.to_string()).collect();
        let out = common::run_python(
            &py,
            &[
                script,
                weights.to_str().unwrap(),
                images.to_str().unwrap(),
                "--norm",
                name,
                "--eps",
                &list.join(","),
                "--steps",
                &APGD_STEPS.to_string(),
            ],
        );
        let theirs: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!((theirs["clean"].as_f64().unwrap() - clean).abs() < 1e-9);
        let apgd = attack::Apgd {
            norm,
            steps: APGD_STEPS,
            ..attack::Apgd::default()
        };
        let mut ours = Vec::new();
        for (&eps, key) in grid.iter().zip(&list) {
            tch::manual_seed(0);
            let ce = acc(&apgd.ce(&model, &x, &y, eps).unwrap().robust);
            tch::manual_seed(0);
            let t = acc(&apgd.targeted(&model, &x, &y, eps, 9).unwrap().robust);
            let their_ce = theirs["ce"][key].as_f64().unwrap();
            let their_t = theirs["t"][key].as_f64().unwrap();
            eprintln!(
                "{name} ε {eps}: APGD-CE bapw {ce:.3} torchattacks {their_ce:.3}; \
                 APGD-T bapw {t:.3} torchattacks {their_t:.3} (clean {clean:.3})"
            );
            assert!(
                (ce - their_ce).abs() <= 0.01 + 1e-9,
                "{name} ε {eps} APGD-CE"
            );
            assert!((t - their_t).abs() <= 0.01 + 1e-9, "{name} ε {eps} APGD-T");
            ours.push((ce, t));
        }
        // The comparison means something only if the attacks move the accuracy without
        // reaching 0 everywhere.
        assert!(
            ours[0].0 < clean - 0.1 && ours[0].0 > 0.1,
            "{name}: {ours:?}"
        );
    }
}
