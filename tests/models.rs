//! Architectures: output shapes, PyTorch names and layouts, prunable kernels, Keras init.
use bapw::config::preset::ModelCfg;
use bapw::model::Net;
use tch::{Device, Kind, Tensor};

fn net(arch: &str, input: (i64, i64, i64), classes: i64) -> Net {
    let cfg = ModelCfg {
        arch: arch.into(),
        hidden: vec![32, 16],
    };
    Net::new(&cfg, input, classes, Device::Cpu).unwrap()
}

#[test]
fn lenet5_matches_the_paper_layout() {
    let n = net("lenet5", (1, 28, 28), 10);
    let names: Vec<(String, Vec<i64>)> = n
        .named_params()
        .iter()
        .map(|(k, t)| (k.clone(), t.size()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("conv1.bias".to_string(), vec![32]),
            ("conv1.weight".to_string(), vec![32, 1, 5, 5]),
            ("conv2.bias".to_string(), vec![64]),
            ("conv2.weight".to_string(), vec![64, 32, 5, 5]),
            ("fc1.bias".to_string(), vec![84]),
            ("fc1.weight".to_string(), vec![84, 3136]),
            ("fc2.bias".to_string(), vec![10]),
            ("fc2.weight".to_string(), vec![10, 84]),
        ]
    );
    let prunable: i64 = n.prunable().iter().map(|(_, t)| t.numel() as i64).sum();
    assert_eq!(prunable, 316_264);
    assert_eq!(
        n.prunable_names(),
        ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]
    );
    let x = Tensor::rand([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    assert_eq!(n.forward(&x).size(), vec![3, 10]);
}

#[test]
fn keras_init_glorot_uniform_kernels_zero_biases() {
    tch::manual_seed(0);
    let n = net("lenet5", (1, 28, 28), 10);
    for (name, t) in n.named_params() {
        if name.ends_with("bias") {
            assert_eq!(t.abs().max().double_value(&[]), 0.0, "{name}");
        }
    }
    let params = n.named_params();
    let fc1 = &params.iter().find(|(k, _)| k == "fc1.weight").unwrap().1;
    let bound = (6.0f64 / (3136.0 + 84.0)).sqrt();
    let max = fc1.abs().max().double_value(&[]);
    assert!(max <= bound && max > 0.95 * bound, "{max} vs {bound}");
    // Uniform(-b, b) has std b/sqrt(3).
    let std = fc1.std(true).double_value(&[]);
    assert!((std - bound / 3f64.sqrt()).abs() < 0.01 * bound, "{std}");
}

#[test]
fn every_architecture_runs_and_lists_its_kernels() {
    let cases = [
        (
            "mlp",
            (1, 8, 8),
            4,
            vec!["fc1.weight", "fc2.weight", "fc3.weight"],
        ),
        (
            "cnn",
            (1, 28, 28),
            10,
            vec!["conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight"],
        ),
        (
            "lenet5",
            (3, 32, 32),
            10,
            vec!["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"],
        ),
    ];
    for (arch, input, classes, kernels) in cases {
        let n = net(arch, input, classes);
        assert_eq!(n.prunable_names(), kernels.as_slice(), "{arch}");
        let x = Tensor::rand([2, input.0, input.1, input.2], (Kind::Float, Device::Cpu));
        assert_eq!(n.forward(&x).size(), vec![2, classes], "{arch}");
    }
    // FitNet: 15 convolutions, global max pool, dense 500 (linear), dense C.
    let n = net("fitnet", (3, 32, 32), 10);
    assert_eq!(n.prunable_names().len(), 17);
    assert_eq!(n.prunable_names()[15], "fc1.weight");
    let x = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    assert_eq!(n.forward(&x).size(), vec![2, 10]);
}

#[test]
fn cleverhans_cnn_uses_tf_same_padding() {
    // 28x28 with an 8x8 kernel at stride 2 "same": 14x14 out, then 6x6 valid stride 2 -> 5x5,
    // 5x5 valid -> 1x1x64, so fc1 takes 64 inputs.
    let n = net("cnn", (1, 28, 28), 10);
    let p = n.named_params();
    let fc1 = &p.iter().find(|(k, _)| k == "fc1.weight").unwrap().1;
    assert_eq!(fc1.size(), vec![10, 64]);
    // Odd size: TF pads the extra pixel at the bottom/right; 27 -> 14 out.
    let n = net("cnn", (1, 27, 27), 10);
    let x = Tensor::rand([1, 1, 27, 27], (Kind::Float, Device::Cpu));
    assert_eq!(n.forward(&x).size(), vec![1, 10]);
}

#[test]
fn too_small_inputs_and_unknown_arch_are_errors() {
    let cfg = ModelCfg {
        arch: "cnn".into(),
        hidden: vec![],
    };
    assert!(Net::new(&cfg, (1, 8, 8), 4, Device::Cpu).is_err());
    let cfg = ModelCfg {
        arch: "resnet".into(),
        hidden: vec![],
    };
    let e = Net::new(&cfg, (1, 8, 8), 4, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("resnet") && e.contains("lenet5"), "{e}");
}

#[test]
fn load_tensors_checks_names_and_shapes() {
    let a = net("mlp", (1, 8, 8), 4);
    let b = net("mlp", (1, 8, 8), 4);
    b.load_tensors(&a.named_params(), "a").unwrap();
    let x = Tensor::rand([2, 1, 8, 8], (Kind::Float, Device::Cpu));
    assert!(a.forward(&x).allclose(&b.forward(&x), 0.0, 0.0, false));
    let mut missing = a.named_params();
    missing.retain(|(k, _)| k != "fc2.bias");
    let e = b.load_tensors(&missing, "ckpt").err().unwrap().to_string();
    assert!(e.contains("fc2.bias"), "{e}");
    let other = net("lenet5", (1, 8, 8), 4);
    let e = b
        .load_tensors(&other.named_params(), "ckpt")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing") || e.contains("shape"), "{e}");
}
