//! Choosing k: the knee of the inertia curve by the Kneedle method (Satopää et al. 2011,
//! convex and decreasing, sensitivity S = 1, offline: the first knee), reproducing the
//! `kneed` package's answer; or the k with the best silhouette.

use serde::{Deserialize, Serialize};

/// How k is chosen from the sweep (saved in the model, so its spelling is part of the
/// file format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KRule {
    /// The knee of the inertia curve (Kneedle), as the analyst's elbow plot reads it;
    /// the default.
    #[default]
    Knee,
    /// The k with the best silhouette.
    Silhouette,
}

impl std::str::FromStr for KRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "knee" | "elbow" => Ok(KRule::Knee),
            "silhouette" => Ok(KRule::Silhouette),
            _ => Err(format!("unknown k rule {s:?}: use knee or silhouette")),
        }
    }
}

impl std::fmt::Display for KRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KRule::Knee => "knee",
            KRule::Silhouette => "silhouette",
        })
    }
}

fn normalize(v: &[f64]) -> Vec<f64> {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// Indices where `cmp(y[i], y[i±1])` holds, with the ends compared to themselves
/// (scipy's `argrelextrema`, order 1, mode "clip").
fn rel_extrema(y: &[f64], cmp: fn(f64, f64) -> bool) -> Vec<usize> {
    let n = y.len();
    (0..n)
        .filter(|&i| {
            let prev = y[i.saturating_sub(1)];
            let next = y[(i + 1).min(n - 1)];
            cmp(y[i], next) && cmp(y[i], prev)
        })
        .collect()
}

/// The knee of a convex, decreasing curve, as `kneed.KneeLocator(x, y, curve="convex",
/// direction="decreasing")` finds it; None when there is no knee.
// The scan mirrors kneed's loop, which needs the index for several arrays at once.
#[allow(clippy::needless_range_loop)]
pub fn kneedle(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let xn = normalize(x);
    let yn0 = normalize(y);
    if xn.iter().chain(&yn0).any(|v| !v.is_finite()) {
        return None;
    }
    let ymax = yn0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let yn: Vec<f64> = yn0.iter().map(|v| ymax - v).collect();
    let ydiff: Vec<f64> = yn.iter().zip(&xn).map(|(a, b)| a - b).collect();
    let maxima = rel_extrema(&ydiff, |a, b| a >= b);
    let minima = rel_extrema(&ydiff, |a, b| a <= b);
    if maxima.is_empty() {
        return None;
    }
    let mean_step = xn.windows(2).map(|w| w[1] - w[0]).sum::<f64>() / (n - 1) as f64;
    let tmx: Vec<f64> = maxima.iter().map(|&i| ydiff[i] - mean_step.abs()).collect();
    let mut max_idx = 0;
    let mut threshold = 0.0;
    let mut threshold_index = 0;
    for (i, &xi) in xn.iter().enumerate() {
        if i < maxima[0] {
            continue;
        }
        if xi == 1.0 {
            break;
        }
        let j = i + 1;
        if maxima.contains(&i) {
            threshold = tmx[max_idx];
            threshold_index = i;
            max_idx += 1;
        }
        if minima.contains(&i) {
            threshold = 0.0;
        }
        if ydiff[j] < threshold {
            return Some(x[threshold_index]);
        }
    }
    None
}

/// The k with the highest silhouette (the smaller k on ties).
pub fn best_silhouette(ks: &[usize], sil: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (&k, &s) in ks.iter().zip(sil) {
        if s.is_finite() && best.is_none_or(|(_, b)| s > b) {
            best = Some((k, s));
        }
    }
    best.map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knee_of_a_clear_elbow() {
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        let y = [100.0, 40.0, 20.0, 15.0, 12.0, 10.0, 9.0, 8.0, 7.5];
        assert_eq!(kneedle(&x, &y), Some(3.0));
    }

    #[test]
    fn kneed_documentation_example() {
        // A gentler elbow; kneed 0.8 (KneeLocator, convex, decreasing) answers 3 here too.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y = [7.0, 4.0, 2.5, 2.0, 1.7, 1.5, 1.4, 1.3, 1.2, 1.1];
        assert_eq!(kneedle(&x, &y), Some(3.0));
    }

    #[test]
    fn straight_line_has_no_knee() {
        let x: Vec<f64> = (1..=5).map(f64::from).collect();
        let y = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(kneedle(&x, &y), None);
    }

    #[test]
    fn best_silhouette_prefers_smaller_k_on_ties() {
        assert_eq!(best_silhouette(&[2, 3, 4], &[0.5, 0.6, 0.6]), Some(3));
        assert_eq!(best_silhouette(&[], &[]), None);
    }
}
