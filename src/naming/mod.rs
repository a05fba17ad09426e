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
//! The built-in archetypes apply only to card data (a table with every column of
//! `rules::CARD_COLUMNS`); on other tables, or when no built-in rule can be evaluated,
//! names come from the distinguishing features ("High Spending Score, Low Annual Income")
//! and the summary says so.

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
    name_segments_keeping(profile, rules, features, &[])
}

/// The part of a name before its qualifier ("Transactors — big spenders" → "Transactors").
fn base_name(name: &str) -> &str {
    name.split(" — ").next().unwrap_or(name)
}

/// Why a segment no longer carries rule `r`'s name: the condition that now fails.
fn failed_condition(fit: &Fit, rule: &str, profile: &Profile) -> String {
    match fit {
        Fit::Misses { cond, ratio, .. } => format!(
            "the condition of {rule} {} {} {} no longer holds ({})",
            cond.metric,
            cond.op.words(),
            cond.value,
            describe(&cond.metric, *ratio)
        ),
        Fit::Excluded { cond, ratio } => format!(
            "{rule} now excludes it: {} ({} {} {})",
            describe(&cond.metric, *ratio),
            cond.metric,
            cond.op.words(),
            cond.value
        ),
        Fit::NotExtreme {
            metric,
            high,
            other,
            ..
        } => format!(
            "{rule} promises the {} {metric} of all segments, and segment {other} now has {}",
            if *high { "highest" } else { "lowest" },
            if *high { "a higher one" } else { "a lower one" }
        ),
        Fit::Unknown => format!(
            "a metric of {rule} can no longer be evaluated on {} customers",
            profile.portfolio.customers
        ),
        Fit::Fits { .. } => format!("{rule} still fits"),
    }
}

/// Names every segment, keeping names across a retrain: `previous[s]` is the name of the
/// previous segment that segment `s` continues (none for a new segment; an empty slice
/// for a first run). A continued segment keeps its name while that name's own rule still
/// fits it (its `when` conditions hold, no `unless` does, its `top`/`bottom` promise is
/// true), whatever else would fit better; otherwise [`Namings::renamed_because`] states
/// the condition that failed. A continued segment never takes the previous name of
/// another continued segment, so two segments cannot trade names.
pub fn name_segments_keeping(
    profile: &Profile,
    rules: &Rules,
    features: &[String],
    previous: &[Option<String>],
) -> Namings {
    let applies = rules.applies_to(profile);
    let basis = if rules.strict {
        Basis::Custom
    } else if applies && rules.rules.iter().any(|r| rules.evaluable(r, profile)) {
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
        .map(|s| {
            rules
                .rules
                .iter()
                .map(|r| {
                    if applies {
                        fit(r, s, port)
                    } else {
                        Fit::Unknown
                    }
                })
                .collect()
        })
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
    let prev = |s: usize| previous.get(s).and_then(Option::as_deref);
    let rule_of = |name: &str| rules.rules.iter().position(|r| r.name == base_name(name));
    // Sticky names: a continued segment whose previous name's rule still fits keeps it.
    let mut pinned: Vec<Option<usize>> = vec![None; k];
    let mut renamed_because: Vec<Option<String>> = vec![None; k];
    for s in 0..k {
        let Some(p) = prev(s) else { continue };
        match rule_of(p) {
            Some(r) if score(s, r).is_some() => pinned[s] = Some(r),
            Some(r) => {
                renamed_because[s] =
                    Some(failed_condition(&fits[s][r], &rules.rules[r].name, profile))
            }
            None => {}
        }
    }
    // Rules held by another continued segment before: never taken by a continued one.
    let held_before = |s: usize, r: usize| {
        prev(s).is_some() && (0..k).any(|t| t != s && prev(t).and_then(rule_of) == Some(r))
    };
    let allowed = |s: usize, r: usize| -> Option<f64> {
        if pinned[s].is_some() || pinned.contains(&Some(r)) || held_before(s, r) {
            return None;
        }
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
    for (c, p) in chosen.iter_mut().zip(&pinned) {
        if p.is_some() {
            *c = *p;
        }
    }
    // Segments left without an archetype of their own share their best one (a continued
    // segment not one another continued segment held before).
    for (s, c) in chosen.iter_mut().enumerate() {
        if c.is_none() {
            *c = (0..rules.rules.len())
                .filter(|&r| !held_before(s, r))
                .filter_map(|r| score(s, r).map(|x| (r, x)))
                .fold(None, |b: Option<(usize, f64)>, (r, x)| match b {
                    Some((_, bx)) if bx >= x => b,
                    _ => Some((r, x)),
                })
                .map(|b| b.0);
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
                        Basis::Features => "named from its distinguishing features (no built-in archetype applies to these columns)".to_string(),
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
    // A kept name keeps its qualifier too, when no other segment now carries that name.
    for s in 0..k {
        if let (Some(p), Some(_)) = (prev(s), pinned[s]) {
            if names[s].name != p && !names.iter().any(|n| n.name == p) {
                names[s].name = p.to_string();
            }
        }
    }
    for s in 0..k {
        if let Some(p) = prev(s) {
            if names[s].name != p && renamed_because[s].is_none() {
                renamed_because[s] = Some(if pinned[s].is_some() {
                    format!("another segment now shares the name {}, so the qualifier that tells them apart changed", base_name(p))
                } else {
                    format!(
                        "{p} is not one of the naming rules: it is derived afresh from the profile"
                    )
                });
            }
        }
    }
    // The summary says where names come from: archetypes only if one named a segment.
    let basis = if basis == Basis::CreditCard && chosen.iter().all(Option::is_none) {
        Basis::NoArchetypeFits
    } else {
        basis
    };
    Namings {
        names,
        basis,
        renamed_because,
    }
}
