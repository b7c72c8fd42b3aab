//! Seeded synthetic data: class-dependent blobs of any shape and class count. Each class has a
//! random centre image in [0.2, 0.8]; examples are the centre plus Gaussian noise, clipped to
//! [0, 1]. Learnable but not trivially, instant to make, the same for the same seed.
use tch::{Device, Kind, Tensor};

use super::Dataset;
use crate::config::preset::SyntheticCfg;

pub fn blobs(cfg: &SyntheticCfg) -> Dataset {
    // The data is made before training seeds torch again, so seeding here is harmless.
    let gen = |n: usize, split: i64| {
        let opts = (Kind::Float, Device::Cpu);
        tch::manual_seed(cfg.seed as i64);
        let centres =
            Tensor::rand([cfg.classes, cfg.channels, cfg.height, cfg.width], opts) * 0.6 + 0.2;
        tch::manual_seed((cfg.seed as i64).wrapping_mul(1000).wrapping_add(split));
        let y = Tensor::randint(cfg.classes, [n as i64], (Kind::Int64, Device::Cpu));
        let noise =
            Tensor::randn([n as i64, cfg.channels, cfg.height, cfg.width], opts) * cfg.noise;
        let x = (centres.index_select(0, &y) + noise).clamp(0.0, 1.0);
        (x, y)
    };
    let (train_x, train_y) = gen(cfg.train, 1);
    let (test_x, test_y) = gen(cfg.test, 2);
    Dataset {
        name: "synthetic".into(),
        train_x,
        train_y,
        test_x,
        test_y,
        classes: cfg.classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_in_range() {
        let cfg = SyntheticCfg {
            train: 100,
            test: 20,
            channels: 3,
            height: 4,
            width: 5,
            classes: 3,
            noise: 0.2,
            seed: 1,
        };
        let a = blobs(&cfg);
        let b = blobs(&cfg);
        assert_eq!(a.train_x.size(), vec![100, 3, 4, 5]);
        assert!(a.train_x.equal(&b.train_x) && a.train_y.equal(&b.train_y));
        assert!(a.train_x.min().double_value(&[]) >= 0.0);
        assert!(a.train_x.max().double_value(&[]) <= 1.0);
        assert!(a.train_y.max().int64_value(&[]) < 3);
        // Test data shares the class centres but not the examples.
        assert!(!a.test_x.equal(&a.train_x.narrow(0, 0, 20)));
    }
}
