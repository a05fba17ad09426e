//! Business profile of each segment: size, share, mean and median of every numeric
//! column, each mean as an index against the portfolio (100 = average), and the derived
//! indicators a card business reads (utilisation, payment ratio, full-payment rate,
//! cash-advance share, purchase frequency, tenure) when their columns are present.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::table::Table;

/// A derived indicator: a ratio of column sums, or a column mean, with a business name.
#[derive(Debug, Clone, Copy)]
pub enum Derived {
    /// sum(numerator) / sum(denominator), guarded against a zero denominator.
    Ratio(&'static str, &'static str),
    /// The mean of one column.
    Mean(&'static str),
}

/// The derived indicators, by name. Ratios of sums (not means of ratios) so one customer
/// with a tiny limit or balance cannot dominate a segment.
pub const DERIVED: &[(&str, &str, Derived)] = &[
    (
        "utilisation",
        "credit utilisation (balance / credit limit)",
        Derived::Ratio("BALANCE", "CREDIT_LIMIT"),
    ),
    (
        "payment_ratio",
        "payments / balance",
        Derived::Ratio("PAYMENTS", "BALANCE"),
    ),
    (
        "full_payment",
        "share of months paid in full",
        Derived::Mean("PRC_FULL_PAYMENT"),
    ),
    (
        "cash_advance_share",
        "cash advance / (purchases + cash advance)",
        Derived::Ratio("CASH_ADVANCE", "PURCHASES+CASH_ADVANCE"),
    ),
    (
        "purchase_frequency",
        "purchase frequency (0..1)",
        Derived::Mean("PURCHASES_FREQUENCY"),
    ),
    ("tenure", "months of card service", Derived::Mean("TENURE")),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    pub column: String,
    pub mean: Option<f64>,
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
    /// all" is meaningful; rates, scores, ages and tenure are not ([`is_additive`]).
    #[serde(default)]
    pub additive: bool,
    /// Box-plot figures (quartiles, Tukey whiskers) for the dashboard; see [`BoxStats`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxplot: Option<BoxStats>,
}

/// Quartiles and whiskers of one column in one group, computed on every customer up to
/// the dashboard's sampling threshold and on its stratified sample above it (the rows
/// the dashboard plots), so they cost nothing at ten million customers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoxStats {
    /// Customers the figures were computed on.
    pub n: u64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    /// Smallest value at or above q1 − 1.5 IQR (Tukey's whisker).
    pub lower: f64,
    /// Largest value at or below q3 + 1.5 IQR.
    pub upper: f64,
    pub min: f64,
    pub max: f64,
}

/// Box figures of every group (segments 0..k, then the portfolio) of one column, from
/// the rows `rows` only.
pub fn box_stats(
    values: &[f64],
    labels: &[u32],
    k: usize,
    rows: &[usize],
) -> Vec<Option<BoxStats>> {
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); k + 1];
    for &i in rows {
        let v = values[i];
        if !v.is_nan() {
            groups[labels[i] as usize].push(v);
            groups[k].push(v);
        }
    }
    groups
        .into_iter()
        .map(|mut g| {
            if g.is_empty() {
                return None;
            }
            g.sort_unstable_by(f64::total_cmp);
            let q = |p: f64| crate::scale::quantile_sorted(&g, p);
            let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
            let iqr = q3 - q1;
            let (lo, hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
            let lower = g.iter().copied().find(|v| *v >= lo).unwrap_or(q1);
            let upper = g.iter().rev().copied().find(|v| *v <= hi).unwrap_or(q3);
            Some(BoxStats {
                n: g.len() as u64,
                q1,
                median,
                q3,
                lower,
                upper,
                min: g[0],
                max: g[g.len() - 1],
            })
        })
        .collect()
}

/// One value of a categorical column in one group: customers and their share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryShare {
    pub value: String,
    pub customers: u64,
    pub share: f64,
    /// Share in the group / share in the portfolio × 100.
    pub index: Option<f64>,
}

/// The mix of a categorical column (text, or a low-cardinality integer code) in one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryMix {
    pub column: String,
    pub values: Vec<CategoryShare>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Indicator {
    pub name: String,
    pub label: String,
    pub value: Option<f64>,
    /// Segment value / portfolio value × 100.
    pub index: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentProfile {
    pub id: u32,
    pub customers: u64,
    pub share: f64,
    pub stats: Vec<Stat>,
    pub indicators: Vec<Indicator>,
    /// Categorical columns, as a mix of values (never as means of codes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryMix>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub customers: u64,
    pub portfolio: SegmentProfile,
    pub segments: Vec<SegmentProfile>,
}

impl SegmentProfile {
    pub fn stat(&self, column: &str) -> Option<&Stat> {
        self.stats.iter().find(|s| s.column == column)
    }
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

/// Name words that mark a column as a rate, share, frequency, score, age, tenure or other
/// non-additive measure: summing it over customers means nothing.
const NON_ADDITIVE_WORDS: &[&str] = &[
    "freq",
    "frequency",
    "rate",
    "ratio",
    "share",
    "prc",
    "pct",
    "percent",
    "percentage",
    "score",
    "age",
    "tenure",
    "index",
    "year",
    "years",
    "month",
    "months",
    "days",
    "avg",
    "average",
    "mean",
    "median",
    "prob",
    "probability",
    "rank",
    "rating",
    "level",
    "grade",
    "utilisation",
    "utilization",
    "pc",
];

/// Name words that mark an integer column as a quantity, never a category code.
const QUANTITY_WORDS: &[&str] = &[
    "tenure",
    "age",
    "year",
    "years",
    "month",
    "months",
    "days",
    "count",
    "trx",
    "num",
    "number",
    "qty",
    "quantity",
    "score",
    "freq",
    "frequency",
    "size",
    "children",
    "kids",
    "items",
    "visits",
    "orders",
    "transactions",
];

/// Lower-case words of a column name: "Spending Score (1-100)" → spending, score, 1, 100.
fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The documented additivity rule: a column is an additive amount (money, counts) when
/// no word of its name marks a rate, share, frequency, score, age or tenure
/// ([`NON_ADDITIVE_WORDS`]), no value is negative, and not every value lies in 0..1
/// (a fraction). Only such columns get "holds X% of all"; `--additive` overrides.
pub fn is_additive(name: &str, min: f64, max: f64) -> bool {
    let words = name_words(name);
    !words
        .iter()
        .any(|w| NON_ADDITIVE_WORDS.contains(&w.as_str()))
        && min >= 0.0
        && max > 1.0
}

/// Most distinct values a categorical column keeps; the rest are counted as "other"
/// so memory stays bounded whatever the column holds.
pub const MAX_CATEGORIES: usize = 50;
/// Most distinct integer values a column may have to be detected as a code.
pub const MAX_CODE_VALUES: usize = 10;

/// Whether a numeric column looks like a category code (Region 1..3, Channel 1..2):
/// 2 to [`MAX_CODE_VALUES`] distinct integer values between -99 and 99, at least ten
/// customers per value, and a name that is not a quantity (tenure, age, counts...).
/// `--categorical` replaces this detection.
pub fn looks_like_code(name: &str, values: &[f64]) -> bool {
    let words = name_words(name);
    if words.iter().any(|w| QUANTITY_WORDS.contains(&w.as_str())) {
        return false;
    }
    let mut distinct: Vec<f64> = Vec::new();
    for &v in values {
        if v.is_nan() {
            continue;
        }
        if v.fract() != 0.0 || v.abs() > 99.0 {
            return false;
        }
        if !distinct.contains(&v) {
            if distinct.len() == MAX_CODE_VALUES {
                return false;
            }
            distinct.push(v);
        }
    }
    let present = values.iter().filter(|v| !v.is_nan()).count();
    distinct.len() >= 2 && present >= 10 * distinct.len()
}

/// Per-group counts of each value of a categorical column (codes 0..values.len()).
pub struct CategoryFigures {
    /// Value labels, most frequent in the portfolio first; "other" last when capped.
    pub values: Vec<String>,
    /// counts[g][v] for groups 0..k (segments) and k (portfolio).
    pub counts: Vec<Vec<u64>>,
}

/// Category figures of a numeric code column; missing cells count as "(missing)".
pub fn numeric_category_figures(values: &[f64], labels: &[u32], k: usize) -> CategoryFigures {
    let mut distinct: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let text = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            v.to_string()
        }
    };
    let mut labels_of: Vec<String> = distinct.iter().map(|v| text(*v)).collect();
    labels_of.push("(missing)".into());
    let codes: Vec<u32> = values
        .iter()
        .map(|v| {
            if v.is_nan() {
                distinct.len() as u32
            } else {
                distinct.partition_point(|d| d < v) as u32
            }
        })
        .collect();
    category_figures(&labels_of, &codes, labels, k)
}

/// Counts codes per group, orders values by portfolio count (ties by label), caps at
/// [`MAX_CATEGORIES`] (the rest folded into "other") and drops values no customer has.
pub fn category_figures(
    value_labels: &[String],
    codes: &[u32],
    labels: &[u32],
    k: usize,
) -> CategoryFigures {
    let m = value_labels.len();
    let mut raw = vec![vec![0u64; m]; k + 1];
    for (&c, &l) in codes.iter().zip(labels) {
        raw[l as usize][c as usize] += 1;
        raw[k][c as usize] += 1;
    }
    let mut order: Vec<usize> = (0..m).filter(|&v| raw[k][v] > 0).collect();
    order.sort_by(|&a, &b| {
        raw[k][b]
            .cmp(&raw[k][a])
            .then_with(|| value_labels[a].cmp(&value_labels[b]))
    });
    let capped = order.len() > MAX_CATEGORIES;
    let kept = if capped {
        MAX_CATEGORIES - 1
    } else {
        order.len()
    };
    let mut values: Vec<String> = order[..kept]
        .iter()
        .map(|&v| value_labels[v].clone())
        .collect();
    if capped {
        values.push("other".into());
    }
    let counts = raw
        .iter()
        .map(|row| {
            let mut out: Vec<u64> = order[..kept].iter().map(|&v| row[v]).collect();
            if capped {
                out.push(order[kept..].iter().map(|&v| row[v]).sum());
            }
            out
        })
        .collect();
    CategoryFigures { values, counts }
}

impl Profile {
    /// Adds the category mix of a categorical column to every group.
    pub fn attach_categories(&mut self, column: &str, f: &CategoryFigures) {
        let k = self.segments.len();
        let total = |g: usize| f.counts[g].iter().sum::<u64>();
        let share = |g: usize, v: usize| {
            let t = total(g);
            if t == 0 {
                0.0
            } else {
                f.counts[g][v] as f64 / t as f64
            }
        };
        let mix = |g: usize| CategoryMix {
            column: column.to_string(),
            values: f
                .values
                .iter()
                .enumerate()
                .map(|(v, value)| CategoryShare {
                    value: value.clone(),
                    customers: f.counts[g][v],
                    share: share(g, v),
                    index: index(Some(share(g, v)), Some(share(k, v))),
                })
                .collect(),
        };
        self.portfolio.categories.push(mix(k));
        for g in 0..k {
            let m = mix(g);
            self.segments[g].categories.push(m);
        }
    }
}

/// Per-column figures for every group: (sum, count, median) per segment plus portfolio.
/// Computed one column at a time ([`column_figures`]), so a caller can load a column,
/// take its figures and free it before the next ([`assemble`] then builds the profile).
pub struct ColumnFigures {
    sums: Vec<f64>,
    counts: Vec<u64>,
    medians: Vec<Option<f64>>,
    nonzero: Vec<u64>,
    /// Sum of squared deviations from the group's mean.
    m2: Vec<f64>,
    min: f64,
    max: f64,
    /// Box figures per group, when rows were given ([`ProfileOptions::box_rows`]).
    boxes: Vec<Option<BoxStats>>,
}

pub fn column_figures(values: &[f64], labels: &[u32], k: usize) -> ColumnFigures {
    let use_radix = crate::median::radix_pays(values.len(), k);
    let mut counts = vec![0u64; k + 1];
    let mut sums = vec![0.0f64; k + 1];
    let mut nonzero = vec![0u64; k + 1];
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    // First pass: sums and counts per segment, and (for the radix medians) a histogram of
    // the top 16 key bits per segment.
    let mut hist = if use_radix {
        vec![0u32; k * crate::median::BINS]
    } else {
        Vec::new()
    };
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            counts[l as usize] += 1;
            sums[l as usize] += v;
            if v != 0.0 {
                nonzero[l as usize] += 1;
            }
            min = min.min(v);
            max = max.max(v);
            if use_radix {
                hist[l as usize * crate::median::BINS + crate::median::top_bin(v)] += 1;
            }
        }
    }
    let total_count: u64 = counts[..k].iter().sum();
    let total_sum: f64 = {
        let mut s = 0.0;
        for &v in values {
            if !v.is_nan() {
                s += v;
            }
        }
        s
    };
    counts[k] = total_count;
    sums[k] = total_sum;
    nonzero[k] = nonzero[..k].iter().sum();
    let means: Vec<f64> = (0..=k).map(|g| sums[g] / counts[g].max(1) as f64).collect();
    let mut m2 = vec![0.0f64; k + 1];
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            let d = v - means[l as usize];
            m2[l as usize] += d * d;
            let d = v - means[k];
            m2[k] += d * d;
        }
    }
    let medians = if use_radix {
        crate::median::radix_medians(values, Some(labels), k, &counts, hist)
    } else {
        crate::median::medians_by_grouping(values, labels, k, &counts)
    };
    ColumnFigures {
        sums,
        counts,
        medians,
        nonzero,
        m2,
        min,
        max,
        boxes: Vec::new(),
    }
}

fn index(seg: Option<f64>, all: Option<f64>) -> Option<f64> {
    match (seg, all) {
        (Some(s), Some(a)) if a != 0.0 => Some(s / a * 100.0),
        _ => None,
    }
}

/// Profiles every loaded numeric column (codes detected as categories, see
/// [`ProfileOptions`]). `labels` are 0-based segment indices.
pub fn profile(table: &Table, labels: &[u32], k: usize) -> Profile {
    profile_with(table, labels, k, &ProfileOptions::default())
}

/// How columns are read in the profile: which are categories, which are additive.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    /// Clustering features: always profiled as numbers.
    pub features: Vec<String>,
    /// `--categorical`: exactly these columns are categories (None: detect codes).
    pub categorical: Option<Vec<String>>,
    /// `--additive`: exactly these columns are additive amounts (None: [`is_additive`]).
    pub additive: Option<Vec<String>>,
    /// Rows box plots are computed on (the dashboard's sample; empty: no box plots).
    pub box_rows: Vec<usize>,
}

impl ProfileOptions {
    /// Whether a numeric column is profiled as a category mix.
    pub fn is_categorical(&self, name: &str, values: &[f64]) -> bool {
        if self.features.iter().any(|f| f == name) {
            return false;
        }
        match &self.categorical {
            Some(list) => list.iter().any(|c| c == name),
            None => looks_like_code(name, values),
        }
    }
}

/// Figures of one column: numeric, or a category mix.
pub enum Figures {
    Numeric(ColumnFigures),
    Category(CategoryFigures),
}

/// The figures of one numeric column, as the options read it.
pub fn figures_of(
    name: &str,
    values: &[f64],
    labels: &[u32],
    k: usize,
    opts: &ProfileOptions,
) -> Figures {
    if opts.is_categorical(name, values) {
        Figures::Category(numeric_category_figures(values, labels, k))
    } else {
        let mut f = column_figures(values, labels, k);
        if !opts.box_rows.is_empty() {
            f.boxes = box_stats(values, labels, k, &opts.box_rows);
        }
        Figures::Numeric(f)
    }
}

/// [`profile`] with options.
pub fn profile_with(table: &Table, labels: &[u32], k: usize, opts: &ProfileOptions) -> Profile {
    let figures: Vec<Figures> = table
        .columns
        .par_iter()
        .map(|c| figures_of(&c.name, &c.values, labels, k, opts))
        .collect();
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    assemble_all(&names, figures, labels, k, opts)
}

/// Builds the profile from the figures of the columns `names` (in that order), numeric
/// and categorical.
pub fn assemble_all(
    names: &[&str],
    figures: Vec<Figures>,
    labels: &[u32],
    k: usize,
    opts: &ProfileOptions,
) -> Profile {
    let mut numeric_names = Vec::new();
    let mut numeric = Vec::new();
    let mut cats = Vec::new();
    for (name, f) in names.iter().zip(figures) {
        match f {
            Figures::Numeric(f) => {
                numeric_names.push(*name);
                numeric.push(f);
            }
            Figures::Category(c) => cats.push((*name, c)),
        }
    }
    let mut p = assemble(&numeric_names, &numeric, labels, k);
    if let Some(list) = &opts.additive {
        for g in std::iter::once(&mut p.portfolio).chain(p.segments.iter_mut()) {
            for s in &mut g.stats {
                s.additive = list.contains(&s.column);
            }
        }
    }
    for (name, c) in cats {
        p.attach_categories(name, &c);
    }
    p
}

/// Builds the profile from the figures of the numeric columns `names` (in that order).
pub fn assemble(names: &[&str], figures: &[ColumnFigures], labels: &[u32], k: usize) -> Profile {
    let column_index = |name: &str| names.iter().position(|n| *n == name);
    let n = labels.len() as u64;
    let mut sizes = vec![0u64; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    let sum_of = |name: &str, g: usize| -> Option<f64> {
        let mut total = 0.0;
        for part in name.split('+') {
            let i = column_index(part)?;
            total += figures[i].sums[g];
        }
        Some(total)
    };
    let mean_of = |name: &str, g: usize| -> Option<f64> {
        let i = column_index(name)?;
        let f = &figures[i];
        (f.counts[g] > 0).then(|| f.sums[g] / f.counts[g] as f64)
    };
    let derived_value = |d: Derived, g: usize| -> Option<f64> {
        match d {
            Derived::Mean(c) => mean_of(c, g),
            Derived::Ratio(a, b) => {
                let (num, den) = (sum_of(a, g)?, sum_of(b, g)?);
                (den != 0.0).then(|| num / den)
            }
        }
    };
    let available = |d: Derived| match d {
        Derived::Mean(c) => column_index(c).is_some(),
        Derived::Ratio(a, b) => a
            .split('+')
            .chain(b.split('+'))
            .all(|c| column_index(c).is_some()),
    };
    let group = |g: usize| -> SegmentProfile {
        let customers = if g == k { n } else { sizes[g] };
        let stats = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let f = &figures[i];
                let has = f.counts[g] > 0;
                Stat {
                    column: name.to_string(),
                    mean: mean_of(name, g),
                    median: f.medians[g],
                    index: index(mean_of(name, g), mean_of(name, k)),
                    std: has.then(|| (f.m2[g] / f.counts[g] as f64).sqrt()),
                    nonzero_share: has.then(|| f.nonzero[g] as f64 / f.counts[g] as f64),
                    additive: is_additive(name, f.min, f.max),
                    boxplot: f.boxes.get(g).cloned().flatten(),
                }
            })
            .collect();
        let indicators = DERIVED
            .iter()
            .filter(|(_, _, d)| available(*d))
            .map(|(name, label, d)| Indicator {
                name: name.to_string(),
                label: label.to_string(),
                value: derived_value(*d, g),
                index: index(derived_value(*d, g), derived_value(*d, k)),
            })
            .collect();
        SegmentProfile {
            id: if g == k { 0 } else { g as u32 + 1 },
            customers,
            share: if n == 0 {
                0.0
            } else {
                customers as f64 / n as f64
            },
            stats,
            indicators,
            categories: Vec::new(),
        }
    };
    Profile {
        customers: n,
        portfolio: group(k),
        segments: (0..k).map(group).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The radix medians are the medians of grouping and selecting, bit for bit, on
    /// columns built to reach every level: heavy ties, one repeated value, values apart
    /// only in their last bits, signed zeros, negatives, missing values, empty segments.
    #[test]
    fn radix_medians_equal_grouped_medians() {
        let mut rng = crate::rng::Rng::new(7);
        let n = 150_000;
        let columns: Vec<(&str, Vec<f64>)> = vec![
            ("uniform", (0..n).map(|_| rng.uniform() * 1e4).collect()),
            (
                "ties",
                (0..n).map(|_| (rng.uniform() * 5.0).floor()).collect(),
            ),
            ("constant", vec![12.0; n]),
            (
                "last bits",
                (0..n)
                    .map(|_| f64::from_bits(1.0f64.to_bits() + (rng.uniform() * 3e5) as u64))
                    .collect(),
            ),
            (
                "signed",
                (0..n)
                    .map(|i| match i % 5 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => f64::NAN,
                        3 => -rng.uniform(),
                        _ => rng.uniform() * 1e-300,
                    })
                    .collect(),
            ),
            (
                "mostly missing",
                (0..n)
                    .map(|i| if i % 1000 == 3 { i as f64 } else { f64::NAN })
                    .collect(),
            ),
        ];
        for k in [1usize, 2, 5, 9] {
            // Segment k-1 stays empty when k > 2.
            let labels: Vec<u32> = (0..n)
                .map(|_| (rng.uniform() * (k.max(3) - 1) as f64) as u32 % k as u32)
                .collect();
            for (name, values) in &columns {
                let f = column_figures(values, &labels, k);
                let mut counts = vec![0u64; k + 1];
                for (&v, &l) in values.iter().zip(&labels) {
                    if !v.is_nan() {
                        counts[l as usize] += 1;
                        counts[k] += 1;
                    }
                }
                let reference = crate::median::medians_by_grouping(values, &labels, k, &counts);
                let bits =
                    |m: &[Option<f64>]| m.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>();
                assert_eq!(bits(&f.medians), bits(&reference), "{name}, k = {k}");
                assert_eq!(f.counts, counts, "{name}, k = {k}");
            }
        }
    }

    #[test]
    fn means_medians_indexes_and_ratios() {
        let t = crate::ingest::csv::read_bytes(
            b"CUST_ID,BALANCE,CREDIT_LIMIT\na,100,1000\nb,300,1000\nc,1000,2000\nd,,2000\n",
            "t.csv",
            &crate::ingest::ReadSpec {
                id: crate::ingest::IdSpec::default_column(),
                required: vec![],
                other_numeric: true,
                delimiter: None,
            },
        )
        .unwrap();
        let p = profile(&t, &[0, 0, 1, 1], 2);
        let s0 = &p.segments[0];
        assert_eq!(s0.customers, 2);
        assert_eq!(s0.stat("BALANCE").unwrap().mean, Some(200.0));
        assert_eq!(s0.stat("BALANCE").unwrap().median, Some(200.0));
        // Portfolio mean balance = 1400 / 3; segment 0 index = 200 / (1400/3) * 100.
        let idx = s0.stat("BALANCE").unwrap().index.unwrap();
        assert!((idx - 200.0 / (1400.0 / 3.0) * 100.0).abs() < 1e-9);
        // Utilisation = sum balance / sum limit (missing balance counts as absent).
        assert_eq!(
            s0.indicator("utilisation").unwrap().value,
            Some(400.0 / 2000.0)
        );
        assert!(s0.indicator("tenure").is_none());
        assert_eq!(p.portfolio.customers, 4);
        assert!((p.segments.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
