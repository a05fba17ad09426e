//! How reproducible a segmentation is: the model's k is fitted again on random subsamples
//! of the customers, and each resample's partition is compared with the model's on the
//! same customers (Hennig's `clusterboot`, subsetting scheme).
//!
//! - Per segment: the mean, over resamples, of the Jaccard similarity between the
//!   segment's members in the subsample and the most similar resample cluster
//!   (|A ∩ B| / |A ∪ B|). A resample in which the segment has no member is skipped.
//! - Overall: the mean adjusted Rand index between each resample's partition and the
//!   model's on the subsample's customers.
//!
//! Subsample `b` (0-based) is a simple random sample, in row order, of
//! `min(cap, n / 2)` of the `n` rows, drawn by [`crate::rng::sample_indices`] with seed
//! [`resample_seed`]`(seed, b)`; its K-Means runs with that same seed. Every resample is
//! independent and collected in order, so the figures are identical whatever the number
//! of threads. [`Detail`] keeps the subsamples and their labels for an outside check.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kmeans::{self, KMeansParams};
use crate::error::Result;
use crate::scale::Matrix;

/// Mean Jaccard (or ARI) below which a segment (or the partition) is "not reproducible".
pub const NOT_REPRODUCIBLE_BELOW: f64 = 0.6;
/// Below this it is "weak"; from [`NOT_REPRODUCIBLE_BELOW`] up.
pub const WEAK_BELOW: f64 = 0.75;
/// From this up it is "stable"; between [`WEAK_BELOW`] and this, "moderate".
pub const STABLE_FROM: f64 = 0.85;

/// The verdict for a mean Jaccard or ARI, by the documented thresholds.
pub fn verdict(v: f64) -> &'static str {
    if v.is_nan() {
        "unknown"
    } else if v < NOT_REPRODUCIBLE_BELOW {
        "not reproducible"
    } else if v < WEAK_BELOW {
        "weak"
    } else if v < STABLE_FROM {
        "moderate"
    } else {
        "stable"
    }
}

/// Stability of a segmentation, for the summary and `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stability {
    /// Resamples fitted.
    pub resamples: usize,
    /// Customers in each resample.
    pub sample_size: usize,
    /// Mean adjusted Rand index between each resample's partition and the model's.
    pub ari: f64,
    /// [`verdict`] of `ari`.
    pub verdict: String,
    /// One per segment (segment order).
    pub segments: Vec<SegmentStability>,
    /// Each resample's rows and labels, kept only when asked for (`stability.csv`).
    #[serde(skip)]
    pub detail: Vec<(Vec<usize>, Vec<u32>)>,
}

/// One segment's stability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentStability {
    /// Segment id (as the model numbers them).
    pub id: u32,
    /// Mean Jaccard similarity with the best-matching resample cluster.
    pub jaccard: f64,
    /// [`verdict`] of `jaccard`.
    pub verdict: String,
}

/// Each resample's rows (0-based, of the segmented customers) and the labels its own
/// K-Means gave them, so another tool can recompute the figures.
pub struct Detail {
    /// (rows, labels) per resample.
    pub resamples: Vec<(Vec<usize>, Vec<u32>)>,
}

impl Stability {
    /// The figures [`measure`] returned, for segments numbered `ids`; `keep` keeps the
    /// resamples' rows and labels.
    pub fn new(jaccard: &[f64], ari: f64, detail: Detail, ids: &[u32], keep: bool) -> Self {
        Stability {
            resamples: detail.resamples.len(),
            sample_size: detail.resamples.first().map_or(0, |r| r.0.len()),
            ari,
            verdict: verdict(ari).to_string(),
            segments: jaccard
                .iter()
                .zip(ids)
                .map(|(&j, &id)| SegmentStability {
                    id,
                    jaccard: j,
                    verdict: verdict(j).to_string(),
                })
                .collect(),
            detail: if keep { detail.resamples } else { Vec::new() },
        }
    }

    /// Segments whose mean Jaccard is below [`NOT_REPRODUCIBLE_BELOW`].
    pub fn not_reproducible(&self) -> Vec<u32> {
        self.segments
            .iter()
            .filter(|s| s.jaccard.is_nan() || s.jaccard < NOT_REPRODUCIBLE_BELOW)
            .map(|s| s.id)
            .collect()
    }
}

/// The seed of resample `b`'s subsample and fit.
pub fn resample_seed(seed: u64, b: usize) -> u64 {
    let mut s = seed ^ 0x5AB1_11E5_u64.wrapping_mul(b as u64 + 1);
    crate::rng::splitmix64(&mut s)
}

/// Customers per resample: half of them, at most `cap`.
pub fn sample_size(n: usize, cap: usize) -> usize {
    (n / 2).min(cap)
}

/// Fits `k` segments on `resamples` subsamples of `x` and compares each with `labels`
/// (the model's, 0-based). None when there is nothing to resample or the subsamples
/// are too small for `k` segments.
pub fn measure(
    x: &Matrix,
    labels: &[u32],
    k: usize,
    n_init: usize,
    resamples: usize,
    cap: usize,
    seed: u64,
) -> Result<Option<(Vec<f64>, f64, Detail)>> {
    let m = sample_size(x.n, cap);
    if resamples == 0 || m <= 2 * k {
        return Ok(None);
    }
    let fits = (0..resamples)
        .into_par_iter()
        .map(|b| {
            let s = resample_seed(seed, b);
            let rows = crate::rng::sample_indices(x.n, m, s);
            let mut data = Vec::with_capacity(m * x.d);
            for &i in &rows {
                data.extend_from_slice(x.row(i));
            }
            let sub = Matrix { n: m, d: x.d, data };
            let fit = kmeans::fit(
                &sub,
                &KMeansParams {
                    k,
                    n_init,
                    seed: s,
                    ..KMeansParams::default()
                },
            );
            match fit {
                Ok(f) => Ok(Some((rows, f.labels))),
                // Fewer distinct points than k in a subsample: that resample says nothing.
                Err(crate::error::Error::Usage(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let fits: Vec<(Vec<usize>, Vec<u32>)> = fits.into_iter().flatten().collect();
    if fits.is_empty() {
        return Ok(None);
    }
    let mut jac_sum = vec![0.0f64; k];
    let mut jac_n = vec![0usize; k];
    let mut ari_sum = 0.0;
    for (rows, got) in &fits {
        let model: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
        for (j, v) in jaccards(&model, got, k).into_iter().enumerate() {
            if let Some(v) = v {
                jac_sum[j] += v;
                jac_n[j] += 1;
            }
        }
        ari_sum += ari(&model, got, k);
    }
    let jac: Vec<f64> = jac_sum
        .iter()
        .zip(&jac_n)
        .map(|(s, &c)| if c == 0 { f64::NAN } else { s / c as f64 })
        .collect();
    let ari_mean = ari_sum / fits.len() as f64;
    Ok(Some((jac, ari_mean, Detail { resamples: fits })))
}

/// Contingency table of two labelings with labels below `k` (row: `a`, column: `b`).
fn contingency(a: &[u32], b: &[u32], k: usize) -> Vec<u64> {
    let mut t = vec![0u64; k * k];
    for (&x, &y) in a.iter().zip(b) {
        t[x as usize * k + y as usize] += 1;
    }
    t
}

/// Per cluster of `a`: the Jaccard similarity with its most similar cluster of `b`
/// (None when it has no member).
pub fn jaccards(a: &[u32], b: &[u32], k: usize) -> Vec<Option<f64>> {
    let t = contingency(a, b, k);
    let col: Vec<u64> = (0..k).map(|c| (0..k).map(|r| t[r * k + c]).sum()).collect();
    (0..k)
        .map(|r| {
            let row: u64 = t[r * k..(r + 1) * k].iter().sum();
            if row == 0 {
                return None;
            }
            let mut best = 0.0f64;
            for c in 0..k {
                let both = t[r * k + c];
                let union = row + col[c] - both;
                if union > 0 {
                    best = best.max(both as f64 / union as f64);
                }
            }
            Some(best)
        })
        .collect()
}

/// The adjusted Rand index of two labelings (Hubert and Arabie), 1 when both are one
/// cluster or identical.
pub fn ari(a: &[u32], b: &[u32], k: usize) -> f64 {
    let t = contingency(a, b, k);
    let c2 = |v: u64| (v as f64) * (v as f64 - 1.0) / 2.0;
    let n = a.len() as u64;
    let sum_ij: f64 = t.iter().map(|&v| c2(v)).sum();
    let rows: f64 = (0..k).map(|r| c2(t[r * k..(r + 1) * k].iter().sum())).sum();
    let cols: f64 = (0..k).map(|c| c2((0..k).map(|r| t[r * k + c]).sum())).sum();
    let expected = rows * cols / c2(n);
    let max = (rows + cols) / 2.0;
    if max == expected {
        return 1.0;
    }
    (sum_ij - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ari_and_jaccard_of_known_labelings() {
        let a = [0, 0, 1, 1];
        assert_eq!(ari(&a, &[1, 1, 0, 0], 2), 1.0);
        assert_eq!(jaccards(&a, &[1, 1, 0, 0], 2), vec![Some(1.0), Some(1.0)]);
        // sklearn: adjusted_rand_score([0,0,0,1,1,1],[0,0,1,1,2,2]) = 0.24242424...
        let v = ari(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2], 3);
        assert!((v - 0.242_424_242_424_242_4).abs() < 1e-12, "{v}");
        let j = jaccards(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2], 3);
        assert_eq!(j[0], Some(2.0 / 3.0));
        assert_eq!(j[1], Some(2.0 / 3.0));
        assert_eq!(j[2], None);
    }

    #[test]
    fn verdict_bands() {
        assert_eq!(verdict(0.5), "not reproducible");
        assert_eq!(verdict(0.7), "weak");
        assert_eq!(verdict(0.8), "moderate");
        assert_eq!(verdict(0.9), "stable");
    }
}
