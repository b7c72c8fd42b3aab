//! Cross-check with an established attack library: torchattacks' FGSM and PGD (no random start)
//! on our checkpoint loaded in PyTorch, against our attacks on the same images. FGSM accuracy
//! must agree within one example, PGD within 1%.
mod attack_support;
use attack_support as common;

use bapw::attack::{self, Budget, Norm, Objective, Pgd, Start};
use tch::Tensor;

const IMAGES: i64 = 200;
const FGSM_EPS: [f64; 3] = [0.05, 0.1, 0.2];
const PGD_EPS: [f64; 2] = [0.1, 0.2];
const PGD_STEPS: usize = 10;

#[test]
fn fgsm_and_pgd_agree_with_torchattacks() {
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
    let model = |t: &Tensor| net.forward(t);
    let acc = |t: &Tensor| attack::accuracy(&tch::no_grad(|| net.forward(t)), &y);
    let obj = Objective::CrossEntropy(&y);
    let one = 1.0 / IMAGES as f64 + 1e-9;
    assert!((theirs["clean"].as_f64().unwrap() - acc(&x)).abs() <= one);
    let mut spread = Vec::new();
    for eps in FGSM_EPS {
        let ours = acc(&attack::fgsm(&model, &x, &obj, &Budget::Scalar(eps)).unwrap());
        let t = theirs["fgsm"][eps.to_string()].as_f64().unwrap();
        eprintln!("FGSM ε {eps}: bapw {ours:.4}, torchattacks {t:.4}");
        assert!((ours - t).abs() <= one, "FGSM ε {eps}: {ours} vs {t}");
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
        let ours = acc(&pgd.run(&model, &x, &obj, &Budget::Scalar(eps)).unwrap());
        let t = theirs["pgd"][eps.to_string()].as_f64().unwrap();
        eprintln!("PGD ε {eps}: bapw {ours:.4}, torchattacks {t:.4}");
        assert!(
            (ours - t).abs() <= 0.01 + 1e-9,
            "PGD ε {eps}: {ours} vs {t}"
        );
    }
    // The comparison means something only if the attacks move the accuracy.
    assert!(spread[0] > spread[2] + 0.1, "FGSM accuracies {spread:?}");
}
