//! Silhouette scores (Rousseeuw 1987, scikit-learn's definition): for each customer,
//! a = mean distance to the others of its segment, b = the lowest mean distance to
//! another segment, s = (b - a) / max(a, b), and s = 0 in a segment of one.
//!
//! Written by hand because it is the costly part of choosing k: the exact score is
//! O(n²), and computing each pair distance once for the labelings of every k in the
//! sweep cuts the work by the number of k values.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{dim, dispatch_d};
use crate::rng::Rng;
use crate::scale::Matrix;

/// Rows above which the sweep uses a sampled silhouette by default.
pub const EXACT_MAX_ROWS: usize = 20_000;
/// Default sample size of the sampled estimate.
pub const SAMPLE_SIZE: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Exact,
    Sampled,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Exact => "exact",
            Method::Sampled => "sampled",
        })
    }
}

/// A silhouette score; `std_error` is set for sampled estimates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Score {
    pub value: f64,
    pub method: Method,
    pub sample_size: u64,
    pub std_error: Option<f64>,
}

/// Exact mean silhouette of each labeling (each with its own k) of the same rows.
pub fn exact_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<f64> {
    let per_point = samples_many(x, labelings);
    per_point
        .iter()
        .map(|s| s.iter().sum::<f64>() / x.n as f64)
        .collect()
}

/// Per-customer silhouettes for each labeling: `result[l][i]`.
///
/// The customers are grouped by the tuple of their labels across all labelings (the
/// common refinement of the partitions) and sorted by group. For each customer, one
/// pass over the sorted rows sums the distances to every group over contiguous ranges
/// (a vectorised loop with no scatter); each labeling's per-segment sums are then a
/// sum of group sums. Every pair distance is computed once for all k, and the
/// per-pair work is a subtraction, a square root and an add.
pub fn samples_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<Vec<f64>> {
    let (n, d) = (x.n, x.d);
    let nl = labelings.len();
    let tuple_cmp = |a: u32, b: u32| {
        labelings
            .iter()
            .map(|(l, _)| l[a as usize].cmp(&l[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| tuple_cmp(a, b).then(a.cmp(&b)));
    let mut starts = vec![0usize];
    for p in 1..n {
        if tuple_cmp(order[p - 1], order[p]).is_ne() {
            starts.push(p);
        }
    }
    starts.push(n);
    let groups = starts.len() - 1;
    // Segment of each group in each labeling, and segment sizes.
    let glab: Vec<Vec<u32>> = labelings
        .iter()
        .map(|(lab, _)| {
            (0..groups)
                .map(|g| lab[order[starts[g]] as usize])
                .collect()
        })
        .collect();
    let counts: Vec<Vec<u64>> = labelings
        .iter()
        .map(|(lab, k)| {
            let mut c = vec![0u64; *k];
            for &l in lab.iter() {
                c[l as usize] += 1;
            }
            c
        })
        .collect();
    // Sorted rows, column by column, so the distance loop runs over contiguous memory.
    let mut soa = vec![0.0f64; n * d];
    for (p, &i) in order.iter().enumerate() {
        for c in 0..d {
            soa[c * n + p] = x.data[i as usize * d + c];
        }
    }
    let max_k = labelings.iter().map(|(_, k)| *k).max().unwrap_or(1);
    let use_avx2 = avx2();
    let rows: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .with_min_len(8)
        .map_init(
            || (vec![0.0f64; groups], vec![0.0f64; max_k]),
            |(gsum, sums), i| {
                group_sums(x.row(i), &soa, n, &starts, gsum, use_avx2);
                (0..nl)
                    .map(|l| {
                        let k = labelings[l].1;
                        let sm = &mut sums[..k];
                        sm.iter_mut().for_each(|v| *v = 0.0);
                        for (g, &v) in gsum.iter().enumerate() {
                            sm[glab[l][g] as usize] += v;
                        }
                        point_score(labelings[l].0[i] as usize, &counts[l], sm)
                    })
                    .collect()
            },
        )
        .collect();
    (0..nl)
        .map(|l| rows.iter().map(|r| r[l]).collect())
        .collect()
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Sum of distances from `xi` to the sorted rows of each group. The AVX2 build of the
/// same code is chosen at run time; both sum in the same order (eight explicit lanes,
/// no fused multiply-add), so results are identical on every x86-64 machine.
fn group_sums(
    xi: &[f64],
    soa: &[f64],
    n: usize,
    starts: &[usize],
    out: &mut [f64],
    use_avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2 {
        // SAFETY: only called when the CPU reports AVX2.
        unsafe { group_sums_avx2(xi, soa, n, starts, out) };
        return;
    }
    let _ = use_avx2;
    group_sums_generic(xi, soa, n, starts, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_sums_avx2(xi: &[f64], soa: &[f64], n: usize, starts: &[usize], out: &mut [f64]) {
    group_sums_generic(xi, soa, n, starts, out)
}

#[inline(always)]
fn group_sums_generic(xi: &[f64], soa: &[f64], n: usize, starts: &[usize], out: &mut [f64]) {
    let d = xi.len();
    dispatch_d!(d, group_sums_d(xi, soa, n, starts, out, d))
}

#[inline(always)]
fn group_sums_d<const D: usize>(
    xi: &[f64],
    soa: &[f64],
    n: usize,
    starts: &[usize],
    out: &mut [f64],
    d: usize,
) {
    let d = dim::<D>(d);
    for (g, o) in out.iter_mut().enumerate() {
        *o = range_sum::<D>(xi, soa, n, starts[g], starts[g + 1], d);
    }
}

/// Sum of Euclidean distances from `xi` to sorted rows `lo..hi` (columns of length `n`).
#[inline(always)]
fn range_sum<const D: usize>(
    xi: &[f64],
    soa: &[f64],
    n: usize,
    lo: usize,
    hi: usize,
    d: usize,
) -> f64 {
    const L: usize = 8;
    let d = dim::<D>(d);
    let mut acc = [0.0f64; L];
    let mut j = lo;
    while j + L <= hi {
        let mut sq = [0.0f64; L];
        for c in 0..d {
            let col: &[f64; L] = soa[c * n + j..c * n + j + L].try_into().unwrap();
            let xc = xi[c];
            for l in 0..L {
                let t = xc - col[l];
                sq[l] += t * t;
            }
        }
        for l in 0..L {
            acc[l] += sq[l].sqrt();
        }
        j += L;
    }
    let mut tail = 0.0;
    while j < hi {
        let mut sq = 0.0;
        for c in 0..d {
            let t = xi[c] - soa[c * n + j];
            sq += t * t;
        }
        tail += sq.sqrt();
        j += 1;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

#[inline]
fn point_score(own: usize, counts: &[u64], sums: &[f64]) -> f64 {
    if counts[own] <= 1 {
        return 0.0;
    }
    let a = sums[own] / (counts[own] - 1) as f64;
    let mut b = f64::INFINITY;
    for (c, (&cnt, &s)) in counts.iter().zip(sums).enumerate() {
        if c != own && cnt > 0 {
            b = b.min(s / cnt as f64);
        }
    }
    let m = a.max(b);
    if m == 0.0 || !m.is_finite() {
        0.0
    } else {
        (b - a) / m
    }
}

/// A simple random sample of `m` of `n` row indices, in increasing order (Knuth's
/// selection sampling: one pass, no n-long index array).
pub fn sample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::derive(seed, &[0x511, n as u64, m as u64]);
    let mut out = Vec::with_capacity(m);
    let mut needed = m.min(n);
    for i in 0..n {
        if needed == 0 {
            break;
        }
        let left = (n - i) as u64;
        if rng.below(left) < needed as u64 {
            out.push(i);
            needed -= 1;
        }
    }
    out
}

/// Silhouettes of several K-Means fits, given as (labels, centroids, k): exact up to
/// `exact_max` rows, otherwise the mean over a random sample of `sample` customers
/// (distances within the sample, as scikit-learn's `sample_size`), with the standard
/// error of that mean. Sampled customers are labelled with their nearest centroid (what
/// the fit's labels are), so large fits need not keep their labels.
pub fn scores(
    x: &Matrix,
    fits: &[(&[u32], &[f64], usize)],
    exact_max: usize,
    sample: usize,
    seed: u64,
) -> Vec<Score> {
    if x.n <= exact_max {
        let labelings: Vec<(&[u32], usize)> = fits.iter().map(|(l, _, k)| (*l, *k)).collect();
        let labelings = labelings.as_slice();
        return exact_many(x, labelings)
            .into_iter()
            .map(|value| Score {
                value,
                method: Method::Exact,
                sample_size: x.n as u64,
                std_error: None,
            })
            .collect();
    }
    let idx = sample_indices(x.n, sample.max(2), seed);
    let d = x.d;
    let mut data = Vec::with_capacity(idx.len() * d);
    for &i in &idx {
        data.extend_from_slice(x.row(i));
    }
    let sub = Matrix {
        n: idx.len(),
        d,
        data,
    };
    let sub_labels: Vec<Vec<u32>> = fits
        .iter()
        .map(|(_, centers, _)| crate::cluster::kmeans::assign(&sub, centers))
        .collect();
    let sub_lab: Vec<(&[u32], usize)> = sub_labels
        .iter()
        .zip(fits)
        .map(|(l, (_, _, k))| (l.as_slice(), *k))
        .collect();
    let m = sub.n as f64;
    samples_many(&sub, &sub_lab)
        .into_iter()
        .map(|s| {
            let mean = s.iter().sum::<f64>() / m;
            let var = s.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1.0);
            Score {
                value: mean,
                method: Method::Sampled,
                sample_size: sub.n as u64,
                std_error: Some((var / m).sqrt()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_tiny_case() {
        // Points 0, 1 in one segment and 4, 6 in another, on a line.
        // s(0) = (b-a)/max: a=1, b=(4+6)/2=5 -> 0.8; s(1): a=1, b=4 -> 0.75;
        // s(4): a=2, b=(4+3)/2=3.5 -> 1.5/3.5; s(6): a=2, b=(6+5)/2=5.5 -> 3.5/5.5.
        let x = Matrix {
            n: 4,
            d: 1,
            data: vec![0.0, 1.0, 4.0, 6.0],
        };
        let labels = [0u32, 0, 1, 1];
        let got = exact_many(&x, &[(&labels, 2)])[0];
        let want = (0.8 + 0.75 + 1.5 / 3.5 + 3.5 / 5.5) / 4.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn singleton_segments_score_zero_and_labelings_are_independent() {
        let x = Matrix {
            n: 3,
            d: 1,
            data: vec![0.0, 1.0, 10.0],
        };
        let a = [0u32, 0, 1];
        let b = [0u32, 1, 2];
        let both = exact_many(&x, &[(&a, 2), (&b, 3)]);
        let alone = exact_many(&x, &[(&a, 2)]);
        assert_eq!(both[0], alone[0]);
        assert_eq!(both[1], 0.0);
        // s(0): a = 1, b = 10 -> 0.9; s(1): a = 1, b = 9 -> 8/9; s(10) is alone -> 0.
        let want = (0.9 + 8.0 / 9.0) / 3.0;
        assert!((both[0] - want).abs() < 1e-15);
    }

    #[test]
    fn sampling_is_deterministic_and_sorted() {
        let s = sample_indices(1000, 100, 42);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample_indices(1000, 100, 42));
        assert_eq!(sample_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }
}
