//! Which customers the dashboard plots: all of them up to a threshold, above it a seeded
//! stratified sample that keeps every segment visible, so the page stays a few megabytes
//! at 10 million customers.

use crate::rng::Rng;

/// Above this many customers the scatter shows a sample (WebGL stays fluid and the page
/// small; more points would only overplot).
pub const SAMPLE_THRESHOLD: usize = 50_000;
/// Every segment keeps at least this many points (or all of its customers), so a small
/// segment stays visible in the sample.
pub const MIN_PER_SEGMENT: usize = 25;
/// Sub-stream of the seed used for sampling, so it never overlaps K-Means' streams.
const SAMPLE_STREAM: u64 = 0xDA5B_0A8D;

/// Rows the scatter shows, ascending. All rows up to `threshold`; above it, a stratified
/// sample of about `threshold` rows: each segment gets its proportional share (largest
/// remainders settle the rounding) but at least `min_per_segment` rows, drawn by
/// selection sampling (Knuth's algorithm S) with a stream per segment derived from
/// `seed`, so the sample depends only on the labels and the seed.
pub fn sample_rows(
    labels: &[u32],
    k: usize,
    threshold: usize,
    min_per_segment: usize,
    seed: u64,
) -> Vec<usize> {
    let n = labels.len();
    if n <= threshold {
        return (0..n).collect();
    }
    let mut sizes = vec![0u64; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    let quotas = quotas(&sizes, threshold as u64, min_per_segment as u64);
    let mut rngs: Vec<Rng> = (0..k)
        .map(|s| Rng::derive(seed, &[SAMPLE_STREAM, s as u64]))
        .collect();
    let mut remaining = sizes.clone();
    let mut needed = quotas;
    let mut out = Vec::with_capacity(needed.iter().sum::<u64>() as usize);
    for (i, &l) in labels.iter().enumerate() {
        let s = l as usize;
        if needed[s] > 0 && rngs[s].below(remaining[s]) < needed[s] {
            out.push(i);
            needed[s] -= 1;
        }
        remaining[s] -= 1;
    }
    out
}

/// Per-segment sample sizes: proportional shares of `total` by largest remainder, raised
/// to `min(size, min_per_segment)`.
pub fn quotas(sizes: &[u64], total: u64, min_per_segment: u64) -> Vec<u64> {
    let n: u64 = sizes.iter().sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let total = total.min(n);
    let mut q: Vec<u64> = sizes
        .iter()
        .map(|&s| (total as u128 * s as u128 / n as u128) as u64)
        .collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    let rem = |s: usize| (total as u128 * sizes[s] as u128 % n as u128) as u64;
    order.sort_by(|&a, &b| rem(b).cmp(&rem(a)).then(a.cmp(&b)));
    let short = total - q.iter().sum::<u64>();
    for &s in order.iter().take(short as usize) {
        q[s] += 1;
    }
    for (qs, &size) in q.iter_mut().zip(sizes) {
        *qs = (*qs).max(size.min(min_per_segment)).min(size);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(sizes: &[usize]) -> Vec<u32> {
        // Interleaved, so segments are spread over the rows as in real data.
        let mut out = Vec::new();
        let mut left = sizes.to_vec();
        while left.iter().any(|&l| l > 0) {
            for (s, l) in left.iter_mut().enumerate() {
                if *l > 0 {
                    out.push(s as u32);
                    *l -= 1;
                }
            }
        }
        out
    }

    #[test]
    fn small_inputs_are_shown_whole() {
        let l = labels(&[10, 5]);
        assert_eq!(sample_rows(&l, 2, 100, 25, 1), (0..15).collect::<Vec<_>>());
    }

    #[test]
    fn sample_is_proportional_with_a_floor_and_deterministic() {
        let sizes = [150_000usize, 45_000, 4_990, 10];
        let l = labels(&sizes);
        let rows = sample_rows(&l, 4, 50_000, 25, 7);
        assert_eq!(rows, sample_rows(&l, 4, 50_000, 25, 7));
        assert_ne!(rows, sample_rows(&l, 4, 50_000, 25, 8));
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending and unique");
        let mut got = [0usize; 4];
        for &i in &rows {
            got[l[i] as usize] += 1;
        }
        let n: usize = sizes.iter().sum();
        for s in 0..3 {
            let want = 50_000.0 * sizes[s] as f64 / n as f64;
            assert!(
                (got[s] as f64 - want).abs() <= 1.0,
                "segment {s}: {} vs {want}",
                got[s]
            );
        }
        // The tiny segment keeps all of its 10 customers (floor 25 > size).
        assert_eq!(got[3], 10);
        // Rows spread over the whole file, not the first ones of each segment.
        assert!(*rows.last().unwrap() > n * 9 / 10);
    }

    #[test]
    fn ten_million_customers_still_give_a_bounded_sample() {
        let n = 10_000_000usize;
        // Segment of row i: a fixed mix with one tiny segment.
        let l: Vec<u32> = (0..n as u32)
            .map(|i| if i % 1_000_000 == 7 { 3 } else { i % 3 })
            .collect();
        let t = std::time::Instant::now();
        let rows = sample_rows(&l, 4, SAMPLE_THRESHOLD, MIN_PER_SEGMENT, 42);
        assert!(
            t.elapsed().as_secs_f64() < 5.0,
            "sampling took {:?}",
            t.elapsed()
        );
        assert!(
            rows.len() >= SAMPLE_THRESHOLD && rows.len() <= SAMPLE_THRESHOLD + 4 * MIN_PER_SEGMENT
        );
        assert_eq!(
            rows.iter().filter(|&&i| l[i] == 3).count(),
            10,
            "the 10-customer segment is kept whole"
        );
    }

    #[test]
    fn quotas_sum_and_floor() {
        let q = quotas(&[1, 1, 1], 2, 0);
        assert_eq!(q.iter().sum::<u64>(), 2);
        assert_eq!(quotas(&[1000, 3], 100, 25), vec![100, 3]);
        assert_eq!(quotas(&[1000, 100], 110, 25), vec![100, 25]);
    }
}
