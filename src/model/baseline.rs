//! What a model records about its training data for the lifecycle: its place in a chain
//! of retrains ([`Lineage`]), each feature's training distribution for drift checks
//! ([`FeatureDistribution`], see `lifecycle::drift`), and quantiles of the training
//! distances for outlier percentiles (see `lifecycle::outliers`). Kept with the model,
//! below the lifecycle code that reads them, so the model never imports the lifecycle.

use serde::{Deserialize, Serialize};

/// A model's place in a chain of retrains, so a report can say which model it replaced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lineage {
    /// Checksum of the model given with `run --previous` (None for a first model).
    pub previous_checksum: Option<String>,
    /// 1 for a first model, the previous generation + 1 for a retrain (a previous model
    /// written before lineage existed counts as generation 1).
    pub generation: u32,
}

impl Lineage {
    /// Lineage of a model trained without `--previous`.
    pub fn first() -> Self {
        Lineage {
            previous_checksum: None,
            generation: 1,
        }
    }
}

/// One feature's training distribution (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureDistribution {
    /// The feature (column name).
    pub feature: String,
    /// Rows read for training.
    pub rows: u64,
    /// Share of those rows with the value missing.
    pub missing_share: f64,
    /// Smallest non-missing value.
    pub min: f64,
    /// Largest non-missing value.
    pub max: f64,
    /// Upper edges of all bins but the last (ascending, distinct).
    pub edges: Vec<f64>,
    /// Share of the non-missing values in each bin (`edges.len() + 1` of them).
    pub shares: Vec<f64>,
}

/// Bin of `v` given the edges: the number of edges strictly below it.
pub fn bin_of(edges: &[f64], v: f64) -> usize {
    edges.partition_point(|e| *e < v)
}

/// Counts per bin of the non-missing `values`, and the number missing.
pub fn counts(edges: &[f64], values: &[f64]) -> (Vec<u64>, u64) {
    let mut c = vec![0u64; edges.len() + 1];
    let mut missing = 0;
    for &v in values {
        if v.is_nan() {
            missing += 1;
        } else {
            c[bin_of(edges, v)] += 1;
        }
    }
    (c, missing)
}

/// Shares of the counts (0 when there is none).
pub fn shares(counts: &[u64]) -> Vec<f64> {
    let m: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| if m == 0 { 0.0 } else { c as f64 / m as f64 })
        .collect()
}

impl FeatureDistribution {
    /// The distribution of a raw column (NaN = missing); None when every value is missing.
    pub fn of(feature: &str, values: &[f64]) -> Option<FeatureDistribution> {
        let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if present.is_empty() {
            return None;
        }
        // Only the deciles and the extremes are read: selected, not sorted.
        let m = present.len();
        let mut ranks: Vec<usize> = std::iter::once(0)
            .chain((1..10).map(|i| i * (m - 1) / 10))
            .chain(std::iter::once(m - 1))
            .collect();
        ranks.dedup();
        crate::stats::select_ranks(&mut present, &ranks);
        let mut edges: Vec<f64> = (1..10).map(|i| present[i * (m - 1) / 10]).collect();
        edges.dedup();
        let (c, missing) = counts(&edges, values);
        Some(FeatureDistribution {
            feature: feature.to_string(),
            rows: values.len() as u64,
            missing_share: missing as f64 / values.len() as f64,
            min: present[0],
            max: present[m - 1],
            shares: shares(&c),
            edges,
        })
    }
}

/// Quantiles stored per segment (see [`level`]).
pub const QUANTILES: usize = 110;

/// Level of stored quantile `i`, in permille: 0, 10, …, 980, then 990, 991, …, 1000.
pub fn level(i: usize) -> u32 {
    if i < 99 {
        i as u32 * 10
    } else {
        990 + (i as u32 - 99)
    }
}

/// Default `--outlier-percentile`.
pub fn default_percentile() -> f64 {
    crate::defaults::OUTLIER_PERCENTILE
}

/// Quantiles of one segment's training distances (reordered in place: the positions the
/// quantiles read are selected, not sorted); None when empty.
pub fn quantiles(distances: &mut [f64]) -> Option<Vec<f64>> {
    if distances.is_empty() {
        return None;
    }
    let n = distances.len();
    let position = |i: usize| (n - 1) as f64 * f64::from(level(i)) / 1000.0;
    let ranks = crate::stats::quantile_ranks(n, (0..QUANTILES).map(position));
    crate::stats::select_ranks(distances, &ranks);
    Some(
        (0..QUANTILES)
            .map(|i| {
                let pos = position(i);
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(n - 1);
                let frac = pos - lo as f64;
                if frac == 0.0 {
                    distances[lo]
                } else {
                    distances[lo] + (distances[hi] - distances[lo]) * frac
                }
            })
            .collect(),
    )
}

/// Percentile (0 to 100) of `distance` among a segment's training distances, from its
/// stored quantiles (see the module documentation).
pub fn percentile(q: &[f64], distance: f64) -> f64 {
    let last = q.len() - 1;
    if distance >= q[last] {
        return 100.0;
    }
    if distance < q[0] {
        return 0.0;
    }
    let j = q.partition_point(|v| *v <= distance);
    let i = j - 1;
    let (li, lj) = (f64::from(level(i)) / 10.0, f64::from(level(j)) / 10.0);
    li + (distance - q[i]) / (q[j] - q[i]) * (lj - li)
}

/// Quantile levels (percent) stored per segment and feature for drift: the median, the
/// quartiles, and the deciles and percentiles near both tails. Nine numbers keep a model
/// of 20 segments × 20 features under 40 KB more.
pub const SEGMENT_LEVELS: [f64; 9] = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0];

/// One feature's training distribution within one segment (raw non-missing values of the
/// segment's customers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentFeature {
    /// The feature (column name).
    pub feature: String,
    /// Non-missing values the quantiles come from.
    pub values: u64,
    /// Quantiles at [`SEGMENT_LEVELS`] (numpy's default linear interpolation).
    pub quantiles: Vec<f64>,
    /// Share of the values strictly below the median.
    pub below_median: f64,
    /// Share of the values strictly above the median.
    pub above_median: f64,
}

/// One segment's training share and per-feature distribution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentDistribution {
    /// Segment id.
    pub id: u32,
    /// Training customers in the segment.
    pub customers: u64,
    /// Their share of the training customers.
    pub share: f64,
    /// Per feature, in the model's feature order.
    pub features: Vec<SegmentFeature>,
}

/// Linear-interpolated quantile (numpy's default) of sorted values at level `p` percent.
pub fn sorted_quantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let pos = (n - 1) as f64 * p / 100.0;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    if frac == 0.0 {
        sorted[lo]
    } else {
        sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }
}

impl SegmentFeature {
    /// The distribution of one segment's non-missing values (reordered in place: the
    /// positions the quantiles read are selected, not sorted); None when there is none.
    pub fn of(feature: &str, values: &mut [f64]) -> Option<SegmentFeature> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let ranks = crate::stats::quantile_ranks(
            n,
            SEGMENT_LEVELS.iter().map(|&p| (n - 1) as f64 * p / 100.0),
        );
        crate::stats::select_ranks(values, &ranks);
        let quantiles: Vec<f64> = SEGMENT_LEVELS
            .iter()
            .map(|&p| sorted_quantile(values, p))
            .collect();
        let med = quantiles[4];
        let m = values.len() as f64;
        let below = values.iter().filter(|v| **v < med).count() as f64;
        let above = (n - values.iter().filter(|v| **v <= med).count()) as f64;
        Some(SegmentFeature {
            feature: feature.to_string(),
            values: values.len() as u64,
            quantiles,
            below_median: below / m,
            above_median: above / m,
        })
    }

    /// The training median (None when the segment had no value of the feature).
    pub fn median(&self) -> Option<f64> {
        self.quantiles.get(4).copied()
    }

    /// The training interquartile range (0 when unknown).
    pub fn iqr(&self) -> f64 {
        match (self.quantiles.get(3), self.quantiles.get(5)) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns with ties, signed zeros and missing values, of several sizes.
    fn columns() -> Vec<Vec<f64>> {
        let mut rng = crate::rng::Rng::new(8);
        [1usize, 2, 7, 100, 4001]
            .iter()
            .flat_map(|&n| {
                let smooth: Vec<f64> = (0..n).map(|_| rng.normal() * 50.0).collect();
                let ties: Vec<f64> = (0..n)
                    .map(|i| [0.0, -0.0, 3.0, 3.0, f64::NAN, -1.5][(i * 7 + 3) % 6])
                    .collect();
                [smooth, ties]
            })
            .collect()
    }

    /// Selection reads the same positions a full sort would give.
    #[test]
    fn selected_figures_equal_the_sorted_ones() {
        for values in columns() {
            let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f64::total_cmp);
            let m = sorted.len();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            if let Some(d) = FeatureDistribution::of("x", &values) {
                let mut edges: Vec<f64> = (1..10).map(|i| sorted[i * (m - 1) / 10]).collect();
                edges.dedup();
                assert_eq!(bits(&d.edges), bits(&edges));
                assert_eq!(bits(&[d.min, d.max]), bits(&[sorted[0], sorted[m - 1]]));
            } else {
                assert_eq!(m, 0);
            }
            let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            let s = SegmentFeature::of("x", &mut present);
            match s {
                Some(s) => {
                    let q: Vec<f64> = SEGMENT_LEVELS
                        .iter()
                        .map(|&p| sorted_quantile(&sorted, p))
                        .collect();
                    assert_eq!(bits(&s.quantiles), bits(&q));
                    let below = sorted.partition_point(|v| *v < q[4]) as f64 / m as f64;
                    let above = (m - sorted.partition_point(|v| *v <= q[4])) as f64 / m as f64;
                    assert_eq!((s.below_median, s.above_median), (below, above));
                }
                None => assert_eq!(m, 0),
            }
            if m > 0 {
                // The shuffled order the run hands over, not the sorted one.
                let mut shuffled: Vec<f64> =
                    values.iter().copied().filter(|v| !v.is_nan()).collect();
                let q = quantiles(&mut shuffled).unwrap();
                let expected: Vec<f64> = (0..QUANTILES)
                    .map(|i| {
                        let pos = (m - 1) as f64 * f64::from(level(i)) / 1000.0;
                        let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
                        let hi = (lo + 1).min(m - 1);
                        if frac == 0.0 {
                            sorted[lo]
                        } else {
                            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
                        }
                    })
                    .collect();
                assert_eq!(bits(&q), bits(&expected));
            }
        }
    }
}
