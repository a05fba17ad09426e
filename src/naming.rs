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

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::{Profile, SegmentProfile, DERIVED};

pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");
/// Naming rules are a short TOML file; anything larger is the wrong path.
const MAX_RULES_BYTES: u64 = 1 << 20;
const FALLBACK_ACTION: &str =
    "Lifecycle management: monitor behaviour and test offers against a control group";
/// A margin is capped so one extreme figure cannot carry a whole archetype.
const MARGIN_CAP: f64 = 0.916_290_731_874_155; // ln 2.5
/// A segment takes a still-free archetype only if it fits it at least this well relative
/// to its best fit; otherwise it shares its best archetype, with a qualifier.
const SECOND_CHOICE_MIN: f64 = 0.3;
/// Above this many segments the joint assignment is greedy (best fits first) instead of
/// an optimal matching, which costs the cube of the segment count.
const MATCHING_MAX_SEGMENTS: usize = 60;
/// Smallest departure (in portfolio standard deviations) that names a feature.
const NOTABLE_Z: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    metric: String,
    op: Op,
    value: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    name: String,
    when: Vec<Condition>,
    unless: Vec<Condition>,
    action: String,
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Custom files must only name known metrics; the defaults skip absent columns.
    strict: bool,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    when: Vec<String>,
    #[serde(default)]
    unless: Vec<String>,
    #[serde(default)]
    action: Option<String>,
}

/// A segment's name and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    pub name: String,
    pub rationale: String,
    pub action: String,
}

/// What named the segments; the summary says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The built-in credit-card archetypes (rules/default.toml).
    CreditCard,
    /// A `--naming-rules` file.
    Custom,
    /// No rule could be evaluated on these columns: names from distinguishing features.
    Features,
}

impl Basis {
    /// One sentence for the summary.
    pub fn sentence(self) -> &'static str {
        match self {
            Basis::CreditCard => "Names come from the built-in credit-card archetypes (best fit of the whole profile; see the README, \"Segment names\").",
            Basis::Custom => "Names come from the naming rules given with --naming-rules (best fit of the whole profile).",
            Basis::Features => "No credit-card naming rule could be evaluated on these columns, so none was used: names state the features that set each segment apart, and actions are left generic.",
        }
    }
}

/// Names of every segment, and what named them.
#[derive(Debug, Clone, PartialEq)]
pub struct Namings {
    pub names: Vec<Naming>,
    pub basis: Basis,
}

fn parse_condition(text: &str) -> std::result::Result<Condition, String> {
    for (sym, op) in [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)] {
        if let Some((m, v)) = text.split_once(sym) {
            let metric = m.trim().to_string();
            let value: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("condition {text:?}: {:?} is not a number", v.trim()))?;
            if metric.is_empty() || !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "condition {text:?} needs a metric and a finite, non-negative number"
                ));
            }
            return Ok(Condition { metric, op, value });
        }
    }
    Err(format!(
        "condition {text:?} is not of the form \"METRIC >= NUMBER\" (operators: >=, <=, >, <)"
    ))
}

/// A metric's value relative to the portfolio: a column's mean, a derived indicator,
/// `COLUMN:median` (ratio of medians) or `COLUMN:nonzero` (ratio of the shares of
/// customers with a non-zero value). None when it cannot be evaluated.
fn metric_ratio(seg: &SegmentProfile, portfolio: &SegmentProfile, metric: &str) -> Option<f64> {
    if let Some((col, stat)) = metric.rsplit_once(':') {
        let (s, p) = (seg.stat(col)?, portfolio.stat(col)?);
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
fn metric_known(profile: &Profile, metric: &str) -> bool {
    if let Some((col, stat)) = metric.rsplit_once(':') {
        return matches!(stat, "median" | "nonzero") && profile.portfolio.stat(col).is_some();
    }
    profile.portfolio.stat(metric).is_some() || DERIVED.iter().any(|(n, _, _)| *n == metric)
}

/// Whether a metric can be evaluated on this profile (its columns are present).
fn metric_present(profile: &Profile, metric: &str) -> bool {
    if metric.contains(':') {
        return metric_known(profile, metric);
    }
    profile.portfolio.stat(metric).is_some() || profile.portfolio.indicator(metric).is_some()
}

impl Rules {
    pub fn default_rules() -> Self {
        Self::parse(DEFAULT_RULES, "built-in default rules", false)
            .expect("default rules are valid")
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(Error::input(
                shown,
                "is a directory; give the naming rules TOML file",
            ));
        }
        let bytes = crate::ingest::read_bounded(path, MAX_RULES_BYTES, "reading naming rules")?
            .ok_or_else(|| {
                Error::input(
                    &shown,
                    "is too large for naming rules (over 1 MB); give the rules TOML file",
                )
            })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::input(
                &shown,
                "is not UTF-8 text; naming rules are a TOML file (see rules/default.toml)",
            )
        })?;
        Self::parse(&text, &shown, true)
    }

    pub fn parse(text: &str, source: &str, strict: bool) -> Result<Self> {
        let bad = |msg: String| Error::input(source, msg);
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .map(|l| format!("line {l}: "))
                .unwrap_or_default();
            bad(format!(
                "{line}invalid naming rules: {msg}; see rules/default.toml for the format"
            ))
        })?;
        if raw.rule.is_empty() && strict {
            return Err(bad(
                "has no [[rule]] entries; see rules/default.toml for the format".into(),
            ));
        }
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let name = r.name.trim().to_string();
            if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
                return Err(bad(format!(
                    "rule {}: the name must be 1 to 60 printable characters",
                    i + 1
                )));
            }
            if rules.iter().any(|x| x.name == name) {
                return Err(bad(format!(
                    "rule {}: the name {name:?} is used by an earlier rule; give each rule its own name",
                    i + 1
                )));
            }
            let parse = |list: &[String]| {
                list.iter()
                    .map(|c| parse_condition(c))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|m| bad(format!("rule {} ({name}): {m}", i + 1)))
            };
            let when = parse(&r.when)?;
            let unless = parse(&r.unless)?;
            rules.push(Rule {
                name,
                when,
                unless,
                action: r.action.unwrap_or_else(|| FALLBACK_ACTION.to_string()),
            });
        }
        Ok(Rules {
            rules,
            strict,
            source: source.to_string(),
        })
    }

    /// In a custom rules file, every metric must exist in this profile.
    pub fn check_metrics(&self, profile: &Profile) -> Result<()> {
        if !self.strict {
            return Ok(());
        }
        for (i, r) in self.rules.iter().enumerate() {
            for c in r.when.iter().chain(&r.unless) {
                if !metric_known(profile, &c.metric) {
                    let cols: Vec<&str> = profile
                        .portfolio
                        .stats
                        .iter()
                        .map(|s| s.column.as_str())
                        .collect();
                    return Err(Error::input(
                        &self.source,
                        format!(
                            "rule {} ({}): unknown metric {}; use a numeric column of the input ({}), COLUMN:median, COLUMN:nonzero or a derived indicator ({})",
                            i + 1,
                            r.name,
                            c.metric,
                            cols.join(", "),
                            DERIVED.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a rule's every metric exists in this profile (the default rules skip the
    /// others; when none is left the names come from the features).
    fn evaluable(&self, r: &Rule, profile: &Profile) -> bool {
        r.when
            .iter()
            .chain(&r.unless)
            .all(|c| metric_present(profile, &c.metric))
    }
}

/// How a metric reads in a rationale: "BALANCE 2.41× portfolio".
pub fn describe(metric: &str, ratio: f64) -> String {
    match metric.rsplit_once(':') {
        Some((col, "median")) => format!("{col} median {}× the portfolio's", fmt_ratio(ratio)),
        Some((col, "nonzero")) => {
            format!("share with {col} > 0 {}× the portfolio's", fmt_ratio(ratio))
        }
        _ => format!("{} {}× portfolio", metric, fmt_ratio(ratio)),
    }
}

/// Ratios are quoted with two decimals; the profile keeps the unrounded index.
pub fn fmt_ratio(r: f64) -> String {
    format!("{:.2}", r)
}

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
enum Fit {
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
    /// A metric cannot be evaluated for this segment.
    Unknown,
}

fn fit(rule: &Rule, seg: &SegmentProfile, portfolio: &SegmentProfile) -> Fit {
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
fn short(column: &str) -> &str {
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
type Traits = Vec<(String, f64)>;

/// The strongest departures of a segment, both directions: ("high", column, ratio) lists.
fn strongest(
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

fn traits_text(high: &[(String, f64)], low: &[(String, f64)]) -> String {
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

/// Name from the most distinctive clustering features, e.g. "High Spending Score, Low
/// Annual Income" (None when no feature departs measurably).
fn descriptive(
    seg: &SegmentProfile,
    portfolio: &SegmentProfile,
    features: &[String],
) -> Option<String> {
    let mut scored: Vec<(f64, &String)> = features
        .iter()
        .filter_map(|f| z_of(seg, portfolio, f).map(|z| (z, f)))
        .filter(|(z, _)| z.abs() >= NOTABLE_Z)
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
fn qualify(names: &mut [Naming], profile: &Profile, basis: Basis) {
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
                if taken.contains(&si) {
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
            for (rank, (i, _)) in vals.iter().enumerate() {
                let word = if rank == 0 {
                    &sep.high
                } else if rank == n - 1 {
                    &sep.low
                } else if n == 3 {
                    &sep.mid
                } else if rank < n / 2 {
                    &sep.high
                } else {
                    &sep.low
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
    let fits: Vec<Vec<Fit>> = profile
        .segments
        .iter()
        .map(|s| rules.rules.iter().map(|r| fit(r, s, port)).collect())
        .collect();
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
                                .map(|x| format!("{} (needs {} {})", describe(&c.metric, x), c.op.symbol(), c.value))
                        })
                        .collect();
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
                    let name = descriptive(seg, port, features)
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

/// Optimal assignment of rows (segments) to columns (archetypes), each column at most
/// once: maximises the number of rows assigned, then the sum of weights (Hungarian
/// method on rows × (columns + one "none" column per row)). `None` weights are not allowed.
fn max_matching(w: &[Vec<Option<f64>>]) -> Vec<Option<usize>> {
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

fn cond_text(c: &Condition, ratio: f64) -> String {
    format!(
        "{} (needs {} {})",
        describe(&c.metric, ratio),
        c.op.symbol(),
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
            cond.op.symbol(),
            cond.value
        ),
        Fit::Unknown => "it cannot be evaluated on these columns".into(),
        Fit::Fits { .. } => String::new(),
    }
}

/// The archetype that came second for segment `s` (named `r`) and why it lost.
fn runner_up(
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
            Fit::Misses { score, .. } if best_miss.is_none_or(|b| *score > b.1) => {
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

fn runner_up_none(s: usize, rules: &Rules, fits: &[Vec<Fit>], _profile: &Profile) -> String {
    let mut best: Option<(usize, f64)> = None;
    for (q, f) in fits[s].iter().enumerate() {
        let x = match f {
            Fit::Misses { score, .. } => *score,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Indicator, Stat};
    use proptest::prelude::*;

    fn seg(id: u32, ratios: &[(&str, f64)]) -> SegmentProfile {
        SegmentProfile {
            id,
            customers: 10,
            share: 0.1,
            stats: ratios
                .iter()
                .filter(|(c, _)| c.chars().any(|ch| ch.is_uppercase()))
                .map(|(c, r)| Stat {
                    column: c.to_string(),
                    mean: Some(*r),
                    median: Some(*r),
                    index: Some(r * 100.0),
                    std: Some(0.5),
                    nonzero_share: Some(0.5 * r.min(2.0)),
                    additive: true,
                    boxplot: None,
                })
                .collect(),
            indicators: ratios
                .iter()
                .filter(|(c, _)| !c.chars().any(|ch| ch.is_uppercase()))
                .map(|(c, r)| Indicator {
                    name: c.to_string(),
                    label: c.to_string(),
                    value: Some(*r),
                    index: Some(r * 100.0),
                })
                .collect(),
            categories: vec![],
        }
    }

    const CC: &[&str] = &[
        "BALANCE",
        "PURCHASES",
        "CREDIT_LIMIT",
        "CASH_ADVANCE",
        "PURCHASES_TRX",
        "utilisation",
        "full_payment",
        "cash_advance_share",
        "purchase_frequency",
        "tenure",
    ];

    fn cc_seg(id: u32, vals: &[f64]) -> SegmentProfile {
        let pairs: Vec<(&str, f64)> = CC.iter().copied().zip(vals.iter().copied()).collect();
        seg(id, &pairs)
    }

    fn profile(segs: Vec<SegmentProfile>) -> Profile {
        Profile {
            customers: 100,
            portfolio: cc_seg(0, &[1.0; 10]),
            segments: segs,
        }
    }

    fn feats() -> Vec<String> {
        vec!["BALANCE".into(), "PURCHASES".into(), "CREDIT_LIMIT".into()]
    }

    #[test]
    fn risky_big_balances_are_never_premium_and_names_stay_distinct() {
        // BALANCE, PURCHASES, CREDIT_LIMIT, CASH_ADVANCE, PURCHASES_TRX, util, full, cas, freq, tenure
        let p = profile(vec![
            cc_seg(1, &[5.3, 2.5, 2.8, 4.5, 2.0, 1.9, 0.07, 1.3, 1.0, 1.0]),
            cc_seg(2, &[0.8, 3.8, 3.0, 0.85, 2.4, 0.26, 2.3, 0.37, 1.4, 1.0]),
            cc_seg(3, &[2.6, 1.1, 1.5, 2.6, 1.1, 1.8, 0.07, 1.4, 0.9, 1.0]),
            cc_seg(4, &[0.5, 0.1, 0.5, 0.5, 0.1, 1.0, 0.9, 1.0, 0.2, 1.0]),
        ]);
        let n = name_segments(&p, &Rules::default_rules(), &feats());
        assert_eq!(n.basis, Basis::CreditCard);
        let names: Vec<&str> = n.names.iter().map(|x| x.name.as_str()).collect();
        assert!(!names[0].contains("Premium"), "{names:?}");
        assert!(
            names[0].contains("Revolv") || names[0].contains("Cash"),
            "{names:?}"
        );
        assert!(names[1].contains("Premium"), "{names:?}");
        assert!(names[3].contains("Dormant"), "{names:?}");
        assert!(
            n.names[0].rationale.contains("Runner-up"),
            "{}",
            n.names[0].rationale
        );
        let mut u = names.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 4);
    }

    #[test]
    fn twins_get_words_not_numbers() {
        let p = profile(vec![
            cc_seg(1, &[2.5, 0.5, 1.0, 0.5, 0.5, 1.8, 0.2, 0.5, 0.9, 1.0]),
            cc_seg(2, &[3.5, 0.9, 1.2, 0.6, 0.9, 1.9, 0.3, 0.5, 0.9, 1.0]),
        ]);
        let n = name_segments(&p, &Rules::default_rules(), &feats());
        let (a, b) = (&n.names[0].name, &n.names[1].name);
        assert_ne!(a, b);
        assert!(
            !a.chars().chain(b.chars()).any(|c| c.is_ascii_digit()),
            "{a} / {b}"
        );
        assert!(a.contains(" — ") && b.contains(" — "), "{a} / {b}");
    }

    #[test]
    fn other_tables_are_named_from_their_features() {
        let mk = |id, inc: f64, sc: f64| {
            seg(
                id,
                &[("Annual Income (k$)", inc), ("Spending Score (1-100)", sc)],
            )
        };
        let p = Profile {
            customers: 100,
            portfolio: mk(0, 1.0, 1.0),
            segments: vec![mk(1, 0.5, 1.8), mk(2, 1.6, 0.4)],
        };
        let f = vec![
            "Annual Income (k$)".to_string(),
            "Spending Score (1-100)".to_string(),
        ];
        let n = name_segments(&p, &Rules::default_rules(), &f);
        assert_eq!(n.basis, Basis::Features);
        assert_eq!(n.names[0].name, "Low Annual Income, High Spending Score");
        assert_eq!(n.names[1].name, "High Annual Income, Low Spending Score");
        assert_ne!(n.names[0].action, n.names[1].action);
    }

    #[test]
    fn custom_rules_and_bad_files() {
        let r = Rules::parse(
            "[[rule]]\nname = \"Big\"\nwhen = [\"BALANCE > 2\"]\nunless = [\"PURCHASES:median < 0.5\"]\naction = \"call\"\n",
            "r.toml",
            true,
        )
        .unwrap();
        let p = profile(vec![cc_seg(
            1,
            &[3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        )]);
        r.check_metrics(&p).unwrap();
        let n = name_segments(&p, &r, &feats());
        assert_eq!(n.basis, Basis::Custom);
        assert_eq!(n.names[0].name, "Big");
        let e = Rules::parse(
            "[[rule]]\nname = \"x\"\nwhen = [\"BALANCE ~ 2\"]\n",
            "r.toml",
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not of the form"), "{e}");
        let e = Rules::parse("[[rule]\nname=", "r.toml", true).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("r.toml: line 1: invalid naming rules"),
            "{e}"
        );
        let r = Rules::parse(
            "[[rule]]\nname = \"x\"\nwhen = [\"NOPE >= 2\"]\n",
            "r.toml",
            true,
        )
        .unwrap();
        assert!(r
            .check_metrics(&p)
            .unwrap_err()
            .to_string()
            .contains("unknown metric NOPE"));
        let e = Rules::parse(
            "[[rule]]\nname = \"x\"\n[[rule]]\nname = \"x\"\n",
            "r.toml",
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("used by an earlier rule"), "{e}");
    }

    proptest! {
        #[test]
        fn every_profile_gets_a_distinct_name_without_digits(
            k in 1usize..=12,
            ratios in proptest::collection::vec(proptest::collection::vec(0.0f64..5.0, 10), 12),
        ) {
            let segs: Vec<SegmentProfile> = (0..k)
                .map(|i| cc_seg(i as u32 + 1, &ratios[i]))
                .collect();
            let p = profile(segs);
            let names = name_segments(&p, &Rules::default_rules(), &feats()).names;
            prop_assert_eq!(names.len(), k);
            let mut uniq: Vec<&String> = names.iter().map(|n| &n.name).collect();
            uniq.sort();
            uniq.dedup();
            prop_assert_eq!(uniq.len(), k);
            prop_assert!(names.iter().all(|n| !n.name.is_empty() && !n.action.is_empty()));
            prop_assert!(names.iter().all(|n| !n.name.chars().any(|c| c.is_ascii_digit())));
        }
    }
}
