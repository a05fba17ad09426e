//! How a segment's figures read in names and rationales: ratios, column names without
//! units, the strongest departures from the portfolio, and names from features.

use crate::profile::SegmentProfile;

/// Smallest departure (in portfolio standard deviations) that names a feature.
const NOTABLE_Z: f64 = 0.25;

/// How a metric reads in a rationale: "BALANCE 2.41× portfolio".
pub fn describe(metric: &str, ratio: f64) -> String {
    match metric.rsplit_once(':') {
        Some((col, "median")) => format!("{col} median {}× the portfolio's", fmt_ratio(ratio)),
        Some((col, "active")) => format!("{:.0}% with any {col}", ratio * 100.0),
        Some((col, "nonzero")) => {
            format!("share with any {col} {}× the portfolio's", fmt_ratio(ratio))
        }
        _ => format!("{} {}× portfolio", metric, fmt_ratio(ratio)),
    }
}

/// Ratios are quoted with two decimals; the profile keeps the unrounded index.
pub fn fmt_ratio(r: f64) -> String {
    format!("{:.2}", r)
}

/// Departure of a segment from the portfolio on a numeric column, in portfolio
/// standard deviations (None for a constant or empty column).
fn z_of(seg: &SegmentProfile, portfolio: &SegmentProfile, column: &str) -> Option<f64> {
    let s = seg.stat(column)?;
    let p = portfolio.stat(column)?;
    let (m, pm, sd) = (s.mean?, p.mean?, p.std?);
    (sd > 0.0).then(|| (m - pm) / sd)
}

/// A column name as it reads in a name: a trailing unit in parentheses is dropped
/// ("Annual Income (k$)" → "Annual Income").
pub(super) fn short(column: &str) -> &str {
    let t = column.trim();
    if t.ends_with(')') {
        if let Some(i) = t.rfind(" (") {
            if i > 0 {
                return t[..i].trim_end();
            }
        }
    }
    t
}

/// Quoted traits: (metric, ratio to the portfolio).
pub(super) type Traits = Vec<(String, f64)>;

/// The strongest departures of a segment, both directions: ("high", column, ratio) lists.
pub(super) fn strongest(
    seg: &SegmentProfile,
    portfolio: &SegmentProfile,
    columns: &[&str],
) -> (Traits, Traits) {
    let mut scored: Vec<(f64, &str)> = columns
        .iter()
        .filter_map(|c| z_of(seg, portfolio, c).map(|z| (z, *c)))
        .filter(|(z, _)| z.abs() >= NOTABLE_Z)
        .collect();
    scored.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()).then(a.1.cmp(b.1)));
    let pick = |up: bool| {
        scored
            .iter()
            .filter(|(z, _)| (*z > 0.0) == up)
            .take(3)
            .filter_map(|(_, c)| seg.ratio(c).map(|r| (c.to_string(), r)))
            .collect::<Vec<_>>()
    };
    (pick(true), pick(false))
}

/// The strongest traits as the rationale quotes them: "high A, B; low C".
pub(super) fn traits_text(high: &[(String, f64)], low: &[(String, f64)]) -> String {
    let list = |v: &[(String, f64)]| {
        v.iter()
            .map(|(c, r)| describe(c, *r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (high.is_empty(), low.is_empty()) {
        (true, true) => "no column departs measurably from the portfolio".into(),
        (false, true) => format!("high {}", list(high)),
        (true, false) => format!("low {}", list(low)),
        (false, false) => format!("high {}; low {}", list(high), list(low)),
    }
}

/// Whether `seg` is in the upper (`high`) or lower half of `all` segments on the mean of
/// `column`: at most (k − 1) / 2 segments are strictly beyond it.
pub(super) fn among_extremes(
    seg: &SegmentProfile,
    all: &[SegmentProfile],
    column: &str,
    high: bool,
) -> bool {
    let Some(v) = seg.stat(column).and_then(|s| s.mean) else {
        return false;
    };
    let beyond = all
        .iter()
        .filter_map(|s| s.stat(column).and_then(|x| x.mean))
        .filter(|&o| if high { o > v } else { o < v })
        .count();
    beyond <= all.len().saturating_sub(1) / 2
}

/// Name from the most distinctive clustering features, e.g. "High Spending Score, Low
/// Annual Income" (None when no feature departs measurably).
///
/// "High X" is said only of a segment in the upper half of all segments on X, "Low X"
/// only of one in the lower half ([`among_extremes`]), so a name never calls a segment
/// low on what most others have less of.
pub(super) fn descriptive(
    seg: &SegmentProfile,
    portfolio: &SegmentProfile,
    features: &[String],
    all: &[SegmentProfile],
) -> Option<String> {
    let mut scored: Vec<(f64, &String)> = features
        .iter()
        .filter_map(|f| z_of(seg, portfolio, f).map(|z| (z, f)))
        .filter(|(z, _)| z.abs() >= NOTABLE_Z)
        .filter(|(z, f)| among_extremes(seg, all, f, *z > 0.0))
        .collect();
    scored.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()).then(a.1.cmp(b.1)));
    if scored.is_empty() {
        return None;
    }
    // The two strongest, in feature order: segments with the same traits get the same
    // words (and then a qualifier), never the same words shuffled.
    let mut top: Vec<(f64, &String)> = scored.into_iter().take(2).collect();
    top.sort_by_key(|(_, f)| features.iter().position(|x| x == *f));
    Some(
        top.iter()
            .map(|(z, f)| format!("{} {}", if *z > 0.0 { "High" } else { "Low" }, short(f)))
            .collect::<Vec<_>>()
            .join(", "),
    )
}
