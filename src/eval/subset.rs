//! Which test images a robustness evaluation uses: a seeded, class-stratified random subset.
//!
//! The first N images of a test set are not a fair sample (MNIST's first 5,000 test images are
//! the easier half), so N images are drawn without replacement, each class getting its share of
//! N in proportion to its share of the test set (largest remainders, ties to the lower class),
//! from a ChaCha8 generator seeded with `eval.subset_seed`. The same seed and N give the same
//! images in every run on the same test set, so runs of a sweep are compared on one sample.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Indices (ascending) of `n` images stratified by `labels`; all of them when `n` is 0 or
/// at least the number of labels.
pub fn stratified(labels: &[i64], n: usize, seed: u64) -> Vec<i64> {
    let total = labels.len();
    if n == 0 || n >= total {
        return (0..total as i64).collect();
    }
    let mut classes: Vec<i64> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let mut groups: Vec<Vec<i64>> = classes
        .iter()
        .map(|c| {
            labels
                .iter()
                .enumerate()
                .filter(|(_, l)| *l == c)
                .map(|(i, _)| i as i64)
                .collect()
        })
        .collect();
    let quotas = quotas(&groups.iter().map(Vec::len).collect::<Vec<_>>(), n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for (g, q) in groups.iter_mut().zip(quotas) {
        g.shuffle(&mut rng);
        out.extend_from_slice(&g[..q]);
    }
    out.sort_unstable();
    out
}

/// Shares of `n` for groups of the given sizes, proportional to the sizes: the floors of the
/// exact shares, then one more for the largest remainders (the lower index first on ties).
/// Never more than a group holds; the shares add up to `n` when `n` <= the total.
pub fn quotas(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    let n = n.min(total);
    let mut q: Vec<usize> = sizes.iter().map(|s| s * n / total).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    // Remainder of group i: (s_i * n) mod total, compared exactly in integers.
    order.sort_by_key(|&i| std::cmp::Reverse((sizes[i] * n) % total));
    let mut left = n - q.iter().sum::<usize>();
    for i in order {
        if left == 0 {
            break;
        }
        if q[i] < sizes[i] {
            q[i] += 1;
            left -= 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_proportional_and_add_up() {
        // 10 000 MNIST-like test labels: shares of 300.
        let sizes = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
        let q = quotas(&sizes, 300);
        assert_eq!(q.iter().sum::<usize>(), 300);
        for (s, q) in sizes.iter().zip(&q) {
            let exact = *s as f64 * 300.0 / 10_000.0;
            assert!((*q as f64 - exact).abs() < 1.0, "{s}: {q} vs {exact}");
        }
        // Worked case: sizes 5, 3, 2 of 10, n = 5: shares 2.5, 1.5, 1 -> floors 2, 1, 1, one
        // left for the largest remainder (a tie between groups 0 and 1: the lower one).
        assert_eq!(quotas(&[5, 3, 2], 5), vec![3, 1, 1]);
        assert_eq!(quotas(&[5, 3, 2], 10), vec![5, 3, 2]);
        assert_eq!(quotas(&[5, 3, 2], 0), vec![0, 0, 0]);
        assert_eq!(quotas(&[], 4), Vec::<usize>::new());
    }

    #[test]
    fn subsets_are_stratified_seeded_and_not_the_first_images() {
        // 40 labels, classes in blocks: the first 12 images are all class 0.
        let labels: Vec<i64> = (0..40).map(|i| [0, 0, 0, 1, 1, 2, 2, 3][i % 8]).collect();
        let mut sorted = labels.clone();
        sorted.sort();
        let s = stratified(&sorted, 8, 1);
        assert_eq!(s.len(), 8);
        assert!(s.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats");
        let count = |c: i64| s.iter().filter(|&&i| sorted[i as usize] == c).count();
        // Shares of 8 from 15, 10, 10, 5 of 40: 3, 2, 2, 1.
        assert_eq!((count(0), count(1), count(2), count(3)), (3, 2, 2, 1));
        assert_eq!(stratified(&sorted, 8, 1), s, "same seed, same images");
        assert!(
            (2..12).any(|seed| stratified(&sorted, 8, seed) != s),
            "other seeds draw other images"
        );
        assert_eq!(stratified(&labels, 0, 3), (0..40).collect::<Vec<i64>>());
        assert_eq!(stratified(&labels, 99, 3).len(), 40);
    }
}
