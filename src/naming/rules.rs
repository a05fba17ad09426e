//! Naming rules: the TOML file format (`[[rule]]` with `name`, `when`, `unless`, `action`),
//! its loading and validation, and the built-in credit-card archetypes it ships with.

use serde::Deserialize;

use super::metrics::{metric_known, metric_present};
use crate::error::{Error, Result};
use crate::profile::{Profile, DERIVED};

/// The built-in credit-card archetypes, embedded so the binary names segments with no
/// file beside it.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");
/// Naming rules are a short TOML file; anything larger is the wrong path.
const MAX_RULES_BYTES: u64 = 1 << 20;
/// The action of a rule that gives none, and of a segment no archetype fits.
pub(super) const FALLBACK_ACTION: &str =
    "Lifecycle management: monitor behaviour and test offers against a control group";

/// A condition's comparison of a ratio with its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    /// `>=`: at least the threshold.
    Ge,
    /// `<=`: at most the threshold.
    Le,
    /// `>`: above the threshold.
    Gt,
    /// `<`: below the threshold.
    Lt,
}

impl Op {
    /// The operator in words, for rationales people read ("needs at least 1.4").
    pub(super) fn words(self) -> &'static str {
        match self {
            Op::Ge => "at least",
            Op::Le => "at most",
            Op::Gt => "above",
            Op::Lt => "below",
        }
    }
}

/// One `METRIC OP NUMBER` condition of a rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    /// Column, derived indicator, `COLUMN:median` or `COLUMN:nonzero`.
    pub(super) metric: String,
    /// How the ratio is compared.
    pub(super) op: Op,
    /// Threshold on the ratio to the portfolio (1 = portfolio average).
    pub(super) value: f64,
}

/// One archetype: its name, when it applies, and what to do with its customers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    /// Name given to the segments it fits.
    pub(super) name: String,
    /// Conditions that must all hold.
    pub(super) when: Vec<Condition>,
    /// Conditions any one of which rules the archetype out.
    pub(super) unless: Vec<Condition>,
    /// Suggested action for its segments.
    pub(super) action: String,
    /// A metric on which the named segment must be the highest of all segments (the
    /// trait the name promises, e.g. cash reliance for a cash-advance name).
    pub(super) top: Option<String>,
    /// A metric on which the named segment must be the lowest of all segments.
    pub(super) bottom: Option<String>,
}

impl Rule {
    /// The metrics the rule names: conditions, then `top` and `bottom`.
    pub(super) fn metrics(&self) -> impl Iterator<Item = &str> {
        self.when
            .iter()
            .chain(&self.unless)
            .map(|c| c.metric.as_str())
            .chain(self.top.as_deref())
            .chain(self.bottom.as_deref())
    }
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The rules, in file order (ties go to the earlier rule).
    pub(super) rules: Vec<Rule>,
    /// Custom files must only name known metrics; the defaults skip absent columns.
    pub(super) strict: bool,
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
    #[serde(default)]
    top: Option<String>,
    #[serde(default)]
    bottom: Option<String>,
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

/// The columns that mark a table as credit-card data, for the built-in archetypes: the
/// default clustering features.
pub(super) const CARD_COLUMNS: [&str; 3] = crate::defaults::DEFAULT_FEATURES;

impl Rules {
    /// The built-in credit-card archetypes; missing columns are skipped, not refused.
    pub fn default_rules() -> Self {
        Self::parse(DEFAULT_RULES, "built-in default rules", false)
            .expect("default rules are valid")
    }

    /// Reads a `--naming-rules` file (bounded in size, UTF-8) and validates it strictly.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(Error::input(
                shown,
                "is a directory; give the naming rules TOML file",
            ));
        }
        let bytes = crate::readback::read_small(path, MAX_RULES_BYTES, "reading naming rules")?
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

    /// Parses and validates a rules text; `source` names it in errors, and `strict` makes
    /// unknown metrics an error later ([`Rules::check_metrics`]).
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
                top: r.top.map(|m| m.trim().to_string()),
                bottom: r.bottom.map(|m| m.trim().to_string()),
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
            for metric in r.metrics() {
                if !metric_known(profile, metric) {
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
                            metric,
                            cols.join(", "),
                            DERIVED.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the built-in card archetypes speak of this table: it must hold every one
    /// of [`CARD_COLUMNS`], so another domain's table with a shared column name (a
    /// telecom `tenure`) is never given a card name. Custom rules always apply.
    pub(super) fn applies_to(&self, profile: &Profile) -> bool {
        self.strict
            || CARD_COLUMNS
                .iter()
                .all(|c| profile.portfolio.stat(c).is_some())
    }

    /// Whether a rule's every metric exists in this profile (the default rules skip the
    /// others; when none is left the names come from the features).
    pub(super) fn evaluable(&self, r: &Rule, profile: &Profile) -> bool {
        r.metrics().all(|m| metric_present(profile, m))
    }
}
