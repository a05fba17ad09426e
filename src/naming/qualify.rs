//! Qualifiers that tell apart segments sharing an archetype ("— full payers" /
//! "— revolving"), in words, never numbers.

use std::collections::HashMap;

use super::metrics::{metric_present, metric_ratio};
use super::names::{Basis, Naming};
use super::wording::short;
use crate::profile::Profile;

/// The word of a name that already speaks of a credit-card metric: a qualifier on that
/// metric would repeat or contradict it ("Premium Full Payers — revolving").
const SUBJECTS: &[(&str, &str)] = &[
    ("full_payment", "pay"),
    ("cash_advance_share", "cash"),
    ("utilisation", "utilis"),
    ("PURCHASES", "spend"),
    ("CREDIT_LIMIT", "limit"),
    ("BALANCE", "balance"),
    ("purchase_frequency", "buy"),
    ("tenure", "account"),
    ("INSTALLMENTS_PURCHASES", "instal"),
    ("PAYMENTS", "payment"),
];

/// Whether `name` already speaks of `metric` (its credit-card word, or the column).
fn names_metric(name: &str, metric: &str) -> bool {
    let name = name.to_lowercase();
    let word = SUBJECTS
        .iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, w)| w.to_string())
        .unwrap_or_else(|| short(metric).to_lowercase());
    name.contains(&word)
}

/// Qualifier words of the credit-card metrics: (high, low).
const QUALIFIERS: &[(&str, &str, &str)] = &[
    ("full_payment", "full payers", "revolving"),
    ("cash_advance_share", "cash-reliant", "purchase-led"),
    ("utilisation", "high utilisation", "low utilisation"),
    ("PURCHASES", "big spenders", "light spenders"),
    ("CREDIT_LIMIT", "high limit", "low limit"),
    ("BALANCE", "high balance", "low balance"),
    ("purchase_frequency", "frequent buyers", "occasional buyers"),
    ("tenure", "established", "newer accounts"),
    (
        "INSTALLMENTS_PURCHASES",
        "instalment buyers",
        "few instalments",
    ),
    ("PAYMENTS", "high payments", "low payments"),
];

/// A metric that can tell segments apart, with its words.
struct Separator {
    metric: String,
    high: String,
    low: String,
    mid: String,
}

fn separators(profile: &Profile, basis: Basis) -> Vec<Separator> {
    let mut out = Vec::new();
    if basis == Basis::CreditCard {
        for (m, hi, lo) in QUALIFIERS {
            if metric_present(profile, m) {
                out.push(Separator {
                    metric: m.to_string(),
                    high: hi.to_string(),
                    low: lo.to_string(),
                    mid: format!("mid {}", m.to_lowercase().replace('_', " ")),
                });
            }
        }
    }
    for s in &profile.portfolio.stats {
        if !out.iter().any(|x| x.metric == s.column) {
            let c = short(&s.column);
            out.push(Separator {
                metric: s.column.clone(),
                high: format!("higher {c}"),
                low: format!("lower {c}"),
                mid: format!("mid {c}"),
            });
        }
    }
    out
}

/// Segments of a group with their log ratio on one metric, highest first.
type Ranked = Vec<(usize, f64)>;

/// Gives the segments of each group of equal names a qualifier from the metric that
/// separates them most; repeats until every name is distinct. Never adds a number.
pub(super) fn qualify(names: &mut [Naming], profile: &Profile, basis: Basis) {
    let seps = separators(profile, basis);
    let ratio = |i: usize, m: &str| metric_ratio(&profile.segments[i], &profile.portfolio, m);
    let mut used: HashMap<String, Vec<usize>> = HashMap::new();
    for _round in 0..4 {
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            groups.entry(n.name.clone()).or_default().push(i);
        }
        let mut dup: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
        if dup.is_empty() {
            return;
        }
        dup.sort();
        for group in dup {
            let key = names[group[0]].name.clone();
            let taken = used.entry(key).or_default();
            // The separator with the widest smallest gap between neighbours (log ratio).
            let mut best: Option<(f64, usize, Ranked)> = None;
            for (si, sep) in seps.iter().enumerate() {
                if taken.contains(&si) || names_metric(&names[group[0]].name, &sep.metric) {
                    continue;
                }
                let mut vals: Vec<(usize, f64)> = Vec::new();
                for &i in &group {
                    match ratio(i, &sep.metric) {
                        Some(r) if r > 0.0 => vals.push((i, r.ln())),
                        _ => break,
                    }
                }
                if vals.len() != group.len() {
                    continue;
                }
                vals.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let gap = vals
                    .windows(2)
                    .map(|w| w[0].1 - w[1].1)
                    .fold(f64::INFINITY, f64::min);
                // Known credit-card words win unless a generic column separates far better.
                let weight = if si < QUALIFIERS.len() && basis == Basis::CreditCard {
                    1.5
                } else {
                    1.0
                };
                if best.as_ref().is_none_or(|b| gap * weight > b.0) {
                    best = Some((gap * weight, si, vals));
                }
            }
            let Some((_, si, vals)) = best else {
                continue;
            };
            taken.push(si);
            let sep = &seps[si];
            let n = vals.len();
            // All above (or all below) the portfolio: "low limit" would read as absolute,
            // so the words compare within the group ("lower credit limit").
            let one_side = vals.iter().all(|v| v.1 > 0.0) || vals.iter().all(|v| v.1 < 0.0);
            let noun = short(&sep.metric).to_lowercase().replace('_', " ");
            let (higher, lower) = (format!("higher {noun}"), format!("lower {noun}"));
            let (hi, lo) = if one_side {
                (&higher, &lower)
            } else {
                (&sep.high, &sep.low)
            };
            for (rank, (i, _)) in vals.iter().enumerate() {
                let word = if rank == 0 {
                    hi
                } else if rank == n - 1 {
                    lo
                } else if n == 3 {
                    &sep.mid
                } else if rank < n / 2 {
                    hi
                } else {
                    lo
                };
                names[*i].name = format!("{} — {}", names[*i].name, word);
            }
        }
    }
    // Identical profiles: the last resort is still words, never numbers.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for n in names.iter_mut() {
        let c = seen.entry(n.name.clone()).or_default();
        *c += 1;
        if *c > 1 {
            n.name = format!(
                "{} — variant {}",
                n.name,
                ["B", "C", "D", "E", "F", "G", "H"]
                    .get(*c - 2)
                    .unwrap_or(&"X")
            );
        }
    }
}
