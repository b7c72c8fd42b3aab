//! Bounded time series for the charts. A run can last millions of steps; a chart is at most a
//! few hundred cells wide. Each series keeps at most `cap` points: when full, neighbouring
//! pairs are merged (averaged) and every later point stands for twice as many raw samples, so
//! the density stays uniform over the whole run and memory is fixed from the first push.

/// Default number of points kept per series.
pub const DEFAULT_CAP: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Averaged `(x, y)` points; the last one may be a bucket still filling up.
    points: Vec<(f64, f64)>,
    cap: usize,
    /// Raw samples per complete point.
    stride: usize,
    /// Raw samples in the last point.
    filled: usize,
    /// The latest raw sample, exact (the value shown as "now").
    last: Option<(f64, f64)>,
}

impl Default for Series {
    fn default() -> Self {
        Series::with_cap(DEFAULT_CAP)
    }
}

impl Series {
    /// `cap` is rounded up to an even number of at least 2 so pairs always merge cleanly.
    pub fn with_cap(cap: usize) -> Series {
        let cap = cap.max(2).next_multiple_of(2);
        Series {
            points: Vec::with_capacity(cap),
            cap,
            stride: 1,
            filled: 0,
            last: None,
        }
    }

    /// Adds one raw sample. Non-finite values (a diverged loss) are remembered as the latest
    /// value but kept out of the points, so one NaN does not wipe the chart's scale.
    pub fn push(&mut self, x: f64, y: f64) {
        self.last = Some((x, y));
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        if self.filled == 0 || self.filled == self.stride {
            if self.points.len() == self.cap {
                self.merge_pairs();
            }
            self.points.push((x, y));
            self.filled = 1;
            return;
        }
        // Running mean of the open bucket, updated in place: no allocation per sample.
        let n = self.filled as f64;
        if let Some(p) = self.points.last_mut() {
            p.0 = (p.0 * n + x) / (n + 1.0);
            p.1 = (p.1 * n + y) / (n + 1.0);
        }
        self.filled += 1;
    }

    fn merge_pairs(&mut self) {
        let half = self.points.len() / 2;
        for i in 0..half {
            let (a, b) = (self.points[2 * i], self.points[2 * i + 1]);
            self.points[i] = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        }
        self.points.truncate(half);
        self.stride *= 2;
        // Every kept point is complete, so the next sample opens a new bucket.
        self.filled = self.stride;
    }

    /// Forgets every sample after `x` (a run rolled back to a checkpoint). A bucket that
    /// straddles `x` goes whole: its average cannot be split.
    pub fn truncate_after(&mut self, x: f64) {
        self.points.retain(|p| p.0 <= x);
        self.filled = self.stride;
        self.last = self
            .last
            .filter(|l| l.0 <= x)
            .or(self.points.last().copied());
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Points the buffer has room for: fixed at creation, so memory never grows.
    pub fn allocated(&self) -> usize {
        self.points.capacity()
    }

    /// Raw samples each complete point stands for.
    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn clear(&mut self) {
        *self = Series::with_cap(self.cap);
    }

    /// Smallest and largest y, if any.
    pub fn y_range(&self) -> Option<(f64, f64)> {
        y_range(&self.points)
    }
}

pub fn y_range(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    points.iter().fold(None, |acc, &(_, y)| match acc {
        None => Some((y, y)),
        Some((lo, hi)) => Some((lo.min(y), hi.max(y))),
    })
}

/// Exponential moving average with TensorBoard's bias correction, so the first points are not
/// pulled towards zero. `weight` in [0, 1): 0 is no smoothing.
pub fn ema_into(points: &[(f64, f64)], weight: f64, out: &mut Vec<(f64, f64)>) {
    out.clear();
    let mut acc = 0.0;
    let mut debias = 1.0;
    for &(x, y) in points {
        acc = acc * weight + (1.0 - weight) * y;
        debias *= weight;
        out.push((x, acc / (1.0 - debias).max(f64::MIN_POSITIVE)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_over_100k_pushes_and_covers_the_whole_run() {
        let mut s = Series::default();
        let allocated = s.allocated();
        for i in 0..100_000 {
            s.push(i as f64, (i % 7) as f64);
            assert!(s.points().len() <= DEFAULT_CAP, "at push {i}");
        }
        assert_eq!(s.allocated(), allocated, "allocated once, never grown");
        let pts = s.points();
        assert!(pts.len() > DEFAULT_CAP / 2, "uses the space it has");
        assert!(
            pts[0].0 < 64.0,
            "still starts at the beginning: {}",
            pts[0].0
        );
        assert!(pts[pts.len() - 1].0 > 99_900.0);
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0), "x stays sorted");
        // Averaging keeps the mean of a periodic signal.
        let mean = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
        assert!((mean - 3.0).abs() < 0.05, "{mean}");
        assert_eq!(s.last(), Some((99_999.0, (99_999 % 7) as f64)));
    }

    #[test]
    fn merging_averages_pairs_exactly() {
        let mut s = Series::with_cap(4);
        for i in 0..4 {
            s.push(i as f64, i as f64 * 10.0);
        }
        assert_eq!(
            s.points(),
            &[(0.0, 0.0), (1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]
        );
        s.push(4.0, 40.0);
        assert_eq!(s.points(), &[(0.5, 5.0), (2.5, 25.0), (4.0, 40.0)]);
        assert_eq!(s.stride(), 2);
        s.push(5.0, 50.0);
        assert_eq!(s.points(), &[(0.5, 5.0), (2.5, 25.0), (4.5, 45.0)]);
    }

    #[test]
    fn non_finite_values_are_kept_out_of_the_chart() {
        let mut s = Series::with_cap(8);
        s.push(0.0, 1.0);
        s.push(1.0, f64::NAN);
        assert_eq!(s.points(), &[(0.0, 1.0)]);
        assert!(s.last().unwrap().1.is_nan());
    }

    #[test]
    fn ema_is_bias_corrected() {
        let pts = [(0.0, 2.0), (1.0, 2.0), (2.0, 2.0)];
        let mut out = Vec::new();
        ema_into(&pts, 0.9, &mut out);
        for (a, b) in out.iter().zip(pts) {
            assert!((a.1 - b.1).abs() < 1e-12);
        }
        ema_into(&pts, 0.0, &mut out);
        assert_eq!(out, pts);
    }
}
