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
pub fn samples_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<Vec<f64>> {
    let d = x.d;
    let n = x.n;
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
    let offsets: Vec<usize> = labelings
        .iter()
        .scan(0, |acc, (_, k)| {
            let o = *acc;
            *acc += k;
            Some(o)
        })
        .collect();
    let total_k: usize = labelings.iter().map(|(_, k)| k).sum();
    // Labels of all labelings, interleaved per row and pre-offset, so the inner loop reads
    // one small contiguous slice per row.
    let mut slots = vec![0u32; n * labelings.len()];
    for (l, (lab, _)) in labelings.iter().enumerate() {
        for i in 0..n {
            slots[i * labelings.len() + l] = lab[i] + offsets[l] as u32;
        }
    }
    let nl = labelings.len();
    let rows: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .with_min_len(16)
        .map_init(
            || (vec![0.0f64; total_k], vec![0.0f64; n.min(4096)]),
            |(sums, buf), i| {
                sums.iter_mut().for_each(|s| *s = 0.0);
                let xi = x.row(i);
                let mut start = 0;
                while start < n {
                    let end = (start + buf.len()).min(n);
                    dispatch_d!(d, distances(xi, &x.data[start * d..end * d], &mut buf[..end - start], d));
                    for (jj, &dist) in buf[..end - start].iter().enumerate() {
                        let s = &slots[(start + jj) * nl..(start + jj + 1) * nl];
                        for &slot in s {
                            sums[slot as usize] += dist;
                        }
                    }
                    start = end;
                }
                (0..nl)
                    .map(|l| {
                        let own = labelings[l].0[i] as usize;
                        let k = labelings[l].1;
                        let cnt = &counts[l];
                        let sm = &sums[offsets[l]..offsets[l] + k];
                        point_score(own, cnt, sm)
                    })
                    .collect()
            },
        )
        .collect();
    (0..nl).map(|l| rows.iter().map(|r| r[l]).collect()).collect()
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

fn distances<const D: usize>(xi: &[f64], rows: &[f64], out: &mut [f64], d: usize) {
    let d = dim::<D>(d);
    let xi = &xi[..d];
    for (row, o) in rows.chunks_exact(d).zip(out.iter_mut()) {
        let mut s = 0.0;
        for j in 0..d {
            let t = xi[j] - row[j];
            s += t * t;
        }
        *o = s.sqrt();
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

/// Silhouettes of several labelings: exact up to `exact_max` rows, otherwise the mean
/// over a random sample of `sample` customers (distances within the sample, as
/// scikit-learn's `sample_size`), with the standard error of that mean.
pub fn scores(x: &Matrix, labelings: &[(&[u32], usize)], exact_max: usize, sample: usize, seed: u64) -> Vec<Score> {
    if x.n <= exact_max {
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
    let sub = Matrix { n: idx.len(), d, data };
    let sub_labels: Vec<Vec<u32>> = labelings
        .iter()
        .map(|(lab, _)| idx.iter().map(|&i| lab[i]).collect())
        .collect();
    let sub_lab: Vec<(&[u32], usize)> = sub_labels
        .iter()
        .zip(labelings)
        .map(|(l, (_, k))| (l.as_slice(), *k))
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
        let x = Matrix { n: 4, d: 1, data: vec![0.0, 1.0, 4.0, 6.0] };
        let labels = [0u32, 0, 1, 1];
        let got = exact_many(&x, &[(&labels, 2)])[0];
        let want = (0.8 + 0.75 + 1.5 / 3.5 + 3.5 / 5.5) / 4.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn singleton_segments_score_zero_and_labelings_are_independent() {
        let x = Matrix { n: 3, d: 1, data: vec![0.0, 1.0, 10.0] };
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
