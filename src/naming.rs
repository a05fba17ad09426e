//! Automated, explainable segment names. Rules (TOML; the defaults are
//! `rules/default.toml`, embedded) compare each segment's profile with the portfolio;
//! the first rule whose conditions all hold names the segment, with a rationale quoting
//! the very figures that triggered it and a suggested action. Segments no rule matches
//! are named from their most distinctive clustering features. Names never collide.

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::profile::{Profile, SegmentProfile, DERIVED};

pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");
const FALLBACK_ACTION: &str =
    "Lifecycle management: monitor behaviour and test offers against a control group";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
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
    action: Option<String>,
}

/// A segment's name and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    pub name: String,
    pub rationale: String,
    pub action: String,
}

fn parse_condition(text: &str) -> std::result::Result<Condition, String> {
    for (sym, op) in [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)] {
        if let Some((m, v)) = text.split_once(sym) {
            let metric = m.trim().to_string();
            let value: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("condition {text:?}: {:?} is not a number", v.trim()))?;
            if metric.is_empty() || !value.is_finite() {
                return Err(format!("condition {text:?} needs a metric and a finite number"));
            }
            return Ok(Condition { metric, op, value });
        }
    }
    Err(format!(
        "condition {text:?} is not of the form \"METRIC >= NUMBER\" (operators: >=, <=, >, <)"
    ))
}

impl Rules {
    pub fn default_rules() -> Self {
        Self::parse(DEFAULT_RULES, "built-in default rules", false).expect("default rules are valid")
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "reading naming rules", e))?;
        Self::parse(&text, &path.display().to_string(), true)
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
            bad(format!("{line}invalid naming rules: {msg}; see rules/default.toml for the format"))
        })?;
        if raw.rule.is_empty() && strict {
            return Err(bad("has no [[rule]] entries; see rules/default.toml for the format".into()));
        }
        let mut rules = Vec::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let name = r.name.trim().to_string();
            if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
                return Err(bad(format!(
                    "rule {}: the name must be 1 to 60 printable characters",
                    i + 1
                )));
            }
            let when = r
                .when
                .iter()
                .map(|c| parse_condition(c))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|m| bad(format!("rule {} ({name}): {m}", i + 1)))?;
            rules.push(Rule {
                name,
                when,
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
            for c in &r.when {
                let known = profile.portfolio.stat(&c.metric).is_some()
                    || DERIVED.iter().any(|(n, _, _)| *n == c.metric);
                if !known {
                    let cols: Vec<&str> = profile.portfolio.stats.iter().map(|s| s.column.as_str()).collect();
                    return Err(Error::input(
                        &self.source,
                        format!(
                            "rule {} ({}): unknown metric {}; use a numeric column of the input ({}) or a derived indicator ({})",
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
}

/// How a metric reads in a rationale: "balance 2.41× portfolio".
pub fn describe(metric: &str, ratio: f64) -> String {
    format!("{} {}× portfolio", metric, fmt_ratio(ratio))
}

/// Ratios are quoted with two decimals; the profile keeps the unrounded index.
pub fn fmt_ratio(r: f64) -> String {
    format!("{:.2}", r)
}

fn holds(seg: &SegmentProfile, c: &Condition) -> Option<bool> {
    let r = seg.ratio(&c.metric)?;
    Some(match c.op {
        Op::Ge => r >= c.value,
        Op::Le => r <= c.value,
        Op::Gt => r > c.value,
        Op::Lt => r < c.value,
    })
}

/// Name from the most distinctive clustering features, e.g. "High BALANCE, Low PURCHASES".
fn descriptive(seg: &SegmentProfile, features: &[String]) -> (String, Vec<(String, f64)>) {
    let mut scored: Vec<(f64, &String, f64)> = features
        .iter()
        .filter_map(|f| seg.ratio(f).filter(|r| *r > 0.0).map(|r| (r.ln().abs(), f, r)))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let top: Vec<(f64, &String, f64)> = scored
        .iter()
        .filter(|(s, _, _)| *s >= 0.2)
        .take(2)
        .copied()
        .collect();
    if top.is_empty() {
        let quoted = scored.iter().take(2).map(|(_, f, r)| ((*f).clone(), *r)).collect();
        return ("Average Profile".to_string(), quoted);
    }
    let name = top
        .iter()
        .map(|(_, f, r)| format!("{} {}", if *r >= 1.0 { "High" } else { "Low" }, f))
        .collect::<Vec<_>>()
        .join(", ");
    (name, top.iter().map(|(_, f, r)| ((*f).clone(), *r)).collect())
}

fn rationale(quoted: &[(String, f64)]) -> String {
    if quoted.is_empty() {
        return "no feature differs measurably from the portfolio".to_string();
    }
    quoted
        .iter()
        .map(|(m, r)| describe(m, *r))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names every segment of the profile; names are unique.
pub fn name_segments(profile: &Profile, rules: &Rules, features: &[String]) -> Vec<Naming> {
    let mut out: Vec<Naming> = profile
        .segments
        .iter()
        .map(|seg| {
            for rule in &rules.rules {
                let results: Vec<Option<bool>> = rule.when.iter().map(|c| holds(seg, c)).collect();
                if results.iter().all(|r| *r == Some(true)) {
                    let quoted: Vec<(String, f64)> = rule
                        .when
                        .iter()
                        .filter_map(|c| seg.ratio(&c.metric).map(|r| (c.metric.clone(), r)))
                        .collect();
                    return Naming {
                        name: rule.name.clone(),
                        rationale: if quoted.is_empty() {
                            "matches an unconditional rule".to_string()
                        } else {
                            rationale(&quoted)
                        },
                        action: rule.action.clone(),
                    };
                }
            }
            let (name, quoted) = descriptive(seg, features);
            Naming {
                name,
                rationale: rationale(&quoted),
                action: FALLBACK_ACTION.to_string(),
            }
        })
        .collect();
    disambiguate(&mut out, profile, features);
    out
}

/// Makes names unique: duplicates get their descriptive qualifier, then the segment id.
fn disambiguate(names: &mut [Naming], profile: &Profile, features: &[String]) {
    let count = |names: &[Naming]| {
        let mut c: HashMap<String, usize> = HashMap::new();
        for n in names.iter() {
            *c.entry(n.name.clone()).or_default() += 1;
        }
        c
    };
    let counts = count(names);
    for (i, n) in names.iter_mut().enumerate() {
        if counts[&n.name] > 1 {
            let (q, _) = descriptive(&profile.segments[i], features);
            if q != n.name {
                n.name = format!("{} ({})", n.name, q);
            }
        }
    }
    let counts = count(names);
    for (i, n) in names.iter_mut().enumerate() {
        if counts[&n.name] > 1 {
            n.name = format!("{} #{}", n.name, profile.segments[i].id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Stat;
    use proptest::prelude::*;

    fn seg(id: u32, ratios: &[(&str, f64)]) -> SegmentProfile {
        SegmentProfile {
            id,
            customers: 10,
            share: 0.1,
            stats: ratios
                .iter()
                .map(|(c, r)| Stat {
                    column: c.to_string(),
                    mean: Some(*r),
                    median: Some(*r),
                    index: Some(r * 100.0),
                })
                .collect(),
            indicators: vec![],
        }
    }

    fn profile(segs: Vec<SegmentProfile>) -> Profile {
        Profile {
            customers: 100,
            portfolio: seg(0, &[("BALANCE", 1.0), ("PURCHASES", 1.0), ("CREDIT_LIMIT", 1.0)]),
            segments: segs,
        }
    }

    fn feats() -> Vec<String> {
        vec!["BALANCE".into(), "PURCHASES".into(), "CREDIT_LIMIT".into()]
    }

    #[test]
    fn default_rules_name_revolvers_and_quote_numbers() {
        let p = profile(vec![seg(1, &[("BALANCE", 2.4), ("PURCHASES", 0.3), ("CREDIT_LIMIT", 1.1)])]);
        let n = name_segments(&p, &Rules::default_rules(), &feats());
        assert_eq!(n[0].name, "Revolvers");
        assert_eq!(n[0].rationale, "BALANCE 2.40× portfolio, PURCHASES 0.30× portfolio");
    }

    #[test]
    fn custom_rules_and_bad_files() {
        let r = Rules::parse(
            "[[rule]]\nname = \"Big\"\nwhen = [\"BALANCE > 2\"]\naction = \"call\"\n",
            "r.toml",
            true,
        )
        .unwrap();
        let p = profile(vec![seg(1, &[("BALANCE", 3.0), ("PURCHASES", 1.0), ("CREDIT_LIMIT", 1.0)])]);
        r.check_metrics(&p).unwrap();
        assert_eq!(name_segments(&p, &r, &feats())[0].name, "Big");
        let e = Rules::parse("[[rule]]\nname = \"x\"\nwhen = [\"BALANCE ~ 2\"]\n", "r.toml", true).unwrap_err();
        assert!(e.to_string().contains("not of the form"), "{e}");
        let e = Rules::parse("[[rule]\nname=", "r.toml", true).unwrap_err();
        assert!(e.to_string().starts_with("r.toml: line 1: invalid naming rules"), "{e}");
        let r = Rules::parse("[[rule]]\nname = \"x\"\nwhen = [\"NOPE >= 2\"]\n", "r.toml", true).unwrap();
        assert!(r.check_metrics(&p).unwrap_err().to_string().contains("unknown metric NOPE"));
    }

    proptest! {
        #[test]
        fn every_profile_gets_a_unique_name(
            k in 1usize..=12,
            ratios in proptest::collection::vec((0.0f64..5.0, 0.0f64..5.0, 0.0f64..5.0), 12),
        ) {
            let segs: Vec<SegmentProfile> = (0..k)
                .map(|i| {
                    let (b, p, c) = ratios[i];
                    seg(i as u32 + 1, &[("BALANCE", b), ("PURCHASES", p), ("CREDIT_LIMIT", c)])
                })
                .collect();
            let p = profile(segs);
            let names = name_segments(&p, &Rules::default_rules(), &feats());
            prop_assert_eq!(names.len(), k);
            let mut uniq: Vec<&String> = names.iter().map(|n| &n.name).collect();
            uniq.sort();
            uniq.dedup();
            prop_assert_eq!(uniq.len(), k);
            prop_assert!(names.iter().all(|n| !n.name.is_empty() && !n.action.is_empty()));
        }
    }
}
