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
use crate::cancel::Cancel;
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

/// What a stability measurement fits: `k` segments with `n_init` restarts on each of
/// `resamples` subsamples of at most `cap` customers (half of them otherwise), seeded
/// from `seed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Segments of the model.
    pub k: usize,
    /// K-Means restarts per resample.
    pub n_init: usize,
    /// Subsamples fitted (0: none).
    pub resamples: usize,
    /// Most customers in one subsample.
    pub cap: usize,
    /// Seed of the subsamples and their fits.
    pub seed: u64,
}

impl Plan {
    /// Customers per resample of `n`, or None when there is nothing to resample or too
    /// few customers per resample for `k` segments.
    fn rows(&self, n: usize) -> Option<usize> {
        let m = sample_size(n, self.cap);
        (self.resamples > 0 && m > 2 * self.k).then_some(m)
    }
}

/// Fits the plan's subsamples of `x` and compares each with `labels` (the model's,
/// 0-based). None when there is nothing to resample or the subsamples are too small for
/// `k` segments.
///
/// Each subsample is copied out of `x` only while it is fitted, so at most one per
/// thread is held; [`draw`] copies them all at once instead, for a caller that needs
/// `x` gone before the fits run.
pub fn measure(x: &Matrix, labels: &[u32], plan: &Plan) -> Result<Option<(Vec<f64>, f64, Detail)>> {
    let Some(m) = plan.rows(x.n) else {
        return Ok(None);
    };
    let fits = (0..plan.resamples)
        .into_par_iter()
        .map(|b| {
            let part = Part::of(x, labels, m, resample_seed(plan.seed, b));
            fit_part(part, plan.k, plan.n_init)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(compare(fits, plan.k))
}

/// Every subsample of [`measure`], copied out of the scaled rows with the model's labels
/// of its customers: the fits then need neither the rows nor the labels, and can run
/// beside the rest of the run after both are gone. `fit` gives what `measure` gives.
pub struct Resamples {
    k: usize,
    n_init: usize,
    parts: Vec<Part>,
}

/// One subsample: its seed, rows (row order), their scaled features and model labels.
struct Part {
    seed: u64,
    rows: Vec<usize>,
    sub: Matrix,
    model: Vec<u32>,
}

impl Part {
    fn of(x: &Matrix, labels: &[u32], m: usize, seed: u64) -> Part {
        let rows = crate::rng::sample_indices(x.n, m, seed);
        let mut data = Vec::with_capacity(m * x.d);
        for &i in &rows {
            data.extend_from_slice(x.row(i));
        }
        let model = rows.iter().map(|&i| labels[i]).collect();
        Part {
            seed,
            rows,
            sub: Matrix { n: m, d: x.d, data },
            model,
        }
    }
}

/// Bytes [`draw`] holds for the plan's subsamples of `n` customers with `d` features.
pub fn draw_bytes(n: usize, d: usize, plan: &Plan) -> usize {
    let per_row =
        d * std::mem::size_of::<f64>() + std::mem::size_of::<usize>() + std::mem::size_of::<u32>();
    plan.resamples
        .saturating_mul(sample_size(n, plan.cap))
        .saturating_mul(per_row)
}

/// The subsamples [`measure`] would fit, copied now (see [`Resamples`]); None where
/// `measure` returns None before fitting.
pub fn draw(x: &Matrix, labels: &[u32], plan: &Plan) -> Option<Resamples> {
    let m = plan.rows(x.n)?;
    let parts = (0..plan.resamples)
        .into_par_iter()
        .map(|b| Part::of(x, labels, m, resample_seed(plan.seed, b)))
        .collect();
    Some(Resamples {
        k: plan.k,
        n_init: plan.n_init,
        parts,
    })
}

impl Resamples {
    /// Fits and compares every subsample: the figures [`measure`] gives for the same
    /// rows, labels and parameters. Once `cancel` is set, subsamples not yet started are
    /// skipped and [`crate::error::Error::Cancelled`] is returned.
    pub fn fit(self, cancel: &Cancel) -> Result<Option<(Vec<f64>, f64, Detail)>> {
        let (k, n_init) = (self.k, self.n_init);
        let fits = self
            .parts
            .into_par_iter()
            .map(|p| {
                cancel.check()?;
                fit_part(p, k, n_init)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(compare(fits, k))
    }
}

/// A fitted subsample: its rows, the model's labels of them and the resample's own.
type Fitted = (Vec<usize>, Vec<u32>, Vec<u32>);

/// K-Means on one subsample, with its own seed; None when the subsample has fewer
/// distinct points than `k`.
fn fit_part(p: Part, k: usize, n_init: usize) -> Result<Option<Fitted>> {
    let fit = kmeans::fit(
        &p.sub,
        &KMeansParams {
            k,
            n_init,
            seed: p.seed,
            ..KMeansParams::default()
        },
    );
    match fit {
        Ok(f) => Ok(Some((p.rows, p.model, f.labels))),
        // Fewer distinct points than k in a subsample: that resample says nothing.
        Err(crate::error::Error::Usage(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mean Jaccard per segment and mean ARI over the resamples that were fitted, in order.
fn compare(fits: Vec<Option<Fitted>>, k: usize) -> Option<(Vec<f64>, f64, Detail)> {
    let fits: Vec<Fitted> = fits.into_iter().flatten().collect();
    if fits.is_empty() {
        return None;
    }
    let mut jac_sum = vec![0.0f64; k];
    let mut jac_n = vec![0usize; k];
    let mut ari_sum = 0.0;
    for (_, model, got) in &fits {
        for (j, v) in jaccards(model, got, k).into_iter().enumerate() {
            if let Some(v) = v {
                jac_sum[j] += v;
                jac_n[j] += 1;
            }
        }
        ari_sum += ari(model, got, k);
    }
    let jac: Vec<f64> = jac_sum
        .iter()
        .zip(&jac_n)
        .map(|(s, &c)| if c == 0 { f64::NAN } else { s / c as f64 })
        .collect();
    let ari_mean = ari_sum / fits.len() as f64;
    let resamples = fits.into_iter().map(|(rows, _, got)| (rows, got)).collect();
    Some((jac, ari_mean, Detail { resamples }))
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

    /// Four blobs with overlap, so resamples do not all agree.
    fn blobs(n: usize) -> (Matrix, Vec<u32>) {
        let mut rng = crate::rng::Rng::derive(11, &[n as u64]);
        let mut data = Vec::with_capacity(n * 3);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let c = (i % 4) as u32;
            for j in 0..3 {
                let centre = if (c as usize + j).is_multiple_of(2) {
                    0.3
                } else {
                    0.7
                };
                data.push(centre + 0.25 * rng.normal());
            }
            labels.push(c);
        }
        (Matrix { n, d: 3, data }, labels)
    }

    #[test]
    fn drawn_resamples_give_what_measure_gives_at_any_thread_count() {
        let (x, labels) = blobs(3_000);
        let plan = Plan {
            k: 4,
            n_init: 3,
            resamples: 6,
            cap: 1_000,
            seed: 5,
        };
        let none = Plan {
            resamples: 0,
            ..plan
        };
        let bits = |r: &Option<(Vec<f64>, f64, Detail)>| {
            r.as_ref().map(|(jac, ari, detail)| {
                (
                    jac.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    ari.to_bits(),
                    detail.resamples.clone(),
                )
            })
        };
        let want = bits(&measure(&x, &labels, &plan).unwrap());
        assert!(want.is_some());
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| {
                draw(&x, &labels, &plan)
                    .map_or(Ok(None), |r| r.fit(&Cancel::default()))
                    .unwrap()
            });
            assert_eq!(bits(&got), want, "{threads} threads");
        }
        // Nothing to resample: both say so without fitting.
        assert!(draw(&x, &labels, &none).is_none());
        assert!(measure(&x, &labels, &none).unwrap().is_none());
        assert!(draw(&x, &labels, &Plan { cap: 8, ..plan }).is_none());
        assert_eq!(draw_bytes(3_000, 3, &plan), 6 * 1_000 * (24 + 8 + 4));
        // A cancelled run fits nothing more and says so.
        let cancel = Cancel::default();
        cancel.cancel();
        let drawn = draw(&x, &labels, &plan).unwrap();
        assert!(matches!(
            drawn.fit(&cancel),
            Err(crate::error::Error::Cancelled)
        ));
    }

    #[test]
    fn verdict_bands() {
        assert_eq!(verdict(0.5), "not reproducible");
        assert_eq!(verdict(0.7), "weak");
        assert_eq!(verdict(0.8), "moderate");
        assert_eq!(verdict(0.9), "stable");
    }
}
