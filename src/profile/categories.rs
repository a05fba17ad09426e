//! Categorical columns (text, or integer codes): counts of each value per group, capped,
//! and their mixes attached to the profile.

use super::outcome::index;
use super::segment::{CategoryMix, CategoryShare, Profile};

/// Most distinct values a categorical column keeps; the rest are counted as "other"
/// so memory stays bounded whatever the column holds.
pub const MAX_CATEGORIES: usize = 50;

/// Per-group counts of each value of a categorical column (codes 0..values.len()).
pub struct CategoryFigures {
    /// Value labels, most frequent in the portfolio first; "other" last when capped.
    pub values: Vec<String>,
    /// `counts[g][v]` for groups 0..k (segments) and k (portfolio).
    pub counts: Vec<Vec<u64>>,
}

/// How a value of a numeric code column reads as a category: whole numbers without a
/// decimal point.
pub fn code_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Category figures of a numeric code column; missing cells count as "(missing)".
pub fn numeric_category_figures(values: &[f64], labels: &[u32], k: usize) -> CategoryFigures {
    let distinct = distinct_values(values);
    let mut labels_of: Vec<String> = distinct.iter().map(|v| code_label(*v)).collect();
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

/// The distinct non-missing values, ascending by [`f64::total_cmp`] (0 and -0 are one
/// value, -0 when both occur). A code column has a handful, gathered in one pass; a
/// column named categorical with many is sorted instead.
fn distinct_values(values: &[f64]) -> Vec<f64> {
    const FEW: usize = 2 * super::kinds::MAX_CODE_VALUES;
    let mut distinct: Vec<f64> = Vec::with_capacity(FEW);
    for &v in values {
        if v.is_nan() {
            continue;
        }
        match distinct.iter().position(|d| *d == v) {
            Some(i) => {
                if v.total_cmp(&distinct[i]).is_lt() {
                    distinct[i] = v;
                }
            }
            None if distinct.len() < FEW => distinct.push(v),
            None => {
                let mut all: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
                all.sort_by(f64::total_cmp);
                all.dedup();
                return all;
            }
        }
    }
    distinct.sort_by(f64::total_cmp);
    distinct
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
    category_figures_from_counts(value_labels, raw)
}

/// [`category_figures`] from counts made elsewhere: `raw[g][v]` customers of group `g`
/// (segments, then the portfolio) with value `v`.
pub fn category_figures_from_counts(
    value_labels: &[String],
    raw: Vec<Vec<u64>>,
) -> CategoryFigures {
    let m = value_labels.len();
    let k = raw.len().saturating_sub(1);
    if raw.iter().any(|row| row.len() != m) {
        return CategoryFigures {
            values: Vec::new(),
            counts: vec![Vec::new(); k + 1],
        };
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
                    // Too few customers for a ratio to mean anything: shown as "few".
                    index: if f.counts[g][v] < crate::defaults::MIN_CATEGORY_CUSTOMERS {
                        None
                    } else {
                        index(Some(share(g, v)), Some(share(k, v)))
                    },
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
