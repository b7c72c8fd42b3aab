//! The report's figures with their uncertainty. A figure of a cell (one sparsity, one method)
//! is the mean over its runs; its uncertainty depends on how many training seeds it has:
//!
//! - two or more seeds: the sample standard deviation (n − 1) of the per-seed values (each
//!   seed's value is the mean over its runs: its pruning processes) and the number of seeds;
//! - one seed: a 95 % interval over the evaluated images: the Wilson interval of the pooled
//!   count for an accuracy, ± 1.96 standard errors for an AUC (the errors of the runs
//!   combined as independent).
//!
//! Overall figures average the cells of a method over its sparsities, per seed alike.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::eval::stats::{mean_sd, wilson, Z95};

/// One run's value of a figure, with what its one-seed interval needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub seed: u64,
    pub value: f64,
    /// Standard error over the images (0 when unknown).
    pub se: f64,
    /// For an accuracy: (correct, images).
    pub count: Option<(f64, f64)>,
}

impl Sample {
    /// An accuracy measured on `n` images.
    pub fn accuracy(seed: u64, acc: f64, n: usize) -> Sample {
        let n = n as f64;
        Sample {
            seed,
            value: acc,
            se: (acc * (1.0 - acc) / n.max(1.0)).sqrt(),
            count: Some(((acc * n).round(), n)),
        }
    }
}

/// A figure and its uncertainty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Est {
    /// The mean over the runs (or cells) it summarises.
    pub value: f64,
    /// Each seed's value: the mean over that seed's runs.
    pub by_seed: BTreeMap<u64, f64>,
    /// One seed only: the 95 % interval over the images.
    pub interval: Option<(f64, f64)>,
    /// Standard error over the images (for combining into overall figures).
    pub se: f64,
}

impl Est {
    /// From the runs' samples; None without any.
    pub fn from_samples(samples: &[Sample]) -> Option<Est> {
        let finite: Vec<&Sample> = samples.iter().filter(|s| s.value.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        let m = finite.len() as f64;
        let value = finite.iter().map(|s| s.value).sum::<f64>() / m;
        let se = finite.iter().map(|s| s.se * s.se).sum::<f64>().sqrt() / m;
        let by_seed = per_seed(finite.iter().map(|s| (s.seed, s.value)));
        let counts: Option<Vec<(f64, f64)>> = finite.iter().map(|s| s.count).collect();
        let interval = (by_seed.len() == 1).then(|| match counts {
            Some(c) => {
                let (k, n) = c.iter().fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
                wilson(k as u64, n as u64)
            }
            None => ((value - Z95 * se).max(0.0), (value + Z95 * se).min(1.0)),
        });
        Some(Est {
            value,
            by_seed,
            interval,
            se,
        })
    }

    /// The mean of several figures (a method's cells over its sparsities): the value is the
    /// mean of their values, each seed's value the mean of their values for that seed.
    pub fn mean_of(parts: &[&Est]) -> Option<Est> {
        if parts.is_empty() {
            return None;
        }
        let m = parts.len() as f64;
        let value = parts.iter().map(|e| e.value).sum::<f64>() / m;
        let se = parts.iter().map(|e| e.se * e.se).sum::<f64>().sqrt() / m;
        let by_seed = per_seed(
            parts
                .iter()
                .flat_map(|e| e.by_seed.iter().map(|(s, v)| (*s, *v))),
        );
        let interval = (by_seed.len() == 1)
            .then(|| ((value - Z95 * se).max(0.0), (value + Z95 * se).min(1.0)));
        Some(Est {
            value,
            by_seed,
            interval,
            se,
        })
    }

    /// Sample standard deviation across seeds (None with fewer than two).
    pub fn sd(&self) -> Option<f64> {
        mean_sd(&self.by_seed.values().copied().collect::<Vec<_>>()).sd
    }

    pub fn seeds(&self) -> usize {
        self.by_seed.len()
    }

    /// `0.912 ± 0.004` (across seeds; ` (n 2)` when fewer seeds than `seeds`),
    /// `0.912 [0.880, 0.936]` (one seed), three decimals.
    pub fn show(&self, seeds: usize) -> String {
        let mut s = format!("{:.3}", self.value);
        match (self.sd(), self.interval) {
            (Some(sd), _) => {
                let _ = write!(s, " ± {sd:.3}");
                if self.seeds() != seeds {
                    let _ = write!(s, " (n {})", self.seeds());
                }
            }
            (None, Some((lo, hi))) => {
                let _ = write!(s, " [{lo:.3}, {hi:.3}]");
            }
            _ => {}
        }
        s
    }
}

/// Mean value per seed.
fn per_seed(values: impl Iterator<Item = (u64, f64)>) -> BTreeMap<u64, f64> {
    let mut acc: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (s, v) in values {
        let e = acc.entry(s).or_default();
        e.0 += v;
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(s, (sum, n))| (s, sum / n as f64))
        .collect()
}

/// `-` for a missing figure, else [`Est::show`].
pub fn show(e: Option<&Est>, seeds: usize) -> String {
    e.filter(|e| e.value.is_finite())
        .map_or_else(|| "-".into(), |e| e.show(seeds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn across_seeds_the_sd_of_the_per_seed_means() {
        // Two processes x three seeds; seed means 0.5, 0.6, 0.7 -> sd 0.1.
        let s = |seed, value| Sample {
            seed,
            value,
            se: 0.02,
            count: None,
        };
        let e = Est::from_samples(&[
            s(1, 0.45),
            s(1, 0.55),
            s(2, 0.6),
            s(2, 0.6),
            s(3, 0.65),
            s(3, 0.75),
        ])
        .unwrap();
        assert!((e.value - 0.6).abs() < 1e-12);
        assert!((e.sd().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!((e.seeds(), e.interval), (3, None));
        assert_eq!(e.show(3), "0.600 ± 0.100");
        assert_eq!(e.show(4), "0.600 ± 0.100 (n 3)");
    }

    #[test]
    fn one_seed_gives_the_interval_over_the_images() {
        // Two runs of one seed, 8 of 10 and 6 of 10 right: pooled Wilson of 14 of 20.
        let e = Est::from_samples(&[Sample::accuracy(1, 0.8, 10), Sample::accuracy(1, 0.6, 10)])
            .unwrap();
        assert!((e.value - 0.7).abs() < 1e-12);
        assert_eq!(e.interval, Some(wilson(14, 20)));
        assert_eq!(e.sd(), None);
        // AUCs: value ± 1.96 sqrt(se1² + se2²) / 2.
        let auc = |v| Sample {
            seed: 1,
            value: v,
            se: 0.03,
            count: None,
        };
        let e = Est::from_samples(&[auc(0.4), auc(0.5)]).unwrap();
        let half = Z95 * (2.0f64 * 0.03 * 0.03).sqrt() / 2.0;
        let (lo, hi) = e.interval.unwrap();
        assert!((lo - (0.45 - half)).abs() < 1e-12 && (hi - (0.45 + half)).abs() < 1e-12);
        assert_eq!(
            e.show(1),
            format!("0.450 [{:.3}, {:.3}]", 0.45 - half, 0.45 + half)
        );
        assert_eq!(Est::from_samples(&[]), None);
    }

    #[test]
    fn overall_figures_average_cells_per_seed() {
        let cell = |a: f64, b: f64| {
            Est::from_samples(&[
                Sample {
                    seed: 1,
                    value: a,
                    se: 0.0,
                    count: None,
                },
                Sample {
                    seed: 2,
                    value: b,
                    se: 0.0,
                    count: None,
                },
            ])
            .unwrap()
        };
        let (x, y) = (cell(0.2, 0.4), cell(0.6, 0.6));
        let o = Est::mean_of(&[&x, &y]).unwrap();
        assert!((o.value - 0.45).abs() < 1e-12);
        // Seed 1: (0.2 + 0.6) / 2 = 0.4; seed 2: 0.5.
        assert_eq!(o.by_seed.values().copied().collect::<Vec<_>>(), [0.4, 0.5]);
        assert_eq!(show(None, 2), "-");
    }
}
