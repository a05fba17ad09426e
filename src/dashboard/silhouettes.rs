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
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut sums = vec![0.0f64; k];
    let mut total = 0.0;
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..n {
            if i != j {
                let xj = &x[j * d..(j + 1) * d];
                let dist: f64 = xi
                    .iter()
                    .zip(xj)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                sums[lab[j]] += dist;
            }
        }
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
