//! Outcomes per segment (`--outcome`): a default flag, revenue, churn. A column whose
//! values are all 0 or 1 is a rate with a Wilson 95% interval; any other numeric column
//! is a mean with a normal-approximation 95% interval (mean ± 1.96 · s / √n, s the sample
//! standard deviation). Each is indexed against the portfolio, and a segment "differs"
//! when its interval excludes the portfolio's figure. Outcomes never enter clustering.

use serde::{Deserialize, Serialize};

/// A segment's figure against the portfolio's, as an index (100 = the portfolio).
pub(super) fn index(seg: Option<f64>, all: Option<f64>) -> Option<f64> {
    match (seg, all) {
        (Some(s), Some(a)) if a != 0.0 => Some(s / a * 100.0),
        _ => None,
    }
}

/// The two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// An outcome's figure in one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// Outcome column.
    pub column: String,
    /// "rate" (a 0/1 column) or "mean".
    pub kind: String,
    /// Customers of the group with a value.
    pub customers: u64,
    /// The rate or mean (None without customers).
    pub value: Option<f64>,
    /// Lower end of the 95% interval.
    pub ci_low: Option<f64>,
    /// Upper end of the 95% interval.
    pub ci_high: Option<f64>,
    /// Value / portfolio value × 100.
    pub index: Option<f64>,
    /// Whether the interval excludes the portfolio's value (always false for the portfolio).
    pub differs: bool,
}

/// Wilson score interval of `x` successes in `n` trials, at 95%.
pub fn wilson(x: f64, n: f64) -> (f64, f64) {
    let p = x / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The outcome `column` per group: `k` segments, then the portfolio.
pub fn outcome_figures(column: &str, values: &[f64], labels: &[u32], k: usize) -> Vec<Outcome> {
    let binary = values
        .iter()
        .filter(|v| !v.is_nan())
        .all(|&v| v == 0.0 || v == 1.0);
    let mut n = vec![0u64; k + 1];
    let mut sum = vec![0.0f64; k + 1];
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            for g in [l as usize, k] {
                n[g] += 1;
                sum[g] += v;
            }
        }
    }
    let mean: Vec<f64> = (0..=k).map(|g| sum[g] / n[g].max(1) as f64).collect();
    let mut m2 = vec![0.0f64; k + 1];
    if !binary {
        for (&v, &l) in values.iter().zip(labels) {
            if !v.is_nan() {
                for g in [l as usize, k] {
                    let d = v - mean[g];
                    m2[g] += d * d;
                }
            }
        }
    }
    outcome_from_sums(column, binary, &n, &sum, &m2)
}

/// [`outcome_figures`] from sums made elsewhere, per group (segments, then the portfolio):
/// customers with a value `n`, the sum of their values and the sum of squared deviations
/// from the group's mean `m2` (unused for a 0/1 column, `binary`).
pub fn outcome_from_sums(
    column: &str,
    binary: bool,
    n: &[u64],
    sum: &[f64],
    m2: &[f64],
) -> Vec<Outcome> {
    let k = n.len().saturating_sub(1);
    let mean: Vec<f64> = (0..=k).map(|g| sum[g] / n[g].max(1) as f64).collect();
    let group = |g: usize| -> Outcome {
        let (value, ci) = if n[g] == 0 {
            (None, None)
        } else if binary {
            (Some(mean[g]), Some(wilson(sum[g], n[g] as f64)))
        } else if n[g] < 2 {
            (Some(mean[g]), None)
        } else {
            let se = (m2[g] / (n[g] - 1) as f64).sqrt() / (n[g] as f64).sqrt();
            (
                Some(mean[g]),
                Some((mean[g] - Z95 * se, mean[g] + Z95 * se)),
            )
        };
        let all = if n[k] == 0 { None } else { Some(mean[k]) };
        Outcome {
            column: column.to_string(),
            kind: if binary { "rate" } else { "mean" }.to_string(),
            customers: n[g],
            value,
            ci_low: ci.map(|c| c.0),
            ci_high: ci.map(|c| c.1),
            index: index(value, all),
            differs: g < k
                && match (ci, all) {
                    (Some((lo, hi)), Some(a)) => a < lo || a > hi,
                    _ => false,
                },
        }
    };
    (0..=k).map(group).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_value() {
        // 10 of 100: Wilson 95% is 0.05523 .. 0.17437 (Newcombe 1998, table I style).
        let (lo, hi) = wilson(10.0, 100.0);
        assert!((lo - 0.055_229).abs() < 1e-5, "{lo}");
        assert!((hi - 0.174_366).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn rates_and_means_per_group() {
        let labels = [0, 0, 0, 0, 1, 1, 1, 1];
        let flags = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, f64::NAN];
        let f = outcome_figures("default", &flags, &labels, 2);
        assert_eq!(f[0].kind, "rate");
        assert_eq!(f[0].value, Some(0.75));
        assert_eq!(f[1].customers, 3);
        assert_eq!(f[2].value, Some(3.0 / 7.0));
        let money = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let f = outcome_figures("revenue", &money, &labels, 2);
        assert_eq!(f[0].kind, "mean");
        assert_eq!(f[0].value, Some(2.5));
        let se = (5.0f64 / 3.0).sqrt() / 2.0;
        assert!((f[0].ci_low.unwrap() - (2.5 - Z95 * se)).abs() < 1e-12);
        assert_eq!(f[1].index, Some(6.5 / 4.5 * 100.0));
    }
}
