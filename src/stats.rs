//! Column statistics with missing values (NaN) skipped: the mean, and the median as
//! numpy computes it, exactly, per segment and overall, by radix selection on large
//! columns. Ground layer: nothing here imports the rest of the crate.
//!
//! The radix selection is written by hand because it is where the profile and the
//! cleaning of ten million customers spent their time: grouping a column by segment and
//! selecting in each group copies the column and runs selections over all of it; here
//! each pass only streams the column and counts, and the few values left near each
//! median are selected among. The results are the same order statistics, bit for bit
//! (tests compare both ways). Measurements: `cargo bench --bench kernels -- medians`,
//! bench/RESULTS.md.

/// Below this many rows the medians come from grouping and selecting (the histograms of
/// [`radix_medians`] would cost more than they save).
const RADIX_MIN_ROWS: usize = 1 << 16;
/// Above this many segments, grouping and selecting (k histograms of 256 KiB each).
const RADIX_MAX_K: usize = 64;
const BITS: u32 = 16;
/// Buckets per histogram: one per value of the top 16 key bits.
pub const BINS: usize = 1 << BITS;
/// A bucket holding a wanted rank is collected and selected in when it has at most this
/// many values; a bigger one is narrowed by the next 16 key bits first.
/// (Unit tests use a small bound so that their columns reach every level.)
const COLLECT_MAX: u64 = if cfg!(test) { 1 << 12 } else { 1 << 18 };

/// Median of each segment (and, last, of all values) by grouping the values by segment
/// and selecting in place: the reference for [`radix_medians`], and the path for small inputs.
pub fn medians_by_grouping(
    values: &[f64],
    labels: &[u32],
    k: usize,
    counts: &[u64],
) -> Vec<Option<f64>> {
    let mut starts = vec![0usize; k + 1];
    for s in 1..=k {
        starts[s] = starts[s - 1] + counts[s - 1] as usize;
    }
    let mut grouped = vec![0.0f64; counts[k] as usize];
    let mut fill = starts.clone();
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            grouped[fill[l as usize]] = v;
            fill[l as usize] += 1;
        }
    }
    // In place: `grouped` holds no NaN, and the order of values does not change a median
    // (each segment's part is done before the whole buffer is reordered).
    let mut medians: Vec<Option<f64>> = (0..k)
        .map(|s| median_in_place(&mut grouped[starts[s]..starts[s] + counts[s] as usize]))
        .collect();
    medians.push(median_in_place(&mut grouped));
    medians
}

/// Whether [`radix_medians`] is worth its histograms for `rows` values in `k` segments.
pub fn radix_pays(rows: usize, k: usize) -> bool {
    rows >= RADIX_MIN_ROWS && k <= RADIX_MAX_K && rows < u32::MAX as usize
}

/// The level-1 histogram bucket of a (non-NaN) value.
#[inline]
pub fn top_bin(v: f64) -> usize {
    (order_key(v) >> (64 - BITS)) as usize
}

/// The median of the non-missing values (None when there are none): the mean of the two
/// middle values for an even count, as pandas and numpy give it. Large columns go
/// through [`radix_medians`], without copying them.
pub fn median(values: &[f64]) -> Option<f64> {
    if !radix_pays(values.len(), 0) {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        return median_in_place(&mut v);
    }
    let mut hist = vec![0u32; BINS];
    let mut n = 0u64;
    for &v in values {
        if !v.is_nan() {
            hist[top_bin(v)] += 1;
            n += 1;
        }
    }
    radix_medians(values, None, 0, &[n], hist).pop().flatten()
}

/// [`median`] of values holding no NaN, reordering them instead of copying them (the
/// profile of millions of customers would otherwise copy every column once more).
pub fn median_in_place(v: &mut [f64]) -> Option<f64> {
    debug_assert!(v.iter().all(|x| !x.is_nan()));
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let mid = n / 2;
    let (_, hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lo + (hi - lo) / 2.0)
}

/// Reorders `v` so that each of the positions `ranks` (ascending, each below `v.len()`)
/// holds the value a sort by [`f64::total_cmp`] would put there, by successive
/// selections on sub-ranges instead of a full sort: every quantile of a segment then costs
/// a few passes over it, not a sort (a column of ten million customers sorts in about a
/// second; its nine drift quantiles select in a tenth of that). The other positions hold
/// the remaining values in no particular order.
pub fn select_ranks(v: &mut [f64], ranks: &[usize]) {
    debug_assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    debug_assert!(ranks.last().is_none_or(|&r| r < v.len()));
    select_ranks_from(v, ranks, 0);
}

/// [`select_ranks`] on the part of a slice that starts at position `offset` of it.
fn select_ranks_from(v: &mut [f64], ranks: &[usize], offset: usize) {
    if ranks.is_empty() {
        return;
    }
    let m = ranks.len() / 2;
    let r = ranks[m] - offset;
    v.select_nth_unstable_by(r, f64::total_cmp);
    let (left, right) = v.split_at_mut(r);
    // Ranks equal to the one just placed are placed with it.
    let below = ranks[..m].partition_point(|&x| x < ranks[m]);
    let above = m + 1 + ranks[m + 1..].partition_point(|&x| x == ranks[m]);
    select_ranks_from(left, &ranks[..below], offset);
    select_ranks_from(&mut right[1..], &ranks[above..], offset + r + 1);
}

/// The positions a linear quantile (numpy's default) reads in `n` sorted values, given
/// its fractional positions (`(n - 1) × level`, computed exactly as the quantile formula
/// computes them): the floor and the next position of each, ascending and distinct, for
/// [`select_ranks`].
pub fn quantile_ranks(n: usize, positions: impl IntoIterator<Item = f64>) -> Vec<usize> {
    let mut ranks = Vec::new();
    if n == 0 {
        return ranks;
    }
    for pos in positions {
        let lo = pos.floor() as usize;
        ranks.push(lo.min(n - 1));
        ranks.push((lo + 1).min(n - 1));
    }
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// Mean of the non-missing values, summed in order (pairwise differences from numpy are
/// below 1e-12 relative for these sizes).
pub fn mean(values: &[f64]) -> Option<f64> {
    let (mut sum, mut n) = (0.0f64, 0u64);
    for &x in values {
        if !x.is_nan() {
            sum += x;
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// The order of [`f64::total_cmp`] as an unsigned integer (NaN excluded by the callers).
#[inline]
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

#[inline]
fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// An open bucket as the streaming pass tests it: values whose key shifted right by
/// `shift` equals `prefix` belong to bucket `id`.
#[derive(Clone, Copy)]
struct Slot {
    shift: u32,
    prefix: u64,
    id: u32,
}

impl Slot {
    /// Matches nothing (a key shifted right by 63 is 0 or 1).
    const NONE: Slot = Slot {
        shift: 63,
        prefix: 2,
        id: u32::MAX,
    };
}

/// One order statistic being looked for: the value of rank `rank` among the values of
/// `group` (a segment, or `k` for all) whose key starts with the `known` bits `prefix`.
#[derive(Clone, Copy)]
struct Wanted {
    group: usize,
    rank: u64,
    known: u32,
    prefix: u64,
    /// Values of the group with that prefix.
    count: u64,
    value: Option<f64>,
}

impl Wanted {
    /// Fixes the next 16 key bits from a histogram of them over the current bucket.
    fn narrow(&mut self, hist: &[u32]) {
        let mut below = 0u64;
        for (b, &c) in hist.iter().enumerate() {
            let c = c as u64;
            if below + c > self.rank {
                self.rank -= below;
                self.prefix = (self.prefix << BITS) | b as u64;
                self.known += BITS;
                self.count = c;
                if self.known == 64 {
                    // Every value in the bucket has these exact bits.
                    self.value = Some(from_order_key(self.prefix));
                }
                return;
            }
            below += c;
        }
        unreachable!("rank {} beyond the {below} values of its bucket", self.rank);
    }
}

/// The medians of every segment and of all values, exactly as [`medians_by_grouping`]
/// gives them, by radix selection. `counts` has the non-missing values of each of the `k`
/// segments, then of all; `hist` the level-1 histogram ([`top_bin`]) of each segment, filled
/// by the caller's first pass. Without labels there are no segments (`k` = 0) and `hist`
/// is the histogram of all values. A histogram finds the bucket of each wanted
/// rank, later passes narrow big buckets by 16 more bits and collect small ones, whose
/// order statistic a selection then gives. Each pass streams the column once; unlike
/// grouping, no copy of the column is made and no full-size selection is run, which at
/// ten million customers was most of the profile's time.
pub fn radix_medians(
    values: &[f64],
    labels: Option<&[u32]>,
    k: usize,
    counts: &[u64],
    hist: Vec<u32>,
) -> Vec<Option<f64>> {
    radix_medians_and(values, labels, k, counts, hist, |_, _| {})
}

/// [`radix_medians`], calling `also(value, segment)` once for every non-missing value in
/// row order (segment 0 without labels) during its first pass over the column, so a
/// caller's second pass (the spreads around each segment's mean) rides on it instead of
/// streaming the column once more.
pub fn radix_medians_and(
    values: &[f64],
    labels: Option<&[u32]>,
    k: usize,
    counts: &[u64],
    hist: Vec<u32>,
    mut also: impl FnMut(f64, u32),
) -> Vec<Option<f64>> {
    let mut first_pass = true;
    debug_assert_eq!(counts.len(), k + 1);
    debug_assert_eq!(hist.len(), k.max(1) * BINS);
    let mut wanted: Vec<Wanted> = Vec::with_capacity(2 * (k + 1));
    for (g, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let ranks: &[u64] = if n % 2 == 1 {
            &[n / 2]
        } else {
            &[n / 2 - 1, n / 2]
        };
        for &rank in ranks {
            wanted.push(Wanted {
                group: g,
                rank,
                known: 0,
                prefix: 0,
                count: n,
                value: None,
            });
        }
    }
    // Level 1 from the first pass; all values = the sum of the segments' histograms.
    let all = if k == 0 {
        hist.clone()
    } else {
        let mut all = vec![0u32; BINS];
        for seg in hist.chunks_exact(BINS) {
            for (a, &c) in all.iter_mut().zip(seg) {
                *a += c;
            }
        }
        all
    };
    for w in &mut wanted {
        let h = if w.group == k {
            &all[..]
        } else {
            &hist[w.group * BINS..(w.group + 1) * BINS]
        };
        w.narrow(h);
    }
    drop(hist);
    drop(all);
    loop {
        // Buckets still open (wanted ranks sharing a bucket share it).
        let mut buckets: Vec<(usize, u32, u64, u64)> = Vec::new();
        let mut of_wanted = vec![usize::MAX; wanted.len()];
        for (i, w) in wanted.iter().enumerate() {
            if w.value.is_some() {
                continue;
            }
            let key = (w.group, w.known, w.prefix, w.count);
            of_wanted[i] = match buckets.iter().position(|b| *b == key) {
                Some(b) => b,
                None => {
                    buckets.push(key);
                    buckets.len() - 1
                }
            };
        }
        if buckets.is_empty() {
            if first_pass {
                for (i, &v) in values.iter().enumerate() {
                    if !v.is_nan() {
                        also(v, labels.map_or(0, |l| l[i]));
                    }
                }
            }
            break;
        }
        let collect: Vec<bool> = buckets.iter().map(|b| b.3 <= COLLECT_MAX).collect();
        let mut gathered: Vec<Vec<f64>> = buckets
            .iter()
            .zip(&collect)
            .map(|(b, &c)| {
                if c {
                    Vec::with_capacity(b.3 as usize)
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut hists: Vec<Vec<u32>> = collect
            .iter()
            .map(|&c| if c { Vec::new() } else { vec![0u32; BINS] })
            .collect();
        // The open buckets of each group: at most two (its two middle ranks), in fixed
        // slots so the pass below is a few shifts and compares per value.
        let mut slots = vec![[Slot::NONE; 2]; k + 1];
        for (b, bucket) in buckets.iter().enumerate() {
            let g = &mut slots[bucket.0];
            let free = if g[0].id == u32::MAX { 0 } else { 1 };
            g[free] = Slot {
                shift: 64 - bucket.1,
                prefix: bucket.2,
                id: b as u32,
            };
        }
        let portfolio = slots[k];
        // Smallest and largest key seen in each narrowed bucket: equal when every value
        // in it is the same (heavy ties, common in customer data: tenure 12, zero cash
        // advance), which then ends the search without narrowing down to the last bit.
        let mut lo = vec![u64::MAX; buckets.len()];
        let mut hi = vec![0u64; buckets.len()];
        let mut visit = |s: &Slot, key: u64, v: f64| {
            if key >> s.shift == s.prefix {
                let b = s.id as usize;
                if collect[b] {
                    gathered[b].push(v);
                } else {
                    hists[b][((key >> (s.shift - BITS)) & (BINS as u64 - 1)) as usize] += 1;
                    lo[b] = lo[b].min(key);
                    hi[b] = hi[b].max(key);
                }
            }
        };
        match (labels, first_pass) {
            (Some(labels), true) => {
                for (&v, &l) in values.iter().zip(labels) {
                    if v.is_nan() {
                        continue;
                    }
                    also(v, l);
                    let key = order_key(v);
                    let segment = &slots[l as usize];
                    for s in segment.iter().chain(&portfolio) {
                        visit(s, key, v);
                    }
                }
            }
            (Some(labels), false) => {
                for (&v, &l) in values.iter().zip(labels) {
                    if v.is_nan() {
                        continue;
                    }
                    let key = order_key(v);
                    let segment = &slots[l as usize];
                    for s in segment.iter().chain(&portfolio) {
                        visit(s, key, v);
                    }
                }
            }
            (None, first) => {
                for &v in values {
                    if !v.is_nan() {
                        if first {
                            also(v, 0);
                        }
                        let key = order_key(v);
                        for s in &portfolio {
                            visit(s, key, v);
                        }
                    }
                }
            }
        }
        first_pass = false;
        for (i, w) in wanted.iter_mut().enumerate() {
            let b = of_wanted[i];
            if b == usize::MAX {
                continue;
            }
            if collect[b] {
                let bucket = &mut gathered[b];
                debug_assert_eq!(bucket.len() as u64, w.count);
                let (_, v, _) = bucket.select_nth_unstable_by(w.rank as usize, f64::total_cmp);
                w.value = Some(*v);
            } else if lo[b] == hi[b] {
                w.value = Some(from_order_key(lo[b]));
            } else {
                w.narrow(&hists[b]);
            }
        }
    }
    (0..=k)
        .map(|g| {
            // Every wanted rank has its value once the loop ends.
            let mut of_group = wanted
                .iter()
                .filter(|w| w.group == g)
                .filter_map(|w| w.value);
            match (of_group.next(), of_group.next()) {
                (Some(mid), None) => Some(mid),
                (Some(lo), Some(hi)) => Some(lo + (hi - lo) / 2.0),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Median by a full sort: the slow, obvious oracle.
    fn sorted_median(values: &[f64]) -> Option<f64> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some(v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0),
        }
    }

    #[test]
    fn median_like_numpy() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0, 1.0]), Some(3.0));
        assert_eq!(median(&[f64::NAN]), None);
        for v in [
            vec![3.0, 1.0, 2.0],
            vec![4.0, 1.0, 3.0, 2.0],
            vec![-0.0, 0.0],
            vec![],
        ] {
            assert_eq!(
                median_in_place(&mut v.clone()).map(f64::to_bits),
                median(&v).map(f64::to_bits)
            );
        }
    }

    #[test]
    fn selected_ranks_hold_the_sorted_values() {
        let mut rng = crate::rng::Rng::new(5);
        for n in [1usize, 2, 3, 10, 101, 5_000] {
            for ties in [false, true] {
                let values: Vec<f64> = (0..n)
                    .map(|_| {
                        if ties {
                            [-0.0, 0.0, 1.0, 1.0, -2.5][rng.below(5) as usize]
                        } else {
                            rng.normal()
                        }
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let positions =
                    [0.0, 0.01, 0.25, 0.5, 0.5, 0.75, 0.99, 0.999, 1.0].map(|p| (n - 1) as f64 * p);
                let ranks = quantile_ranks(n, positions);
                assert!(ranks.windows(2).all(|w| w[0] < w[1]));
                let mut v = values.clone();
                select_ranks(&mut v, &ranks);
                for &r in &ranks {
                    assert_eq!(v[r].to_bits(), sorted[r].to_bits(), "n = {n}, rank {r}");
                }
                // Every value is still there.
                v.sort_by(f64::total_cmp);
                assert_eq!(
                    v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    sorted.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                );
            }
        }
        let mut one = [3.0, 1.0, 2.0];
        select_ranks(&mut one, &[1, 1]);
        assert_eq!(one[1], 2.0);
        select_ranks(&mut [], &[]);
    }

    #[test]
    fn the_first_pass_hook_sees_every_value_in_row_order() {
        let mut rng = crate::rng::Rng::new(3);
        let n = 80_000;
        let k = 3;
        let values: Vec<f64> = (0..n)
            .map(|i| if i % 7 == 0 { f64::NAN } else { rng.normal() })
            .collect();
        let labels: Vec<u32> = (0..n).map(|_| rng.below(k as u64) as u32).collect();
        let mut counts = vec![0u64; k + 1];
        let mut hist = vec![0u32; k * BINS];
        for (&v, &l) in values.iter().zip(&labels) {
            if !v.is_nan() {
                counts[l as usize] += 1;
                counts[k] += 1;
                hist[l as usize * BINS + top_bin(v)] += 1;
            }
        }
        let mut seen = Vec::new();
        let with = radix_medians_and(&values, Some(&labels), k, &counts, hist.clone(), |v, l| {
            seen.push((v.to_bits(), l))
        });
        let expected: Vec<(u64, u32)> = values
            .iter()
            .zip(&labels)
            .filter(|(v, _)| !v.is_nan())
            .map(|(v, l)| (v.to_bits(), *l))
            .collect();
        assert_eq!(seen, expected);
        let without = radix_medians(&values, Some(&labels), k, &counts, hist);
        assert_eq!(with, without);
        // Nothing to select: the hook still runs over the values (none here).
        let mut calls = 0;
        radix_medians_and(&[f64::NAN; 4], None, 0, &[0], vec![0u32; BINS], |_, _| {
            calls += 1
        });
        assert_eq!(calls, 0);
    }

    #[test]
    fn mean_skips_missing_values() {
        assert_eq!(mean(&[1.0, f64::NAN, 5.0, 7.0]), Some(13.0 / 3.0));
        assert_eq!(mean(&[f64::NAN]), None);
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn order_key_follows_total_cmp() {
        let vals = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            1.0,
            1.0000000000000002,
            f64::INFINITY,
        ];
        for w in vals.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} < {}", w[0], w[1]);
        }
        for v in vals {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn median_of_large_columns_equals_the_sorted_median() {
        let mut rng = crate::rng::Rng::new(11);
        for (n, make) in [
            (100_001usize, 0u8),
            (100_000, 0),
            (200_000, 1),
            (70_000, 2),
            (90_000, 3),
        ] {
            let values: Vec<f64> = (0..n)
                .map(|i| match make {
                    0 => rng.normal() * 1e3,
                    // Heavy ties around the middle: narrows to the exact bits.
                    1 => [0.0, 12.0, 12.0, 12.0, f64::NAN][i % 5],
                    // Values a few ulps apart: every level of 16 bits.
                    2 => f64::from_bits(7.0f64.to_bits() + rng.below(1 << 40)),
                    _ => {
                        if i % 2 == 0 {
                            f64::NAN
                        } else {
                            -(rng.uniform() * 100.0).floor()
                        }
                    }
                })
                .collect();
            assert_eq!(
                median(&values).map(f64::to_bits),
                sorted_median(&values).map(f64::to_bits),
                "n = {n}, column {make}"
            );
        }
        assert_eq!(median(&vec![f64::NAN; 80_000]), None);
    }
}
