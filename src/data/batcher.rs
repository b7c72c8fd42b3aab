//! Seeded shuffling: epoch e's order is a permutation drawn from ChaCha8 seeded with
//! (seed, e), so a resumed run needs only (epoch, position) to continue with the same batches.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

pub struct Batcher {
    n: usize,
    batch: usize,
    seed: u64,
    device: Device,
}

impl Batcher {
    pub fn new(n: usize, batch: usize, seed: u64, device: Device) -> Self {
        Batcher {
            n,
            batch,
            seed,
            device,
        }
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.n.div_ceil(self.batch).max(1)
    }

    /// The example order of `epoch`.
    pub fn order(&self, epoch: usize) -> Vec<i64> {
        let mut idx: Vec<i64> = (0..self.n as i64).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        idx.shuffle(&mut rng);
        idx
    }

    /// Index tensors of every batch of `epoch`, on the training device (the last may be short).
    pub fn batches(&self, epoch: usize) -> Vec<Tensor> {
        self.order(epoch)
            .chunks(self.batch)
            .map(|c| Tensor::from_slice(c).to_device(self.device))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_seeded_permutation() {
        let b = Batcher::new(10, 4, 3, Device::Cpu);
        assert_eq!(b.steps_per_epoch(), 3);
        let e0 = b.order(0);
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(e0, Batcher::new(10, 4, 3, Device::Cpu).order(0));
        assert_ne!(e0, b.order(1));
        assert_ne!(e0, Batcher::new(10, 4, 4, Device::Cpu).order(0));
        let sizes: Vec<i64> = b.batches(0).iter().map(|t| t.size()[0]).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
    }
}
