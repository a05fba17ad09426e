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

/// Per-column figures for every group: (sum, count, median) per segment plus portfolio.
/// Computed one column at a time ([`column_figures`]), so a caller can load a column,
/// take its figures and free it before the next ([`assemble`] then builds the profile).
pub struct ColumnFigures {
    sums: Vec<f64>,
    counts: Vec<u64>,
    medians: Vec<Option<f64>>,
}

pub fn column_figures(values: &[f64], labels: &[u32], k: usize) -> ColumnFigures {
    let use_radix = crate::median::radix_pays(values.len(), k);
    let mut counts = vec![0u64; k + 1];
    let mut sums = vec![0.0f64; k + 1];
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
    let medians = if use_radix {
        crate::median::radix_medians(values, Some(labels), k, &counts, hist)
    } else {
        crate::median::medians_by_grouping(values, labels, k, &counts)
    };
    ColumnFigures {
        sums,
        counts,
        medians,
    }
}

fn index(seg: Option<f64>, all: Option<f64>) -> Option<f64> {
    match (seg, all) {
        (Some(s), Some(a)) if a != 0.0 => Some(s / a * 100.0),
        _ => None,
    }
}

/// Profiles every loaded numeric column. `labels` are 0-based segment indices.
pub fn profile(table: &Table, labels: &[u32], k: usize) -> Profile {
    let figures: Vec<ColumnFigures> = table
        .columns
        .par_iter()
        .map(|c| column_figures(&c.values, labels, k))
        .collect();
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    assemble(&names, &figures, labels, k)
}

/// Builds the profile from the figures of the columns `names` (in that order).
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
            .map(|(i, name)| Stat {
                column: name.to_string(),
                mean: mean_of(name, g),
                median: figures[i].medians[g],
                index: index(mean_of(name, g), mean_of(name, k)),
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
