//! Figures of one numeric column per group (sums, counts, medians, spreads), computed a
//! column at a time, and the assembly of those figures into the profile with its derived
//! indicators.

use super::boxes::BoxStats;
use super::indicators::{Derived, DERIVED};
use super::kinds::is_additive;
use super::outcome::index;
use super::segment::{Indicator, Profile, SegmentProfile, Stat};

/// Per-column figures for every group: (sum, count, median) per segment plus portfolio.
/// Computed one column at a time ([`column_figures`]), so a caller can load a column,
/// take its figures and free it before the next ([`assemble`] then builds the profile).
pub struct ColumnFigures {
    /// Sum of the non-missing values per group.
    pub(super) sums: Vec<f64>,
    /// Non-missing values per group.
    pub(super) counts: Vec<u64>,
    /// Median per group (None for an empty group).
    pub(super) medians: Vec<Option<f64>>,
    /// Non-zero values per group.
    pub(super) nonzero: Vec<u64>,
    /// Sum of squared deviations from the group's mean.
    pub(super) m2: Vec<f64>,
    /// Smallest value of the column, for the additivity rule.
    pub(super) min: f64,
    /// Largest value of the column, for the additivity rule.
    pub(super) max: f64,
    /// Box figures per group, when rows were given ([`super::ProfileOptions::box_rows`]).
    pub(super) boxes: Vec<Option<BoxStats>>,
}

impl ColumnFigures {
    /// Figures computed elsewhere (an engine that holds the rows, such as Spark), each
    /// with `k + 1` groups (segments, then the portfolio): sums, counts, medians and
    /// non-zero counts of the non-missing values, sums of squared deviations from each
    /// group's mean, and the column's smallest and largest value.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        sums: Vec<f64>,
        counts: Vec<u64>,
        medians: Vec<Option<f64>>,
        nonzero: Vec<u64>,
        m2: Vec<f64>,
        min: f64,
        max: f64,
        boxes: Vec<Option<BoxStats>>,
    ) -> ColumnFigures {
        ColumnFigures {
            sums,
            counts,
            medians,
            nonzero,
            m2,
            min,
            max,
            boxes,
        }
    }
}

/// Figures of one numeric column per group (segments, then the portfolio). Large columns
/// take two streaming passes and a short third (sums, counts, zero shares, extremes and the
/// medians' first histogram; then the spreads around each mean together with the medians'
/// next radix pass; then the few values left near each median), small ones group and select.
/// Every sum runs in row order, so the figures do not depend on how they are computed.
pub fn column_figures(values: &[f64], labels: &[u32], k: usize) -> ColumnFigures {
    let use_radix = crate::stats::radix_pays(values.len(), k);
    let mut counts = vec![0u64; k + 1];
    let mut sums = vec![0.0f64; k + 1];
    let mut nonzero = vec![0u64; k + 1];
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut total_sum = 0.0f64;
    // First pass: sums and counts per segment and of all, and (for the radix medians) a
    // histogram of the top 16 key bits per segment.
    let mut hist = if use_radix {
        vec![0u32; k * crate::stats::BINS]
    } else {
        Vec::new()
    };
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            counts[l as usize] += 1;
            sums[l as usize] += v;
            total_sum += v;
            if v != 0.0 {
                nonzero[l as usize] += 1;
            }
            min = min.min(v);
            max = max.max(v);
            if use_radix {
                hist[l as usize * crate::stats::BINS + crate::stats::top_bin(v)] += 1;
            }
        }
    }
    let total_count: u64 = counts[..k].iter().sum();
    counts[k] = total_count;
    sums[k] = total_sum;
    nonzero[k] = nonzero[..k].iter().sum();
    let means: Vec<f64> = (0..=k).map(|g| sums[g] / counts[g].max(1) as f64).collect();
    let mut m2 = vec![0.0f64; k + 1];
    // The portfolio's spread in a local of its own: one running sum, not a store and a
    // load per value.
    let (mean_all, mut m2_all) = (means[k], 0.0f64);
    let mut spread = |v: f64, l: u32| {
        let d = v - means[l as usize];
        m2[l as usize] += d * d;
        let d = v - mean_all;
        m2_all += d * d;
    };
    let medians = if use_radix {
        crate::stats::radix_medians_and(values, Some(labels), k, &counts, hist, &mut spread)
    } else {
        for (&v, &l) in values.iter().zip(labels) {
            if !v.is_nan() {
                spread(v, l);
            }
        }
        crate::stats::medians_by_grouping(values, labels, k, &counts)
    };
    m2[k] = m2_all;
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

/// Builds the profile from the figures of the numeric columns `names` (in that order).
pub fn assemble(names: &[&str], figures: &[ColumnFigures], labels: &[u32], k: usize) -> Profile {
    assemble_sized(names, figures, &super::sizes(labels, k))
}

/// [`assemble`] from the customers of each segment (`sizes`, one per segment).
pub fn assemble_sized(names: &[&str], figures: &[ColumnFigures], sizes: &[u64]) -> Profile {
    let column_index = |name: &str| names.iter().position(|n| *n == name);
    let k = sizes.len();
    let n: u64 = sizes.iter().sum();
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
            outcomes: Vec::new(),
        }
    };
    Profile {
        customers: n,
        portfolio: group(k),
        segments: (0..k).map(group).collect(),
    }
}
