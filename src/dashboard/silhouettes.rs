//! The per-customer silhouette plot: silhouettes of a stratified sample of customers,
//! computed within the sample.

use serde::Serialize;

use super::pca::scaled_rows;
use super::sample::sample_rows;
use super::style::round_sig;
use crate::segmentation::Segmentation;

/// Customers in the per-customer silhouette plot: all up to this many, a stratified
/// sample above (silhouettes computed within the sample, as scikit-learn's
/// `silhouette_samples` on it).
pub const SILHOUETTE_PLOT_MAX: usize = 2_000;

/// The silhouette plot's data.
#[derive(Serialize)]
pub struct SilhouettePlot {
    /// Whether the plot shows a sample rather than every customer.
    pub sampled: bool,
    /// Customers plotted.
    pub shown: u64,
    /// Customers segmented.
    pub total: u64,
    /// Mean of the plotted silhouettes (the red line).
    pub mean: f64,
    /// Per segment, its customers' silhouettes, highest first.
    pub values: Vec<Vec<f64>>,
}

/// Per-customer silhouettes (scikit-learn's `silhouette_samples`: Euclidean distances,
/// 0 for a customer alone in its segment) of a stratified sample of at most
/// [`SILHOUETTE_PLOT_MAX`] customers, computed within the sample.
pub(super) fn silhouette_plot(r: &Segmentation) -> SilhouettePlot {
    let k = r.model.k;
    let d = r.model.features.len();
    let rows = sample_rows(&r.labels, k, SILHOUETTE_PLOT_MAX, 10, r.model.seed ^ 0x5111);
    let x = scaled_rows(r, &rows);
    let lab: Vec<usize> = rows.iter().map(|&i| r.labels[i] as usize).collect();
    let n = rows.len();
    let mut counts = vec![0usize; k];
    for &l in &lab {
        counts[l] += 1;
    }
    // Each customer's distance sums per segment, in sample order (so every figure is the
    // same whatever the thread count); four customers share a pass over the sample, which
    // gives the processor independent sums to work on. A customer's distance to itself is
    // 0 and adds nothing.
    let sums: Vec<f64> = {
        use rayon::prelude::*;
        let mut sums = vec![0.0f64; n * k];
        sums.par_chunks_mut(LANES * k.max(1))
            .enumerate()
            .for_each(|(b, out)| distance_sums(&x, d, &lab, b * LANES, out, k));
        sums
    };
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut total = 0.0;
    for i in 0..n {
        let sums = &sums[i * k..(i + 1) * k];
        let own = lab[i];
        let s = if counts[own] <= 1 {
            0.0
        } else {
            let a = sums[own] / (counts[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && counts[c] > 0)
                .map(|c| sums[c] / counts[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if b.is_finite() && a.max(b) > 0.0 {
                (b - a) / a.max(b)
            } else {
                0.0
            }
        };
        total += s;
        values[own].push(round_sig(s));
    }
    for v in &mut values {
        v.sort_by(|a, b| b.total_cmp(a));
    }
    SilhouettePlot {
        sampled: n < r.labels.len(),
        shown: n as u64,
        total: r.labels.len() as u64,
        mean: if n == 0 { 0.0 } else { total / n as f64 },
        values,
    }
}

/// Customers whose distance sums one pass over the sample computes.
const LANES: usize = 4;

/// Sums, per segment, the distances from customers `first..first + out.len() / k` of the
/// row-major sample `x` (`d` columns) to every customer, in sample order, into `out`
/// (`k` sums per customer).
fn distance_sums(x: &[f64], d: usize, lab: &[usize], first: usize, out: &mut [f64], k: usize) {
    let lanes = out.len() / k.max(1);
    let row = |i: usize| &x[i * d..(i + 1) * d];
    if lanes == LANES {
        let (r0, r1, r2, r3) = (row(first), row(first + 1), row(first + 2), row(first + 3));
        let (o0, rest) = out.split_at_mut(k);
        let (o1, rest) = rest.split_at_mut(k);
        let (o2, o3) = rest.split_at_mut(k);
        let dist = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
        };
        for (j, &g) in lab.iter().enumerate() {
            let xj = row(j);
            o0[g] += dist(r0, xj);
            o1[g] += dist(r1, xj);
            o2[g] += dist(r2, xj);
            o3[g] += dist(r3, xj);
        }
    } else {
        for (l, o) in out.chunks_exact_mut(k).enumerate() {
            let xi = row(first + l);
            for (j, &g) in lab.iter().enumerate() {
                o[g] += xi
                    .iter()
                    .zip(row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_sums_equal_one_customer_at_a_time() {
        // Sample sizes that are and are not a multiple of the lanes.
        for n in [1usize, 5, 8, 31] {
            let (d, k) = (3, 4);
            let mut rng = crate::rng::Rng::new(n as u64);
            let x: Vec<f64> = (0..n * d).map(|_| rng.uniform()).collect();
            let lab: Vec<usize> = (0..n).map(|_| rng.below(k as u64) as usize).collect();
            let mut got = vec![0.0; n * k];
            for (b, out) in got.chunks_mut(LANES * k).enumerate() {
                distance_sums(&x, d, &lab, b * LANES, out, k);
            }
            for i in 0..n {
                let mut want = vec![0.0f64; k];
                for j in (0..n).filter(|&j| j != i) {
                    want[lab[j]] += (0..d)
                        .map(|c| {
                            let t = x[i * d + c] - x[j * d + c];
                            t * t
                        })
                        .sum::<f64>()
                        .sqrt();
                }
                assert_eq!(&got[i * k..(i + 1) * k], &want[..], "n {n} row {i}");
            }
        }
    }
}
