//! What a profile holds: per group (each segment, then the portfolio) its size, the
//! statistics of every numeric column, the derived indicators and the category mixes.

use serde::{Deserialize, Serialize};

use super::boxes::BoxStats;
use super::outcome::Outcome;

/// Figures of one numeric column in one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    /// Column name.
    pub column: String,
    /// Mean of the non-missing values (None when there are none).
    pub mean: Option<f64>,
    /// Median of the non-missing values: robust to the heavy tails of amounts.
    pub median: Option<f64>,
    /// Segment mean / portfolio mean × 100 (None when the portfolio mean is 0).
    pub index: Option<f64>,
    /// Population standard deviation, so departures can be read in portfolio spreads.
    #[serde(default)]
    pub std: Option<f64>,
    /// Share of the customers with a value whose value is not zero ("uses cash advance"),
    /// a robust view of heavy-tailed amounts whose median is often 0.
    #[serde(default)]
    pub nonzero_share: Option<f64>,
    /// Whether the column is an additive amount (money, counts), so that "holds X% of
    /// all" is meaningful; rates, scores, ages and tenure are not ([`is_additive`](super::is_additive)).
    #[serde(default)]
    pub additive: bool,
    /// Box-plot figures (quartiles, Tukey whiskers) for the dashboard; see [`BoxStats`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxplot: Option<BoxStats>,
}

/// One value of a categorical column in one group: customers and their share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryShare {
    /// The value, as it reads in the input.
    pub value: String,
    /// Customers of the group with this value.
    pub customers: u64,
    /// Their share of the group.
    pub share: f64,
    /// Share in the group / share in the portfolio × 100.
    pub index: Option<f64>,
}

/// The mix of a categorical column (text, or a low-cardinality integer code) in one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryMix {
    /// Categorical column.
    pub column: String,
    /// Its values, most frequent in the portfolio first.
    pub values: Vec<CategoryShare>,
}

/// A derived indicator's value in one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Indicator {
    /// Key of the indicator (as naming rules name it).
    pub name: String,
    /// What it measures, in words.
    pub label: String,
    /// Its value (None when a denominator is 0).
    pub value: Option<f64>,
    /// Segment value / portfolio value × 100.
    pub index: Option<f64>,
}

/// The profile of one group: a segment, or the whole portfolio.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentProfile {
    /// Segment id (0 for the portfolio).
    pub id: u32,
    /// Customers in the group.
    pub customers: u64,
    /// Their share of all customers.
    pub share: f64,
    /// One per numeric column, in table order.
    pub stats: Vec<Stat>,
    /// The derived indicators whose columns are present.
    pub indicators: Vec<Indicator>,
    /// Categorical columns, as a mix of values (never as means of codes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryMix>,
    /// Outcomes (`--outcome`): rate or mean with a 95% interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<Outcome>,
}

/// Profiles of every segment and of the portfolio they are indexed against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Customers profiled.
    pub customers: u64,
    /// All customers together: the reference of every index.
    pub portfolio: SegmentProfile,
    /// One per segment (segment order).
    pub segments: Vec<SegmentProfile>,
}

impl SegmentProfile {
    /// The figures of a column, if it was profiled as a number.
    pub fn stat(&self, column: &str) -> Option<&Stat> {
        self.stats.iter().find(|s| s.column == column)
    }
    /// An outcome's figures, if it was given.
    pub fn outcome(&self, column: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.column == column)
    }
    /// A derived indicator, if its columns were present.
    pub fn indicator(&self, name: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|s| s.name == name)
    }
    /// Ratio to the portfolio (index / 100) of a column or indicator, for naming rules.
    pub fn ratio(&self, metric: &str) -> Option<f64> {
        self.stat(metric)
            .and_then(|s| s.index)
            .or_else(|| self.indicator(metric).and_then(|i| i.index))
            .map(|i| i / 100.0)
    }
}

impl Profile {
    /// Adds an outcome's figures (`k` segments, then the portfolio) to every group.
    pub fn attach_outcome(&mut self, figures: Vec<Outcome>) {
        let k = self.segments.len();
        for (g, o) in figures.into_iter().enumerate() {
            if g < k {
                self.segments[g].outcomes.push(o);
            } else {
                self.portfolio.outcomes.push(o);
            }
        }
    }
}
