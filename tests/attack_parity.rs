//! Parity with the PyTorch peer (`tests/python/bap_peer.py --dump-deepfool`, eager PyTorch
//! written from docs/algorithm.md): our DeepFool and cutoff-scale on the same LeNet-5 weights
//! and MNIST test images must equal its outputs to a relative L2 difference below 1e-4.
mod attack_support;
use attack_support as common;

use std::time::Instant;

use bapw::attack::{Cut, CutoffScale, DeepFool, Model};
use tch::Tensor;

const IMAGES: i64 = 128;
const BATCH: i64 = 64;

#[test]
fn deepfool_and_cutoff_scale_match_the_pytorch_peer() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/bap_peer.py");
    let Some(data) = common::mnist() else { return };
    let Some(py) = common::python(&["torch", "safetensors"]) else {
        return;
    };
    // A briefly trained model: DeepFool then needs several iterations for some examples.
    let net = common::train(common::lenet(), &data, 30, 64, 1e-3, 11);
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let dump = dir.path().join("peer.safetensors");
    bapw::run::checkpoint::write_tensors_atomic(&weights, &net.named_params()).unwrap();
    let mnist_dir = bapw::config::paths::dataset_dir("mnist").unwrap();
    let line = common::run_python(
        &py,
        &[
            script,
            "--data",
            mnist_dir.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--dump-deepfool",
            dump.to_str().unwrap(),
            "--images",
            &IMAGES.to_string(),
            "--batch",
            &BATCH.to_string(),
        ],
    );
    let peer = Tensor::read_safetensors(&dump).unwrap();
    let get = |name: &str| {
        peer.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .unwrap_or_else(|| panic!("{} has no {name}", dump.display()))
    };
    let x = data.test_x.narrow(0, 0, IMAGES);
    assert!(get("x").allclose(&x, 0.0, 0.0, false), "same images");

    // Through autograd (a closure) and through the net's own input gradients (what training
    // and evaluation use).
    let closure = |t: &Tensor| net.forward(t);
    for (path, model) in [("autograd", &closure as Model), ("net", &net as Model)] {
        let df = DeepFool::default();
        let cs = CutoffScale {
            cut: Cut::BatchMean,
            rho: 1.0,
        };
        let t0 = Instant::now();
        let (mut ours_df, mut ours_cs) = (Vec::new(), Vec::new());
        for i in (0..IMAGES).step_by(BATCH as usize) {
            let xb = x.narrow(0, i, BATCH.min(IMAGES - i));
            let r = df.run(model, &xb).unwrap();
            ours_cs.push(cs.apply(&xb, &r.x_adv).x_adv);
            ours_df.push(r.x_adv);
        }
        let secs = t0.elapsed().as_secs_f64();
        let (ours_df, ours_cs) = (Tensor::cat(&ours_df, 0), Tensor::cat(&ours_cs, 0));
        let d_df = common::rel_l2(&ours_df, &get("deepfool"));
        let d_cs = common::rel_l2(&ours_cs, &get("cutoff_scale"));
        // Perturbation-level differences too: far stricter than image-level ones.
        let d_eta = common::rel_l2(&(&ours_df - &x), &(get("deepfool") - &x));
        eprintln!(
            "{path}: deepfool rel L2 {d_df:.2e} (perturbation {d_eta:.2e}), cutoff-scale \
             {d_cs:.2e}; ours {:.1} images/s, peer {}",
            IMAGES as f64 / secs,
            line.trim()
        );
        assert!(
            d_df < 1e-4,
            "{path}: DeepFool differs from the peer: {d_df}"
        );
        assert!(
            d_cs < 1e-4,
            "{path}: cutoff-scale differs from the peer: {d_cs}"
        );
        assert!(
            d_eta < 1e-3,
            "{path}: DeepFool perturbations differ: {d_eta}"
        );
    }
}
