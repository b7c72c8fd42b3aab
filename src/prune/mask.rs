//! Unstructured magnitude masks, layer-wise (TF-MOT: the same sparsity in every layer) or global
//! (one threshold over all prunable weights), re-applied after every optimiser step.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Measured sparsity of one prunable tensor after a mask update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSparsity {
    pub name: String,
    pub kept: i64,
    pub total: i64,
    pub sparsity: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Each layer gets its own threshold and the same target sparsity (the BAP default).
    #[default]
    Layer,
    /// One threshold over all prunable weights, so layers end at different sparsities.
    Global,
}

/// Number of weights TF-MOT keeps out of `numel` at sparsity `s`: `max(1, round(numel*(1-s)))`,
/// rounding half to even as Python's `round` and `tf.round` do.
pub fn kept_count(numel: i64, s: f64) -> i64 {
    ((numel as f64 * (1.0 - s)).round_ties_even() as i64).clamp(1, numel.max(1))
}

/// k-th largest absolute value of a flat tensor (k >= 1).
fn kth_largest_abs(flat_abs: &Tensor, k: i64) -> Tensor {
    let (values, _) = flat_abs.topk(k, 0, true, true);
    values.get(k - 1)
}

/// Masks (float 0/1, same shapes as the weights) keeping the largest magnitudes.
/// Ties at the threshold keep every tied weight (`|w| >= threshold`), as TF-MOT does.
pub fn magnitude_masks(weights: &[&Tensor], s: f64, scope: Scope) -> Vec<Tensor> {
    tch::no_grad(|| match scope {
        Scope::Layer => weights
            .iter()
            .map(|w| {
                let a = w.abs();
                let thr = kth_largest_abs(&a.flatten(0, -1), kept_count(w.numel() as i64, s));
                a.ge_tensor(&thr).to_kind(w.kind())
            })
            .collect(),
        Scope::Global => {
            if weights.is_empty() {
                return Vec::new();
            }
            let flat: Vec<Tensor> = weights.iter().map(|w| w.abs().flatten(0, -1)).collect();
            let all = Tensor::cat(&flat, 0);
            let thr = kth_largest_abs(&all, kept_count(all.numel() as i64, s));
            weights
                .iter()
                .map(|w| w.abs().ge_tensor(&thr).to_kind(w.kind()))
                .collect()
        }
    })
}

/// One prunable weight and its mask. `weight` shares storage with the model's variable.
pub struct MaskedWeight {
    pub name: String,
    pub weight: Tensor,
    pub mask: Tensor,
    /// Excluded layers keep a full mask and stay out of the global threshold.
    pub excluded: bool,
}

/// Holds every prunable weight of a model with its mask.
pub struct Pruner {
    pub layers: Vec<MaskedWeight>,
    pub scope: Scope,
    /// Fraction of masked-out weights over all layers, cached at each mask change.
    mask_sparsity: f64,
}

impl Pruner {
    pub fn new(prunable: Vec<(String, Tensor)>, scope: Scope, exclude: &[String]) -> Self {
        let layers = prunable
            .into_iter()
            .map(|(name, weight)| MaskedWeight {
                excluded: exclude.contains(&name),
                mask: Tensor::ones_like(&weight),
                name,
                weight,
            })
            .collect();
        Pruner {
            layers,
            scope,
            mask_sparsity: 0.0,
        }
    }

    /// Fraction of prunable weights whose mask is 0 (cached; no tensor work).
    pub fn mask_sparsity(&self) -> f64 {
        self.mask_sparsity
    }

    fn recount(&mut self) {
        let (mut kept, mut total) = (0.0, 0.0);
        for l in &self.layers {
            kept += l.mask.sum(Kind::Float).double_value(&[]);
            total += l.mask.numel() as f64;
        }
        self.mask_sparsity = if total > 0.0 { 1.0 - kept / total } else { 0.0 };
    }

    /// Recomputes the masks for target sparsity `s` and zeroes the pruned weights.
    pub fn update(&mut self, s: f64) {
        let idx: Vec<usize> = (0..self.layers.len())
            .filter(|&i| !self.layers[i].excluded)
            .collect();
        let ws: Vec<&Tensor> = idx.iter().map(|&i| &self.layers[i].weight).collect();
        let masks = magnitude_masks(&ws, s, self.scope);
        for (i, m) in idx.into_iter().zip(masks) {
            self.layers[i].mask = m;
        }
        self.recount();
        self.apply();
    }

    /// `w *= mask` for every prunable weight, outside autograd.
    pub fn apply(&self) {
        tch::no_grad(|| {
            for l in &self.layers {
                let mut w = l.weight.shallow_clone();
                let _ = w.g_mul_(&l.mask);
            }
        });
    }

    /// Measured sparsity (fraction of exactly-zero weights) per layer and over all of them.
    pub fn measure(&self) -> (f64, Vec<LayerSparsity>) {
        let mut zeros_total = 0i64;
        let mut total = 0i64;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let n = l.weight.numel() as i64;
                let nonzero = tch::no_grad(|| l.weight.ne(0.0).sum(Kind::Int64).int64_value(&[]));
                zeros_total += n - nonzero;
                total += n;
                LayerSparsity {
                    name: l.name.clone(),
                    kept: nonzero,
                    total: n,
                    sparsity: (n - nonzero) as f64 / n.max(1) as f64,
                }
            })
            .collect();
        (zeros_total as f64 / total.max(1) as f64, layers)
    }

    /// Replaces the masks (e.g. from a checkpoint) and re-applies them.
    pub fn set_masks(&mut self, masks: Vec<Tensor>) {
        for (l, m) in self.layers.iter_mut().zip(masks) {
            l.mask = m;
        }
        self.recount();
        self.apply();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    fn ones(m: &Tensor) -> i64 {
        m.sum(Kind::Int64).int64_value(&[])
    }

    #[test]
    fn kept_count_rounds_half_to_even_and_keeps_one() {
        assert_eq!(kept_count(10, 0.25), 8); // 7.5 -> 8
        assert_eq!(kept_count(10, 0.35), 6); // 6.5 -> 6
        assert_eq!(kept_count(800, 0.999), 1); // 0.8 -> 1
        assert_eq!(kept_count(840, 0.999), 1);
        assert_eq!(kept_count(263_424, 0.999), 263);
        assert_eq!(kept_count(100, 0.0), 100);
    }

    #[test]
    fn layer_masks_keep_largest_magnitudes() {
        let w = t(&[0.1, -0.9, 0.3, -0.2, 0.5, 0.05, -0.7, 0.4], &[2, 4]);
        let m = &magnitude_masks(&[&w], 0.5, Scope::Layer)[0];
        let got: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
        assert_eq!(got, vec![0., 1., 0., 0., 1., 0., 1., 1.]);
    }

    #[test]
    fn ties_keep_every_tied_weight() {
        let w = t(&[1.0, 1.0, 1.0, 0.5], &[4]);
        // k = 2 but three weights tie at the threshold 1.0: all three kept.
        let m = &magnitude_masks(&[&w], 0.5, Scope::Layer)[0];
        assert_eq!(ones(m), 3);
    }

    #[test]
    fn extreme_sparsity_keeps_exactly_one() {
        let w = Tensor::arange(800, (Kind::Float, tch::Device::Cpu)).reshape([32, 1, 5, 5]);
        let m = &magnitude_masks(&[&w], 0.999, Scope::Layer)[0];
        assert_eq!(ones(m), 1);
        assert_eq!(m.flatten(0, -1).int64_value(&[799]), 1);
    }

    #[test]
    fn global_differs_from_layerwise_on_layers_of_different_scales() {
        let small = Tensor::arange(10, (Kind::Float, tch::Device::Cpu)) * 0.01; // 0..0.09
        let large = Tensor::arange(10, (Kind::Float, tch::Device::Cpu)) + 1.0; // 1..10
        let lw = magnitude_masks(&[&small, &large], 0.5, Scope::Layer);
        assert_eq!((ones(&lw[0]), ones(&lw[1])), (5, 5));
        let gl = magnitude_masks(&[&small, &large], 0.5, Scope::Global);
        // One threshold over 20 weights keeps the 10 largest: every large one, no small one.
        assert_eq!((ones(&gl[0]), ones(&gl[1])), (0, 10));
    }

    #[test]
    fn pruner_zeroes_weights_and_measures() {
        let w = Tensor::arange(100, (Kind::Float, tch::Device::Cpu)) + 1.0;
        let w2 = Tensor::ones([10], (Kind::Float, tch::Device::Cpu));
        let mut p = Pruner::new(
            vec![
                ("a.weight".into(), w.shallow_clone()),
                ("b.weight".into(), w2.shallow_clone()),
            ],
            Scope::Layer,
            &["b.weight".to_string()],
        );
        p.update(0.7);
        let (total, layers) = p.measure();
        // 100 distinct magnitudes: keep 30 -> 70 zeros; the excluded layer keeps all 10.
        assert_eq!(layers[0].kept, 30);
        assert_eq!(layers[1].kept, 10);
        assert!((total - 70.0 / 110.0).abs() < 1e-12);
        // The model's own tensor was zeroed (shared storage).
        assert_eq!(w.ne(0.0).sum(Kind::Int64).int64_value(&[]), 30);
    }
}
