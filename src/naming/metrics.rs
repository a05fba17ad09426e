//! The metrics a rule may name, read off a profile as ratios to the portfolio.

use crate::profile::{Profile, SegmentProfile, DERIVED};

/// A metric's value relative to the portfolio: a column's mean, a derived indicator,
/// `COLUMN:median` (ratio of medians) or `COLUMN:nonzero` (ratio of the shares of
/// customers with a non-zero value) or `COLUMN:active` (the segment's own share of
/// customers with a non-zero value, not a ratio: "at least 80% bought something").
/// None when it cannot be evaluated.
pub(super) fn metric_ratio(
    seg: &SegmentProfile,
    portfolio: &SegmentProfile,
    metric: &str,
) -> Option<f64> {
    if let Some((col, stat)) = metric.rsplit_once(':') {
        let (s, p) = (seg.stat(col)?, portfolio.stat(col)?);
        if stat == "active" {
            return s.nonzero_share;
        }
        let (a, b) = match stat {
            "median" => (s.median?, p.median?),
            "nonzero" => (s.nonzero_share?, p.nonzero_share?),
            _ => return None,
        };
        return (b != 0.0 && (a / b).is_finite()).then(|| a / b);
    }
    seg.ratio(metric)
}

/// Whether a metric names something a rules file may use (a column of this profile or
/// any derived indicator, even one whose columns are absent).
pub(super) fn metric_known(profile: &Profile, metric: &str) -> bool {
    if let Some((col, stat)) = metric.rsplit_once(':') {
        return matches!(stat, "median" | "nonzero" | "active")
            && profile.portfolio.stat(col).is_some();
    }
    profile.portfolio.stat(metric).is_some() || DERIVED.iter().any(|(n, _, _)| *n == metric)
}

/// Whether a metric can be evaluated on this profile (its columns are present).
pub(super) fn metric_present(profile: &Profile, metric: &str) -> bool {
    if metric.contains(':') {
        return metric_known(profile, metric);
    }
    profile.portfolio.stat(metric).is_some() || profile.portfolio.indicator(metric).is_some()
}
