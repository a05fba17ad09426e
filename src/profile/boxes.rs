//! Box-plot figures (quartiles, Tukey whiskers) of a column per group, for the
//! dashboard's distributions.

use serde::{Deserialize, Serialize};

/// Quartiles and whiskers of one column in one group, computed on every customer up to
/// the dashboard's sampling threshold and on its stratified sample above it (the rows
/// the dashboard plots), so they cost nothing at ten million customers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoxStats {
    /// Customers the figures were computed on.
    pub n: u64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Smallest value at or above q1 − 1.5 IQR (Tukey's whisker).
    pub lower: f64,
    /// Largest value at or below q3 + 1.5 IQR.
    pub upper: f64,
    /// Smallest value, plotted as a point when it lies beyond the whisker.
    pub min: f64,
    /// Largest value, likewise.
    pub max: f64,
}

/// Box figures of every group (segments 0..k, then the portfolio) of one column, from
/// the rows `rows` only.
pub fn box_stats(
    values: &[f64],
    labels: &[u32],
    k: usize,
    rows: &[usize],
) -> Vec<Option<BoxStats>> {
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); k + 1];
    for &i in rows {
        let v = values[i];
        if !v.is_nan() {
            groups[labels[i] as usize].push(v);
            groups[k].push(v);
        }
    }
    groups
        .into_iter()
        .map(|mut g| {
            if g.is_empty() {
                return None;
            }
            // The three quartiles by selection; the whiskers and extremes are the
            // smallest and largest values (in sorted order) inside their bounds.
            let n = g.len();
            let levels = [0.25, 0.5, 0.75];
            let ranks = crate::stats::quantile_ranks(n, levels.map(|p| (n - 1) as f64 * p));
            crate::stats::select_ranks(&mut g, &ranks);
            let q = |p: f64| crate::scale::quantile_sorted(&g, p);
            let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
            let iqr = q3 - q1;
            let (lo, hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
            let smallest = |keep: &dyn Fn(f64) -> bool| {
                g.iter()
                    .copied()
                    .filter(|v| keep(*v))
                    .min_by(f64::total_cmp)
            };
            let largest = |keep: &dyn Fn(f64) -> bool| {
                g.iter()
                    .copied()
                    .filter(|v| keep(*v))
                    .max_by(f64::total_cmp)
            };
            let lower = smallest(&|v| v >= lo).unwrap_or(q1);
            let upper = largest(&|v| v <= hi).unwrap_or(q3);
            Some(BoxStats {
                n: n as u64,
                q1,
                median,
                q3,
                lower,
                upper,
                min: smallest(&|_| true).unwrap_or(q1),
                max: largest(&|_| true).unwrap_or(q3),
            })
        })
        .collect()
}
