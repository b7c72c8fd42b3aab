//! Summary statistics for per-example values (DeepFool distances, budgets) and accuracy
//! curves.
use crate::events::Distribution;

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
