//! Automated, explainable segment names, by best fit. Rules (TOML; the defaults are
//! `rules/default.toml`, embedded, one rule per credit-card archetype) compare each
//! segment's profile with the portfolio. A rule fits a segment when all its `when`
//! conditions hold and none of its `unless` conditions does; how well it fits is the mean
//! margin by which its conditions hold. Segments and archetypes are then paired jointly
//! (best fits first, each archetype once while a segment fits another one nearly as
//! well), so names stay distinct; two segments that still share an archetype are told
//! apart by a qualifier from the profile ("— full payers" / "— revolving"), never a
//! number. The rationale quotes the conditions, the strongest departures from the
//! portfolio in both directions, and which archetype came second and why it lost.
//!
//! When no built-in rule can be evaluated on the table (other columns), names come from
//! the distinguishing features ("High Spending Score, Low Annual Income") and the
//! summary says that no credit-card rule was used.

mod fit;
mod metrics;
mod names;
mod qualify;
mod rationale;
mod rules;
#[cfg(test)]
mod tests;
mod wording;

pub use names::{Basis, Naming, Namings};
pub use rules::{Rules, DEFAULT_RULES};
pub use wording::{describe, fmt_ratio};

use crate::profile::Profile;
use fit::{fit, max_matching, Fit};
use metrics::metric_ratio;
use qualify::qualify;
use rationale::{runner_up, runner_up_none};
use rules::FALLBACK_ACTION;
use wording::{descriptive, strongest, traits_text};

/// A segment takes a still-free archetype only if it fits it at least this well relative
/// to its best fit; otherwise it shares its best archetype, with a qualifier.
const SECOND_CHOICE_MIN: f64 = 0.3;
/// Above this many segments the joint assignment is greedy (best fits first) instead of
/// an optimal matching, which costs the cube of the segment count.
const MATCHING_MAX_SEGMENTS: usize = 60;

/// A rule with `top` (`bottom`) fits only the segment highest (lowest) on that metric:
/// the others' fits become [`Fit::NotExtreme`], so a name never promises a trait another
/// segment shows more strongly.
fn extremes(fits: &mut [Vec<Fit>], rules: &Rules, profile: &Profile) {
    let port = &profile.portfolio;
    for (ri, rule) in rules.rules.iter().enumerate() {
        let wanted = rule
            .top
            .iter()
            .map(|m| (m, true))
            .chain(rule.bottom.iter().map(|m| (m, false)));
        for (metric, high) in wanted {
            let vals: Vec<Option<f64>> = profile
                .segments
                .iter()
                .map(|s| metric_ratio(s, port, metric))
                .collect();
            let best = (0..vals.len())
                .filter_map(|i| vals[i].map(|v| (i, v)))
                .fold(None, |b: Option<(usize, f64)>, (i, v)| match b {
                    Some((_, bv)) if (high && bv >= v) || (!high && bv <= v) => b,
                    _ => Some((i, v)),
                });
            let Some((bi, bv)) = best else { continue };
            for (s, row) in fits.iter_mut().enumerate() {
                let Fit::Fits { score } = row[ri] else {
                    continue;
                };
                let Some(v) = vals[s] else { continue };
                if s != bi && v != bv {
                    row[ri] = Fit::NotExtreme {
                        metric: metric.clone(),
                        ratio: v,
                        high,
                        other: profile.segments[bi].id,
                        other_ratio: bv,
                        score: score - 1.0,
                    };
                }
            }
        }
    }
}

/// Names every segment of the profile; names are distinct.
pub fn name_segments(profile: &Profile, rules: &Rules, features: &[String]) -> Namings {
    let basis = if rules.strict {
        Basis::Custom
    } else if rules.rules.iter().any(|r| rules.evaluable(r, profile)) {
        Basis::CreditCard
    } else {
        Basis::Features
    };
    let columns: Vec<&str> = profile
        .portfolio
        .stats
        .iter()
        .map(|s| s.column.as_str())
        .collect();
    let k = profile.segments.len();
    let port = &profile.portfolio;
    let mut fits: Vec<Vec<Fit>> = profile
        .segments
        .iter()
        .map(|s| rules.rules.iter().map(|r| fit(r, s, port)).collect())
        .collect();
    extremes(&mut fits, rules, profile);
    let score = |s: usize, r: usize| match fits[s][r] {
        Fit::Fits { score } => Some(score),
        _ => None,
    };
    let best_of = |s: usize| {
        (0..rules.rules.len())
            .filter_map(|r| score(s, r).map(|x| (r, x)))
            .fold(None, |b: Option<(usize, f64)>, (r, x)| match b {
                Some((_, bx)) if bx >= x => b,
                _ => Some((r, x)),
            })
    };
    // Joint assignment: each archetype to at most one segment, maximising first how many
    // segments get an archetype of their own, then the total fit; a segment may take an
    // archetype only if it fits it nearly as well as its best ([`SECOND_CHOICE_MIN`]).
    let allowed = |s: usize, r: usize| -> Option<f64> {
        let x = score(s, r)?;
        let best = best_of(s).map(|b| b.1).unwrap_or(x);
        (x >= SECOND_CHOICE_MIN * best).then_some(x)
    };
    let mut chosen: Vec<Option<usize>> = if k <= MATCHING_MAX_SEGMENTS {
        let weights: Vec<Vec<Option<f64>>> = (0..k)
            .map(|s| (0..rules.rules.len()).map(|r| allowed(s, r)).collect())
            .collect();
        max_matching(&weights)
    } else {
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for s in 0..k {
            for r in 0..rules.rules.len() {
                if let Some(x) = allowed(s, r) {
                    pairs.push((x, s, r));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut chosen = vec![None; k];
        let mut taken = vec![false; rules.rules.len()];
        for &(_, s, r) in &pairs {
            if chosen[s].is_none() && !taken[r] {
                chosen[s] = Some(r);
                taken[r] = true;
            }
        }
        chosen
    };
    // Segments left without an archetype of their own share their best one.
    for (s, c) in chosen.iter_mut().enumerate() {
        if c.is_none() {
            *c = best_of(s).map(|b| b.0);
        }
    }
    let mut names: Vec<Naming> = (0..k)
        .map(|s| {
            let seg = &profile.segments[s];
            let (high, low) = strongest(seg, port, &columns);
            let traits = traits_text(&high, &low);
            match chosen[s] {
                Some(r) => {
                    let rule = &rules.rules[r];
                    let quoted: Vec<String> = rule
                        .when
                        .iter()
                        .filter_map(|c| {
                            metric_ratio(seg, port, &c.metric)
                                .map(|x| format!("{} (needs {} {})", describe(&c.metric, x), c.op.words(), c.value))
                        })
                        .collect();
                    let mut quoted = quoted;
                    for (m, high) in rule
                        .top
                        .iter()
                        .map(|m| (m, true))
                        .chain(rule.bottom.iter().map(|m| (m, false)))
                    {
                        if let Some(x) = metric_ratio(seg, port, m) {
                            quoted.push(format!(
                                "the {} {} of all segments",
                                if high { "highest" } else { "lowest" },
                                describe(m, x)
                            ));
                        }
                    }
                    let why = if quoted.is_empty() {
                        "matches an unconditional rule".to_string()
                    } else {
                        quoted.join(", ")
                    };
                    let fit_score = score(s, r).unwrap_or(0.0);
                    Naming {
                        name: rule.name.clone(),
                        rationale: format!(
                            "Fits {} best (fit {:.2}): {why}. Strongest traits: {traits}. {}",
                            rule.name,
                            fit_score,
                            runner_up(s, r, rules, &fits, &chosen, profile)
                        ),
                        action: rule.action.clone(),
                    }
                }
                None => {
                    let name = descriptive(seg, port, features, &profile.segments)
                        .unwrap_or_else(|| "Close to the Portfolio Average".to_string());
                    let action = if basis == Basis::Features {
                        format!("No domain rule applies: review what sets {name} apart ({traits}) before choosing an offer, and test it against a control group")
                    } else {
                        FALLBACK_ACTION.to_string()
                    };
                    let why = match basis {
                        Basis::Features => "named from its distinguishing features (no credit-card rule applies to these columns)".to_string(),
                        _ => format!("no archetype fits: {}", runner_up_none(s, rules, &fits, profile)),
                    };
                    Naming {
                        name,
                        rationale: format!("{why}. Strongest traits: {traits}."),
                        action,
                    }
                }
            }
        })
        .collect();
    qualify(&mut names, profile, basis);
    Namings { names, basis }
}
