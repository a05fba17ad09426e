//! The rationale's account of the alternatives: which archetype came second and why it
//! lost, or why none applies.

use super::fit::Fit;
use super::rules::{Condition, Rules};
use super::wording::describe;
use crate::profile::Profile;

fn cond_text(c: &Condition, ratio: f64) -> String {
    format!(
        "{} (needs {} {})",
        describe(&c.metric, ratio),
        c.op.words(),
        c.value
    )
}

/// Why a rule did not fit a segment, in words.
fn why_not(fit: &Fit) -> String {
    match fit {
        Fit::Misses { cond, ratio, .. } => format!("it misses on {}", cond_text(cond, *ratio)),
        Fit::Excluded { cond, ratio } => format!(
            "it is ruled out by {} ({} {} excludes it)",
            describe(&cond.metric, *ratio),
            cond.op.words(),
            cond.value
        ),
        Fit::NotExtreme {
            metric,
            ratio,
            high,
            other,
            other_ratio,
            ..
        } => format!(
            "the name promises the {} {metric} of all segments, and segment {other} has {} against {} here",
            if *high { "highest" } else { "lowest" },
            describe(metric, *other_ratio),
            describe(metric, *ratio)
        ),
        Fit::Unknown => "it cannot be evaluated on these columns".into(),
        Fit::Fits { .. } => String::new(),
    }
}

/// The archetype that came second for segment `s` (named `r`) and why it lost.
pub(super) fn runner_up(
    s: usize,
    r: usize,
    rules: &Rules,
    fits: &[Vec<Fit>],
    chosen: &[Option<usize>],
    profile: &Profile,
) -> String {
    let own = match fits[s][r] {
        Fit::Fits { score } => score,
        _ => 0.0,
    };
    // A fitting alternative first (the best one), else the nearest miss.
    let mut best_fit: Option<(usize, f64)> = None;
    let mut best_miss: Option<(usize, f64)> = None;
    for (q, f) in fits[s].iter().enumerate() {
        if q == r {
            continue;
        }
        match f {
            Fit::Fits { score } if best_fit.is_none_or(|b| *score > b.1) => {
                best_fit = Some((q, *score))
            }
            Fit::Misses { score, .. } | Fit::NotExtreme { score, .. }
                if best_miss.is_none_or(|b| *score > b.1) =>
            {
                best_miss = Some((q, *score))
            }
            Fit::Excluded { .. } if best_miss.is_none_or(|b| -0.5 > b.1) => {
                best_miss = Some((q, -0.5))
            }
            _ => {}
        }
    }
    if let Some((q, x)) = best_fit {
        let other = chosen
            .iter()
            .enumerate()
            .find(|(o, c)| *o != s && **c == Some(q))
            .map(|(o, _)| profile.segments[o].id);
        let why = match other {
            Some(id) if x > own => format!("segment {id} fits it better"),
            Some(id) => format!("it fits less well here (fit {x:.2}), and segment {id} carries it"),
            None => format!("it fits less well (fit {x:.2} against {own:.2})"),
        };
        return format!(
            "Runner-up: {}, not chosen because {why}.",
            rules.rules[q].name
        );
    }
    match best_miss {
        Some((q, _)) => format!(
            "Runner-up: {}, not chosen because {}.",
            rules.rules[q].name,
            why_not(&fits[s][q])
        ),
        None => "No other archetype came close.".into(),
    }
}

/// For a segment no archetype fits: the nearest archetype and why it does not apply.
pub(super) fn runner_up_none(
    s: usize,
    rules: &Rules,
    fits: &[Vec<Fit>],
    _profile: &Profile,
) -> String {
    let mut best: Option<(usize, f64)> = None;
    for (q, f) in fits[s].iter().enumerate() {
        let x = match f {
            Fit::Misses { score, .. } | Fit::NotExtreme { score, .. } => *score,
            Fit::Excluded { .. } => -0.5,
            _ => continue,
        };
        if best.is_none_or(|b| x > b.1) {
            best = Some((q, x));
        }
    }
    match best {
        Some((q, _)) => format!(
            "the nearest, {}, does not apply because {}",
            rules.rules[q].name,
            why_not(&fits[s][q])
        ),
        None => "none can be evaluated".into(),
    }
}
