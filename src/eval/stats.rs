//! Summary statistics for per-example values (DeepFool distances, budgets), accuracy curves
//! and their uncertainty: Wilson intervals for one run's accuracies, mean ± standard
//! deviation across seeds.
use crate::events::Distribution;

/// z of a two-sided 95 % normal interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % Wilson score interval of a proportion with `k` successes in `n` trials:
/// (p + z²/2n ± z √(p(1 − p)/n + z²/4n²)) / (1 + z²/n). Unlike p ± z √(p(1 − p)/n) it stays
/// inside [0, 1] and is not empty at p = 0 or 1. No trials: [0, 1].
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k.min(n) as f64 / n as f64);
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The Wilson interval of an accuracy measured on `n` examples (`acc` = k / n exactly, as
/// every accuracy bapw records is a count over its examples).
pub fn wilson_acc(acc: f64, n: usize) -> (f64, f64) {
    let k = (acc * n as f64).round().max(0.0) as u64;
    wilson(k, n as u64)
}

/// Mean, sample standard deviation (n − 1 in the denominator; None for fewer than two
/// values) and count of finite values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

pub fn mean_sd(values: &[f64]) -> MeanSd {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return MeanSd {
            mean: f64::NAN,
            sd: None,
            n,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = (n > 1).then(|| {
        let ss: f64 = v.iter().map(|x| (x - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    MeanSd { mean, sd, n }
}

/// Standard error of a mean of per-example values: sd (n − 1) / √n; 0 for one value.
pub fn standard_error(values: &[f64]) -> f64 {
    let m = mean_sd(values);
    m.sd.map_or(0.0, |sd| sd / (m.n as f64).sqrt())
}

/// The q-quantile (q in [0, 1]) of sorted values by linear interpolation between the two
/// nearest ranks: h = (n - 1) q, x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
/// This is numpy's default (`method="linear"`), R's type 7. 0 for no values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

impl Distribution {
    /// Histogram over `bins` equal bins spanning [lo, hi] plus quantiles, mean and population
    /// standard deviation (ddof 0). Bins are half-open [a, b) except the last, which includes
    /// hi; values below lo count in the first bin and values above hi in the last, so the
    /// counts always add up to the number of values. Non-finite values are dropped. With no
    /// values every statistic is 0 (JSON has no NaN).
    pub fn from_values(values: &[f64], lo: f64, hi: f64, bins: usize) -> Distribution {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let bins = bins.max(1);
        let width = if hi > lo {
            (hi - lo) / bins as f64
        } else {
            1.0
        };
        let mut counts = vec![0u64; bins];
        for &x in &v {
            let i = ((x - lo) / width).floor();
            let i = if i < 0.0 {
                0
            } else {
                (i as usize).min(bins - 1)
            };
            counts[i] += 1;
        }
        let n = v.len() as f64;
        let (mean, std) = if v.is_empty() {
            (0.0, 0.0)
        } else {
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        };
        Distribution {
            lo,
            bin_width: width,
            counts,
            p5: quantile_sorted(&v, 0.05),
            p25: quantile_sorted(&v, 0.25),
            p50: quantile_sorted(&v, 0.50),
            p75: quantile_sorted(&v, 0.75),
            p95: quantile_sorted(&v, 0.95),
            mean,
            std,
        }
    }
}

/// Trapezoid area under (grid, values) divided by the grid's span: the mean height of the
/// curve. A grid with no span (one point) gives the mean of the values.
pub fn auc(grid: &[f64], values: &[f64]) -> f64 {
    let n = grid.len().min(values.len());
    if n == 0 {
        return 0.0;
    }
    let span = grid[n - 1] - grid[0];
    if n == 1 || span <= 0.0 {
        return values[..n].iter().sum::<f64>() / n as f64;
    }
    let area: f64 = (1..n)
        .map(|i| (grid[i] - grid[i - 1]) * (values[i] + values[i - 1]) / 2.0)
        .sum();
    area / span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [5, 25, 50, 75, 95]) = 1.15, 1.75, 2.5, 3.25, 3.85
        let d = Distribution::from_values(&[4.0, 1.0, 3.0, 2.0], 0.0, 4.0, 4);
        for (got, want) in [
            (d.p5, 1.15),
            (d.p25, 1.75),
            (d.p50, 2.5),
            (d.p75, 3.25),
            (d.p95, 3.85),
        ] {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert_eq!(d.mean, 2.5);
        assert!((d.std - 1.25f64.sqrt()).abs() < 1e-12);
        // Bins [0,1) [1,2) [2,3) [3,4]: 4.0 falls in the last (closed) bin.
        assert_eq!(d.counts, vec![0, 1, 1, 2]);
        assert_eq!(d.bin_width, 1.0);
        // numpy.percentile([0, 10], 5) = 0.5; one value is every quantile.
        let two = Distribution::from_values(&[10.0, 0.0], 0.0, 10.0, 2);
        assert!((two.p5 - 0.5).abs() < 1e-12 && (two.p95 - 9.5).abs() < 1e-12);
        let one = Distribution::from_values(&[0.35], 0.0, 1.0, 10);
        assert_eq!((one.p5, one.p50, one.p95, one.std), (0.35, 0.35, 0.35, 0.0));
        assert_eq!(one.counts[3], 1);
    }

    #[test]
    fn out_of_range_values_land_in_the_edge_bins_and_nan_is_dropped() {
        let d = Distribution::from_values(&[-1.0, 0.5, 7.0, f64::NAN], 0.0, 1.0, 2);
        assert_eq!(d.counts, vec![1, 2]);
        let empty = Distribution::from_values(&[], 0.0, 1.0, 3);
        assert_eq!(empty.counts, vec![0, 0, 0]);
        assert_eq!((empty.mean, empty.p50), (0.0, 0.0));
    }

    #[test]
    fn wilson_matches_worked_values() {
        // statsmodels proportion_confint(8, 10, method="wilson"): (0.4902, 0.9433).
        let (lo, hi) = wilson(8, 10);
        assert!(
            (lo - 0.490_162).abs() < 1e-5 && (hi - 0.943_317).abs() < 1e-5,
            "{lo} {hi}"
        );
        // 0 of 20: lower bound 0, upper z²/(n + z²) = 3.8415 / 23.8415.
        let (lo, hi) = wilson(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 3.841_459 / 23.841_459).abs() < 1e-6, "{hi}");
        // All successes mirror it.
        let (lo, hi) = wilson(20, 20);
        assert!((lo - 20.0 / 23.841_459).abs() < 1e-6 && hi == 1.0, "{lo}");
        // Symmetric around 1/2 at k = n/2, and narrower with more trials.
        let (a, b) = wilson(150, 300);
        assert!((a + b - 1.0).abs() < 1e-12);
        let (c, d) = wilson(1500, 3000);
        assert!(d - c < b - a);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        assert_eq!(wilson_acc(0.8, 10), wilson(8, 10));
    }

    #[test]
    fn mean_and_sample_sd() {
        let m = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        // numpy.std([1, 2, 3, 4], ddof=1) = 1.2909944
        assert!((m.sd.unwrap() - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_eq!(m.n, 4);
        let one = mean_sd(&[0.7, f64::NAN]);
        assert_eq!((one.mean, one.sd, one.n), (0.7, None, 1));
        assert!(mean_sd(&[]).mean.is_nan());
        assert!(
            (standard_error(&[1.0, 2.0, 3.0, 4.0]) - 1.290_994_448_735_805_6 / 2.0).abs() < 1e-12
        );
        assert_eq!(standard_error(&[0.3]), 0.0);
    }

    #[test]
    fn auc_is_the_mean_height() {
        assert!((auc(&[0.0, 0.1, 0.3], &[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        // A straight line from 1 to 0: area 0.5 * span.
        assert!((auc(&[0.0, 0.2], &[1.0, 0.0]) - 0.5).abs() < 1e-12);
        // Uneven grid: (0.1 * (1 + 0.8) / 2 + 0.3 * (0.8 + 0.2) / 2) / 0.4 = 0.6
        assert!((auc(&[0.0, 0.1, 0.4], &[1.0, 0.8, 0.2]) - 0.6).abs() < 1e-12);
        assert_eq!(auc(&[0.1], &[0.7]), 0.7);
        assert_eq!(auc(&[], &[]), 0.0);
    }
}
