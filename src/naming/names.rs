//! What naming produces: each segment's name, rationale and action, and the basis the
//! summary reports.

use serde::Serialize;

/// A segment's name and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    /// The segment's name, distinct from every other segment's.
    pub name: String,
    /// Why: the conditions that held, the strongest traits, and the runner-up.
    pub rationale: String,
    /// What to do with the segment, from the rule that named it.
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
    /// No built-in rule applies to these columns (not card data, see
    /// `rules::CARD_COLUMNS`): names from distinguishing features.
    Features,
    /// The built-in archetypes apply but fit no segment: names from distinguishing features.
    NoArchetypeFits,
}

impl Basis {
    /// One sentence for the summary.
    pub fn sentence(self) -> &'static str {
        match self {
            Basis::CreditCard => "Names come from the built-in credit-card archetypes (best fit of the whole profile; see the README, \"Segment names\").",
            Basis::Custom => "Names come from the naming rules given with --naming-rules (best fit of the whole profile).",
            Basis::Features => "No built-in naming rule applies to these columns, so none was used: names state the features that set each segment apart, and actions are left generic.",
            Basis::NoArchetypeFits => "No built-in credit-card archetype fits any segment: names state the features that set each segment apart.",
        }
    }
}

/// Names of every segment, and what named them.
#[derive(Debug, Clone, PartialEq)]
pub struct Namings {
    /// One naming per segment (segment order).
    pub names: Vec<Naming>,
    /// What named them, for the summary.
    pub basis: Basis,
    /// Per segment, why it does not keep the name of the previous segment it continues
    /// (the condition of that name that now fails); None when it keeps it or is new.
    pub renamed_because: Vec<Option<String>>,
}
