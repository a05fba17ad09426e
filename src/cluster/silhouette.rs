//! Silhouette scores (Rousseeuw 1987, scikit-learn's definition): for each customer,
//! a = mean distance to the others of its segment, b = the lowest mean distance to
//! another segment, s = (b - a) / max(a, b), and s = 0 in a segment of one.
//!
//! Written by hand because it is the costly part of choosing k: the exact score is
//! O(n²), and computing each pair distance once for the labelings of every k in the
//! sweep cuts the work by the number of k values. The distances are computed in f32 with
//! IEEE square roots (the square root is the bottleneck, and sixteen f32 lanes cost
//! what four f64 lanes do) and summed in short f32 runs flushed into f64, which keeps
//! every score within about 1e-7 of an all-f64 computation (tested against one); the
//! generic, AVX2 and AVX-512 builds do the same operations lane for lane, so the bits do
//! not depend on the CPU, and each customer is computed on its own, so they do not
//! depend on the thread count either.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::group_sums::{group_sums, ROWS, W};
use super::scan::assign;
use super::simd::Isa;
pub use crate::rng::sample_indices;
use crate::scale::Matrix;

/// Rows above which the sweep uses a sampled silhouette by default.
pub const EXACT_MAX_ROWS: usize = 20_000;
/// Default sample size of the sampled estimate.
pub const SAMPLE_SIZE: usize = 20_000;

/// How a silhouette score was computed (reported next to it, and saved in the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Over every pair of customers.
    Exact,
    /// Over a random sample of customers, with a standard error.
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
    /// The mean silhouette, in [-1, 1].
    pub value: f64,
    /// Exact or sampled.
    pub method: Method,
    /// Customers the mean is over.
    pub sample_size: u64,
    /// Standard error of a sampled mean (None when exact).
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
/// common refinement of the partitions) and laid out group by group, each group starting
/// on a `W`-lane boundary. For each customer, one pass over that layout sums the
/// distances to every group (a vectorised loop with no scatter and no gather); each
/// labeling's per-segment sums are then a sum of group sums. Every pair distance is
/// computed once for all k, so the cost is that of one silhouette whatever the sweep.
///
/// Distances are computed in f32 (coordinates rounded to f32, IEEE square root) because
/// the square root is the bottleneck and an f32 lane costs a quarter to a sixth of an
/// f64 one; partial sums stay in f32 for at most `FLUSH` vectors per lane before they
/// are added to f64 accumulators, which bounds the relative error of every sum (see
/// `group_sums::group_sums_block` and the test `f32_kernel_is_close_to_an_f64_reference`).
pub fn samples_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<Vec<f64>> {
    samples_many_on(x, labelings, Isa::detect())
}

/// [`samples_many`] with the build of the distance kernel chosen by the caller (the
/// tests run every build the CPU has and compare the bits).
fn samples_many_on(x: &Matrix, labelings: &[(&[u32], usize)], isa: Isa) -> Vec<Vec<f64>> {
    let (n, d) = (x.n, x.d);
    let nl = labelings.len();
    if n == 0 {
        return vec![Vec::new(); nl];
    }
    let tuple_cmp = |a: u32, b: u32| {
        labelings
            .iter()
            .map(|(l, _)| l[a as usize].cmp(&l[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    // The tuple of labels as one mixed-radix number when it fits in 64 bits (always, for
    // a k sweep): sorting plain keys is several times faster than comparing tuples.
    let radix = labelings
        .iter()
        .try_fold(1u64, |acc, (_, k)| acc.checked_mul((*k).max(1) as u64));
    if radix.is_some()
        && labelings
            .iter()
            .all(|(l, k)| l.iter().all(|&v| (v as usize) < *k))
    {
        let key = |i: usize| {
            labelings
                .iter()
                .fold(0u64, |acc, (l, k)| acc * *k as u64 + l[i] as u64)
        };
        let mut keyed: Vec<(u64, u32)> = (0..n).map(|i| (key(i), i as u32)).collect();
        keyed.sort_unstable();
        order = keyed.into_iter().map(|(_, i)| i).collect();
    } else {
        order.sort_unstable_by(|&a, &b| tuple_cmp(a, b).then(a.cmp(&b)));
    }
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
    // Group-padded column layout: group g occupies lanes off..off + len of each column,
    // with off a multiple of W; the padding lanes hold 0.0 and are masked off.
    let mut layout = Vec::with_capacity(groups);
    let mut p = 0usize;
    for g in 0..groups {
        let len = starts[g + 1] - starts[g];
        layout.push((p, len));
        p += len.div_ceil(W) * W;
    }
    let mut soa = vec![0.0f32; p * d];
    for (g, &(off, len)) in layout.iter().enumerate() {
        for q in 0..len {
            let i = order[starts[g] + q] as usize;
            for c in 0..d {
                soa[c * p + off + q] = x.data[i * d + c] as f32;
            }
        }
    }
    // The groups of each segment of each labeling, segment by segment (a CSR list), so
    // a segment's sum is a run of additions in group order with no scatter.
    let members: Vec<(Vec<usize>, Vec<u32>)> = glab
        .iter()
        .zip(labelings)
        .map(|(gl, (_, k))| {
            let mut first = vec![0usize; k + 1];
            for &s in gl {
                first[s as usize + 1] += 1;
            }
            for s in 0..*k {
                first[s + 1] += first[s];
            }
            let mut next = first.clone();
            let mut list = vec![0u32; groups];
            for (g, &s) in gl.iter().enumerate() {
                list[next[s as usize]] = g as u32;
                next[s as usize] += 1;
            }
            (first, list)
        })
        .collect();
    let max_k = labelings.iter().map(|(_, k)| *k).max().unwrap_or(1);
    let mut flat = vec![0.0f64; n * nl];
    flat.par_chunks_mut(ROWS * nl.max(1))
        .enumerate()
        .for_each_init(
            || (vec![0.0f64; ROWS * groups], vec![[0.0f64; ROWS]; max_k]),
            |(gsum, sums), (b, out)| {
                let i0 = b * ROWS;
                let rows = (n - i0).min(ROWS);
                group_sums(x, i0, rows, &soa, p, &layout, gsum, isa);
                for l in 0..nl {
                    let k = labelings[l].1;
                    let (first, list) = &members[l];
                    // Segment sums for the ROWS customers at once (one vector add per
                    // group); each customer's sum is still its groups' in list order.
                    for (s, v) in sums[..k].iter_mut().enumerate() {
                        let mut a = [0.0f64; ROWS];
                        for &g in &list[first[s]..first[s + 1]] {
                            let g = g as usize;
                            let gs: &[f64; ROWS] =
                                gsum[g * ROWS..(g + 1) * ROWS].try_into().unwrap();
                            for r in 0..ROWS {
                                a[r] += gs[r];
                            }
                        }
                        *v = a;
                    }
                    for r in 0..rows {
                        let own = labelings[l].0[i0 + r] as usize;
                        out[r * nl + l] = point_score_t(own, &counts[l], &sums[..k], r);
                    }
                }
            },
        );
    (0..nl)
        .map(|l| (0..n).map(|i| flat[i * nl + l]).collect())
        .collect()
}

/// [`point_score`] of row `r` of a block of segment sums.
#[inline]
fn point_score_t(own: usize, counts: &[u64], sums: &[[f64; ROWS]], r: usize) -> f64 {
    let mut row = [0.0f64; 64];
    if sums.len() <= row.len() {
        for (v, s) in row.iter_mut().zip(sums) {
            *v = s[r];
        }
        return point_score(own, counts, &row[..sums.len()]);
    }
    let row: Vec<f64> = sums.iter().map(|s| s[r]).collect();
    point_score(own, counts, &row)
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
        .map(|(_, centers, _)| assign(&sub, centers))
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
    use crate::cluster::group_sums::FLUSH;
    use crate::rng::Rng;

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

    /// Clustered points in [0, 1]^d (a few tight blobs plus uniform noise, like scaled
    /// customer data) and labelings by the nearest of k random centres, k = 2..=kmax.
    fn clustered(n: usize, d: usize, kmax: usize, seed: u64) -> (Matrix, Vec<(Vec<u32>, usize)>) {
        let mut rng = Rng::new(seed);
        let blobs: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..d).map(|_| rng.uniform() * 0.8).collect())
            .collect();
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            let b = &blobs[i % blobs.len()];
            for c in 0..d {
                let v = if i % 7 == 0 {
                    rng.uniform()
                } else {
                    b[c] + rng.uniform() * 0.05 * (1 + i % 4) as f64
                };
                data.push(v.clamp(0.0, 1.0));
            }
        }
        let x = Matrix { n, d, data };
        let labelings = (2..=kmax)
            .map(|k| {
                let centres: Vec<usize> = (0..k).map(|j| (j * 7919 + 13) % n).collect();
                let labels = (0..n)
                    .map(|i| {
                        let mut best = (f64::INFINITY, 0u32);
                        for (c, &j) in centres.iter().enumerate() {
                            let dd: f64 = (0..d).map(|f| (x.row(i)[f] - x.row(j)[f]).powi(2)).sum();
                            if dd < best.0 {
                                best = (dd, c as u32);
                            }
                        }
                        best.1
                    })
                    .collect();
                (labels, k)
            })
            .collect();
        (x, labelings)
    }

    /// Straightforward f64 silhouettes with each point's a and b, for reference.
    fn reference(x: &Matrix, labels: &[u32], k: usize) -> Vec<(f64, f64, f64)> {
        let mut counts = vec![0usize; k];
        for &l in labels {
            counts[l as usize] += 1;
        }
        (0..x.n)
            .map(|i| {
                let mut sums = vec![0.0f64; k];
                for j in 0..x.n {
                    let dd: f64 = (0..x.d).map(|c| (x.row(i)[c] - x.row(j)[c]).powi(2)).sum();
                    sums[labels[j] as usize] += dd.sqrt();
                }
                let own = labels[i] as usize;
                if counts[own] <= 1 {
                    return (0.0, 0.0, 0.0);
                }
                let a = sums[own] / (counts[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && counts[c] > 0)
                    .map(|c| sums[c] / counts[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                (a, b, (b - a) / a.max(b))
            })
            .collect()
    }

    #[test]
    fn f32_kernel_is_close_to_an_f64_reference() {
        for (n, d) in [(1500, 3), (300, 1), (400, 8)] {
            let (x, labelings) = clustered(n, d, 6, 7 + d as u64);
            let lab: Vec<(&[u32], usize)> =
                labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
            let got = samples_many(&x, &lab);
            // Bound per point. Coordinates in [0, 1] rounded to f32 move by at most 2^-25
            // each, so a distance by at most sqrt(d)·2^-24 (absolute); the f32 arithmetic
            // of one distance (d subtractions, products and additions, a square root)
            // and its at most FLUSH + 4 f32 additions into a partial add a relative
            // error of at most (3d + FLUSH + 6)·2^-24 (the f64 steps are negligible). So
            // a and b each move by at most e = sqrt(d)·2^-24 + m·(3d + FLUSH + 6)·2^-24,
            // m = max(a, b), and s = (b - a)/m by at most about 2·2e/m.
            let u = f32::EPSILON as f64 / 2.0;
            for (l, (labels, k)) in labelings.iter().enumerate() {
                let want = reference(&x, labels, *k);
                let mut diff_sum = 0.0;
                for (i, &(a, b, s)) in want.iter().enumerate() {
                    let m = a.max(b);
                    let e = (d as f64).sqrt() * 2.0 * u + m * (3 * d + FLUSH + 6) as f64 * u;
                    let bound = if m > 0.0 { 4.0 * e / m } else { 0.0 };
                    let diff = (got[l][i] - s).abs();
                    assert!(
                        diff <= bound,
                        "n={n} d={d} k={k} point {i}: {} vs f64 {s} (bound {bound:e})",
                        got[l][i]
                    );
                    diff_sum += got[l][i] - s;
                }
                // The mean (the score) is far closer: the errors are not systematic.
                assert!(
                    (diff_sum / n as f64).abs() < 1e-7,
                    "n={n} d={d} k={k}: mean moved {}",
                    diff_sum / n as f64
                );
            }
        }
    }

    #[test]
    fn every_kernel_build_gives_the_same_bits() {
        let (x, labelings) = clustered(1203, 3, 10, 99);
        let lab: Vec<(&[u32], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
        let paths = Isa::available();
        let first = samples_many_on(&x, &lab, paths[0]);
        for &p in &paths[1..] {
            let other = samples_many_on(&x, &lab, p);
            for (a, b) in first.iter().zip(&other) {
                let a: Vec<u64> = a.iter().map(|v| v.to_bits()).collect();
                let b: Vec<u64> = b.iter().map(|v| v.to_bits()).collect();
                assert_eq!(a, b, "{p:?} differs from {:?}", paths[0]);
            }
        }
    }

    #[test]
    fn same_bits_whatever_the_thread_count() {
        let (x, labelings) = clustered(1001, 3, 6, 5);
        let lab: Vec<(&[u32], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
        let run = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| exact_many(&x, &lab))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
