//! How well each rule fits each segment, and the joint assignment of archetypes to
//! segments.

use super::metrics::metric_ratio;
use super::rules::{Condition, Op, Rule};
use crate::profile::SegmentProfile;

/// A margin is capped so one extreme figure cannot carry a whole archetype.
const MARGIN_CAP: f64 = 0.916_290_731_874_155; // ln 2.5

fn holds(r: f64, c: &Condition) -> bool {
    match c.op {
        Op::Ge => r >= c.value,
        Op::Le => r <= c.value,
        Op::Gt => r > c.value,
        Op::Lt => r < c.value,
    }
}

/// Log margin by which a ratio satisfies a condition (negative when it fails).
fn margin(r: f64, c: &Condition) -> f64 {
    let (r, t) = (r.max(1e-9), c.value.max(1e-9));
    let m = match c.op {
        Op::Ge | Op::Gt => (r / t).ln(),
        Op::Le | Op::Lt => (t / r).ln(),
    };
    m.min(MARGIN_CAP)
}

/// How one rule meets one segment.
#[derive(Debug, Clone)]
pub(super) enum Fit {
    /// All conditions hold; the score is the mean margin.
    Fits { score: f64 },
    /// A `when` condition fails: the weakest one, and its ratio.
    Misses {
        cond: Condition,
        ratio: f64,
        score: f64,
    },
    /// An `unless` condition holds.
    Excluded { cond: Condition, ratio: f64 },
    /// Every condition holds, but another segment is more extreme on the metric the
    /// name promises (`top` / `bottom`).
    NotExtreme {
        metric: String,
        ratio: f64,
        high: bool,
        other: u32,
        other_ratio: f64,
        score: f64,
    },
    /// A metric cannot be evaluated for this segment.
    Unknown,
}

/// How `rule` meets `seg`: excluded by an `unless`, missing a `when` (the weakest), or
/// fitting with the mean margin (plus a small bonus per condition, so a specific rule
/// beats a vague one that fits as well).
pub(super) fn fit(rule: &Rule, seg: &SegmentProfile, portfolio: &SegmentProfile) -> Fit {
    for c in &rule.unless {
        match metric_ratio(seg, portfolio, &c.metric) {
            None => return Fit::Unknown,
            Some(r) if holds(r, c) => {
                return Fit::Excluded {
                    cond: c.clone(),
                    ratio: r,
                }
            }
            Some(_) => {}
        }
    }
    let mut margins = Vec::new();
    let mut worst: Option<(Condition, f64, f64)> = None;
    for c in &rule.when {
        let Some(r) = metric_ratio(seg, portfolio, &c.metric) else {
            return Fit::Unknown;
        };
        let m = if holds(r, c) {
            margin(r, c).max(0.0)
        } else {
            margin(r, c).min(-1e-12)
        };
        if !holds(r, c) && worst.as_ref().is_none_or(|w| m < w.2) {
            worst = Some((c.clone(), r, m));
        }
        margins.push(m);
    }
    let score = if margins.is_empty() {
        0.0
    } else {
        margins.iter().sum::<f64>() / margins.len() as f64 + 0.02 * margins.len() as f64
    };
    match worst {
        Some((cond, ratio, _)) => Fit::Misses { cond, ratio, score },
        None => Fit::Fits { score },
    }
}

/// Optimal assignment of rows (segments) to columns (archetypes), each column at most
/// once: maximises the number of rows assigned, then the sum of weights (Hungarian
/// method on rows × (columns + one "none" column per row)). `None` weights are not allowed.
pub(super) fn max_matching(w: &[Vec<Option<f64>>]) -> Vec<Option<usize>> {
    let n = w.len();
    if n == 0 {
        return Vec::new();
    }
    let r = w[0].len();
    let m = r + n;
    const FORBID: f64 = 1e9;
    // Cost to minimise: an archetype costs -(1 + fit), "none" costs 0.
    let cost = |i: usize, j: usize| -> f64 {
        if j < r {
            match w[i][j] {
                Some(x) => -(1.0 + x.max(0.0)),
                None => FORBID,
            }
        } else {
            0.0
        }
    };
    let costs: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..m).map(|j| cost(i, j)).collect())
        .collect();
    let assigned = crate::matching::hungarian(&costs);
    assigned
        .into_iter()
        .enumerate()
        .map(|(i, j)| (j < r && w[i][j].is_some()).then_some(j))
        .collect()
}
