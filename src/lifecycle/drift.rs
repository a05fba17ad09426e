//! Drift: does new data still look like the data the model was trained on?
//!
//! The model stores, per feature, the training distribution of the raw values as read
//! (before missing values are filled, so the new data, read the same way, is compared
//! like with like): the share missing, the range, and decile bins. Bin edges are the
//! order statistics at positions ⌊i·(m − 1)/10⌋, i = 1…9, of the m sorted non-missing
//! values, with repeated edges kept once (a feature that is zero for 40 % of customers
//! has fewer bins); bin b holds the values v with `edge[b−1] < v <= edge[b]` (the first
//! bin is everything up to the first edge, the last everything above the last edge), and
//! the stored share is the training customers' exact share in each bin.
//!
//! Per feature, the population stability index over those bins is
//! `PSI = Σ (a − e) · ln(a / e)` with `e` the training share and `a` the new share of the
//! non-missing values, each first raised to at least [`SHARE_FLOOR`] (1e-4) so an empty
//! bin does not make it infinite. Per segment, the same formula over the segments' shares
//! (new customers scored with the model vs the training shares). Bands, as customary:
//! below 0.1 stable, 0.1 to 0.25 watch, above 0.25 retrain.
//!
//! PSI over deciles misses what matters most after a month: a feed that stopped filling a
//! column, a segment that grows, a shift inside one segment. So each check is also a
//! gate ([`Thresholds`], documented defaults) that raises an [`Alert`]:
//! - `missing`: a feature's missing share changed by at least `missing_change` (absolute)
//!   and a two-proportion z-test against the training share is significant;
//! - `range`: at least `outside_range` of the new values lie outside the training range;
//! - `segment_share`: a segment's share changed by at least `share_change` (relative to
//!   its training share) and a two-proportion z-test is significant;
//! - `segment_shift`: within a segment (new customers as the model scores them), a
//!   feature's median moved by at least `shift` relative to the training median (to the
//!   training interquartile range when that median is 0), and a sign test against the
//!   stored training median is significant: the new share above minus the share below
//!   the training median, against the training's (ties allowed);
//! - `psi`: a PSI (a feature's or the segment shares') of at least `psi`.
//!
//! Significance is a two-sided normal p-value below `alpha` divided by the number of tests
//! of that kind (Bonferroni), so a month of identical behaviour raises nothing by chance.
//! A segment with fewer than [`MIN_SEGMENT_CUSTOMERS`] new customers gets no shift verdict.

use std::path::PathBuf;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::error::{Error, Param, Result};
use crate::ingest::{IdSpec, ReadSpec, Source};
pub use crate::model::baseline::{bin_of, FeatureDistribution};
use crate::model::baseline::{counts, shares};
use crate::model::Model;
use crate::output::OutputDir;
use crate::table::Table;

/// Smallest share used in a PSI term (shares below it are raised to it).
pub const SHARE_FLOOR: f64 = 1e-4;
/// PSI from which a distribution is worth watching.
pub const WATCH: f64 = 0.1;
/// PSI above which the model should be retrained.
pub const RETRAIN: f64 = 0.25;
/// Exit status of `cardseg drift` when `--fail-above` is crossed.
pub const EXIT_FAIL_ABOVE: i32 = 3;
/// Fewest new customers a drift verdict rests on: below it, shares over ten bins are
/// noise, so the report gives its figures with a warning and the verdict
/// [`TOO_FEW`] instead of a band, and `--fail-above` is not applied.
pub const MIN_CUSTOMERS: u64 = 100;
/// The verdict of a comparison on fewer than [`MIN_CUSTOMERS`] customers.
pub const TOO_FEW: &str = "too few customers";
/// Fewest new customers (with a value) in a segment for a shift verdict on a feature.
pub const MIN_SEGMENT_CUSTOMERS: u64 = 30;

/// The gates that raise alerts (see the module documentation); each is a `drift` flag.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Thresholds {
    /// A PSI at or above this raises a `psi` alert (`--psi-alert`, default 0.1: watch).
    pub psi: f64,
    /// Absolute change of a feature's missing share (`--missing-change`, default 0.01).
    pub missing_change: f64,
    /// Share of new values outside the training range (`--outside-range`, default 0.01).
    pub outside_range: f64,
    /// Relative change of a segment's share (`--share-change`, default 0.1).
    pub share_change: f64,
    /// Relative shift of a median within a segment (`--shift`, default 0.05).
    pub shift: f64,
    /// Family-wise significance level per kind of test (`--alpha`, default 0.001).
    pub alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: WATCH,
            missing_change: 0.01,
            outside_range: 0.01,
            share_change: 0.1,
            shift: 0.05,
            alpha: 0.001,
        }
    }
}

impl Thresholds {
    /// Refuses a gate that is not a number in its range, naming the flag.
    pub fn check(&self) -> Result<()> {
        use crate::error::Param;
        let d = Thresholds::default();
        let gates = [
            (Param::PsiAlert, self.psi, f64::INFINITY, d.psi),
            (
                Param::MissingChange,
                self.missing_change,
                1.0,
                d.missing_change,
            ),
            (
                Param::OutsideRange,
                self.outside_range,
                1.0,
                d.outside_range,
            ),
            (
                Param::ShareChange,
                self.share_change,
                f64::INFINITY,
                d.share_change,
            ),
            (Param::Shift, self.shift, f64::INFINITY, d.shift),
            (Param::Alpha, self.alpha, 1.0, d.alpha),
        ];
        for (param, v, max, default) in gates {
            if !(v.is_finite() && v >= 0.0 && v <= max) {
                return Err(Error::usage(format!(
                    "{}: give a number from 0 to {max}, e.g. the default {default}",
                    param.with(v)
                )));
            }
        }
        Ok(())
    }
}

/// One crossed gate.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `psi`, `missing`, `range`, `segment_share` or `segment_shift`.
    pub kind: &'static str,
    /// The feature, or None for a check over the segments.
    pub feature: Option<String>,
    /// The segment id, or None for a check over all customers.
    pub segment: Option<u32>,
    /// The segment's name, or None.
    pub name: Option<String>,
    /// The figure at training (PSI: 0).
    pub training: f64,
    /// The figure now.
    pub now: f64,
    /// The change the gate reads (absolute for shares, relative for segment shares and
    /// medians, the PSI itself).
    pub change: f64,
    /// The gate it crossed.
    pub threshold: f64,
    /// Two-sided p-value of the test, for gates with one.
    pub p_value: Option<f64>,
    /// One sentence for people.
    pub message: String,
}

/// One segment × feature comparison of medians.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentShift {
    /// Segment id.
    pub segment: u32,
    /// Segment name.
    pub name: String,
    /// Feature.
    pub feature: String,
    /// New customers in the segment with a value of the feature.
    pub customers_now: u64,
    /// Median at training.
    pub median_training: f64,
    /// Median now (None without customers).
    pub median_now: Option<f64>,
    /// (now − training) / |training median| (or / training interquartile range when the
    /// median is 0); None when neither scale is positive or there is no customer.
    pub relative_shift: Option<f64>,
    /// Two-sided p-value of the sign test against the training median.
    pub p_value: Option<f64>,
    /// `shift`, `no shift` or `too few customers`.
    pub verdict: &'static str,
}

/// Two-sided p-value of a standard normal statistic.
pub fn p_two_sided(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Complementary error function (Numerical Recipes' `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// z of two proportions (`a` of `n` now, `b` of `m` at training), pooled variance.
fn two_proportions(a: f64, n: f64, b: f64, m: f64) -> f64 {
    if n == 0.0 || m == 0.0 {
        return 0.0;
    }
    let p = (a + b) / (n + m);
    let var = p * (1.0 - p) * (1.0 / n + 1.0 / m);
    let d = a / n - b / m;
    if var > 0.0 {
        d / var.sqrt()
    } else if d == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Median (numpy's linear interpolation) of values, reordering them.
fn median_of(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let lo = (n - 1) / 2;
    let (_, m, upper) = v.select_nth_unstable_by(lo, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        return Some(m);
    }
    let next = upper.iter().copied().fold(f64::INFINITY, f64::min);
    Some(m + (next - m) * 0.5)
}

/// PSI of `actual` against `expected` shares, each floored at [`SHARE_FLOOR`].
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(SHARE_FLOOR), a.max(SHARE_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The customary PSI band.
pub fn verdict(psi: f64) -> &'static str {
    if psi < WATCH {
        "stable"
    } else if psi <= RETRAIN {
        "watch"
    } else {
        "retrain"
    }
}

/// One bin of a feature's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BinDrift {
    /// Upper edge (inclusive); None for the last bin.
    pub upper: Option<f64>,
    /// Share of the training customers in the bin.
    pub training_share: f64,
    /// Share of the new customers in the bin.
    pub share_now: f64,
}

/// One feature's drift.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureDrift {
    /// Feature compared.
    pub feature: String,
    /// Population stability index over its bins.
    pub psi: f64,
    /// The PSI's band: stable, watch or retrain.
    pub verdict: &'static str,
    /// Share missing at training.
    pub missing_share_training: f64,
    /// Share missing now.
    pub missing_share_now: f64,
    /// Now minus training: a feed that stopped filling a column shows here first.
    pub missing_share_change: f64,
    /// Two-sided p-value of that change (two-proportion z-test).
    pub missing_p_value: f64,
    /// Share of the new rows whose value lies outside the training [min, max].
    pub outside_range_share: f64,
    /// Per bin shares, to see where the distribution moved.
    pub bins: Vec<BinDrift>,
}

/// One segment's share now and at training.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentDrift {
    /// Segment id.
    pub id: u32,
    /// Segment name.
    pub name: String,
    /// Share of the training customers.
    pub training_share: f64,
    /// Share of the new customers scored with the model.
    pub share_now: f64,
    /// New customers scored into it.
    pub customers_now: u64,
    /// (now − training) / training share.
    pub relative_change: f64,
    /// Two-sided p-value of the change (two-proportion z-test).
    pub p_value: f64,
}

/// What `cardseg drift` reports.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// Checksum of the model compared against.
    pub model_checksum: String,
    /// New input compared.
    pub source: String,
    /// Rows read from it.
    pub rows: u64,
    /// Customers the model could score (all but those with a missing feature under the
    /// drop policy).
    pub scored: u64,
    /// Floor of the shares in every PSI term ([`SHARE_FLOOR`]), stated for reproducing the figures.
    pub share_floor: f64,
    /// Drift per feature.
    pub features: Vec<FeatureDrift>,
    /// Segment shares now against training.
    pub segments: Vec<SegmentDrift>,
    /// PSI over the segment shares.
    pub segment_psi: f64,
    /// Band of the segment PSI.
    pub segment_verdict: &'static str,
    /// The worst verdict of all features and the segment shares.
    pub verdict: &'static str,
    /// `--fail-above`: the PSI above which the command fails (for schedulers).
    pub fail_above: Option<f64>,
    /// Whether any PSI is above `fail_above`.
    pub failed: bool,
    /// Why the verdict is not a band (fewer than [`MIN_CUSTOMERS`] customers); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The gates the alerts were raised against.
    pub thresholds: Thresholds,
    /// Per segment × feature: the median now against training.
    pub segment_shifts: Vec<SegmentShift>,
    /// One per crossed gate (none when the sample is too small for a verdict).
    pub alerts: Vec<Alert>,
    /// Checks this model cannot make (written before they existed): retrain to get them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_retrain: Vec<String>,
}

/// Drift of an in-memory table against the model: the report `cardseg drift` writes,
/// with no file read or written (the table needs the model's feature columns, raw: NaN
/// missing).
pub fn check(
    model: &Model,
    checksum: &str,
    table: &Table,
    fail_above: Option<f64>,
    thresholds: &Thresholds,
    cancel: &Cancel,
) -> Result<DriftReport> {
    let cols = crate::score::feature_columns(model, table)?;
    compare(
        model,
        checksum,
        &table.source,
        cols,
        fail_above,
        thresholds,
        cancel,
    )
}

/// Compares feature columns (`cols[j]` = raw values of `model.features[j]`, NaN
/// missing) with the model's training distribution. Once `cancel` is set the comparison
/// stops at its next stage.
pub fn compare(
    model: &Model,
    checksum: &str,
    source: &str,
    cols: Vec<Vec<f64>>,
    fail_above: Option<f64>,
    th: &Thresholds,
    cancel: &Cancel,
) -> Result<DriftReport> {
    use rayon::prelude::*;
    if model.feature_distributions.len() != model.features.len() {
        return Err(Error::usage(format!(
            "the model {}",
            super::retrain_message("the training distributions drift needs")
        )));
    }
    th.check()?;
    if let Some(t) = fail_above {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::usage(format!(
                "{}: give a PSI of 0 or more, e.g. 0.25",
                Param::FailAbove.with(t)
            )));
        }
    }
    let rows = cols.first().map(Vec::len).unwrap_or(0) as u64;
    let d = model.features.len().max(1) as f64;
    let mut alerts: Vec<Alert> = Vec::new();
    let features: Vec<FeatureDrift> = model
        .feature_distributions
        .par_iter()
        .zip(&cols)
        .map(|(fd, values)| {
            let (c, missing) = counts(&fd.edges, values);
            let now = shares(&c);
            let outside = values
                .iter()
                .filter(|v| **v < fd.min || **v > fd.max)
                .count();
            let missing_now = if rows == 0 {
                0.0
            } else {
                missing as f64 / rows as f64
            };
            let p = psi(&fd.shares, &now);
            let z = two_proportions(
                missing as f64,
                rows as f64,
                (fd.missing_share * fd.rows as f64).round(),
                fd.rows as f64,
            );
            FeatureDrift {
                feature: fd.feature.clone(),
                psi: p,
                verdict: verdict(p),
                missing_share_training: fd.missing_share,
                missing_share_now: missing_now,
                missing_share_change: missing_now - fd.missing_share,
                missing_p_value: p_two_sided(z),
                outside_range_share: if rows == 0 {
                    0.0
                } else {
                    outside as f64 / rows as f64
                },
                bins: fd
                    .shares
                    .iter()
                    .zip(&now)
                    .enumerate()
                    .map(|(b, (&t, &n))| BinDrift {
                        upper: fd.edges.get(b).copied(),
                        training_share: t,
                        share_now: n,
                    })
                    .collect(),
            }
        })
        .collect();
    for f in &features {
        if f.psi >= th.psi {
            alerts.push(Alert {
                kind: "psi",
                feature: Some(f.feature.clone()),
                segment: None,
                name: None,
                training: 0.0,
                now: f.psi,
                change: f.psi,
                threshold: th.psi,
                p_value: None,
                message: format!("{}: PSI {:.4} (gate {})", f.feature, f.psi, th.psi),
            });
        }
        if f.missing_share_change.abs() >= th.missing_change && f.missing_p_value < th.alpha / d {
            alerts.push(Alert {
                kind: "missing",
                feature: Some(f.feature.clone()),
                segment: None,
                name: None,
                training: f.missing_share_training,
                now: f.missing_share_now,
                change: f.missing_share_change,
                threshold: th.missing_change,
                p_value: Some(f.missing_p_value),
                message: format!(
                    "{}: missing {} now against {} at training",
                    f.feature,
                    pct(f.missing_share_now),
                    pct(f.missing_share_training)
                ),
            });
        }
        if f.outside_range_share >= th.outside_range && f.outside_range_share > 0.0 {
            alerts.push(Alert {
                kind: "range",
                feature: Some(f.feature.clone()),
                segment: None,
                name: None,
                training: 0.0,
                now: f.outside_range_share,
                change: f.outside_range_share,
                threshold: th.outside_range,
                p_value: None,
                message: format!(
                    "{}: {} of the new values lie outside the training range",
                    f.feature,
                    pct(f.outside_range_share)
                ),
            });
        }
    }
    cancel.check()?;
    let scores = crate::score::score_columns(model, &model.centers_flat(), cols.clone(), false);
    cancel.check()?;
    let mut seg_counts = vec![0u64; model.k];
    for l in scores.labels.iter().flatten() {
        seg_counts[*l as usize] += 1;
    }
    let scored: u64 = seg_counts.iter().sum();
    let now = shares(&seg_counts);
    let training: Vec<f64> = model.segments.iter().map(|s| s.share).collect();
    let training_total: u64 = model.segments.iter().map(|s| s.customers).sum();
    let segment_psi = psi(&training, &now);
    let k = model.k.max(1) as f64;
    let segments: Vec<SegmentDrift> = model
        .segments
        .iter()
        .zip(&now)
        .zip(&seg_counts)
        .map(|((s, &n), &c)| {
            let z = two_proportions(
                c as f64,
                scored as f64,
                s.customers as f64,
                training_total as f64,
            );
            SegmentDrift {
                id: s.id,
                name: s.name.clone(),
                training_share: s.share,
                share_now: n,
                customers_now: c,
                relative_change: if s.share > 0.0 {
                    (n - s.share) / s.share
                } else {
                    0.0
                },
                p_value: p_two_sided(z),
            }
        })
        .collect();
    for g in &segments {
        if g.relative_change.abs() >= th.share_change && g.p_value < th.alpha / k {
            alerts.push(Alert {
                kind: "segment_share",
                feature: None,
                segment: Some(g.id),
                name: Some(g.name.clone()),
                training: g.training_share,
                now: g.share_now,
                change: g.relative_change,
                threshold: th.share_change,
                p_value: Some(g.p_value),
                message: format!(
                    "segment {} {}: {} of customers now against {} at training",
                    g.id,
                    g.name,
                    pct(g.share_now),
                    pct(g.training_share)
                ),
            });
        }
    }
    if segment_psi >= th.psi {
        alerts.push(Alert {
            kind: "psi",
            feature: None,
            segment: None,
            name: None,
            training: 0.0,
            now: segment_psi,
            change: segment_psi,
            threshold: th.psi,
            p_value: None,
            message: format!("segment shares: PSI {segment_psi:.4} (gate {})", th.psi),
        });
    }
    let mut needs_retrain = Vec::new();
    let segment_shifts = if model.segment_distributions.len() == model.k {
        segment_shifts(model, &cols, &scores.labels)
    } else {
        needs_retrain.push(format!(
            "segment_shift: the model {}",
            super::retrain_message("per-segment quantiles")
        ));
        Vec::new()
    };
    drop(cols);
    cancel.check()?;
    let tests = (segment_shifts.len().max(1)) as f64;
    for sh in &segment_shifts {
        if let (Some(r), Some(p), Some(m)) = (sh.relative_shift, sh.p_value, sh.median_now) {
            if sh.verdict != TOO_FEW && r.abs() >= th.shift && p < th.alpha / tests {
                alerts.push(Alert {
                    kind: "segment_shift",
                    feature: Some(sh.feature.clone()),
                    segment: Some(sh.segment),
                    name: Some(sh.name.clone()),
                    training: sh.median_training,
                    now: m,
                    change: r,
                    threshold: th.shift,
                    p_value: Some(p),
                    message: format!(
                        "segment {} {}: median {} {} now against {} at training ({:+.1}%)",
                        sh.segment,
                        sh.name,
                        sh.feature,
                        crate::text::human(m),
                        crate::text::human(sh.median_training),
                        r * 100.0
                    ),
                });
            }
        }
    }
    let segment_shifts: Vec<SegmentShift> = segment_shifts
        .into_iter()
        .map(|mut sh| {
            if sh.verdict != TOO_FEW {
                let raised = alerts.iter().any(|a| {
                    a.kind == "segment_shift"
                        && a.segment == Some(sh.segment)
                        && a.feature.as_deref() == Some(sh.feature.as_str())
                });
                sh.verdict = if raised { "shift" } else { "no shift" };
            }
            sh
        })
        .collect();
    let worst = features.iter().map(|f| f.psi).fold(segment_psi, f64::max);
    let too_few = rows < MIN_CUSTOMERS;
    let mut features = features;
    if too_few {
        for f in &mut features {
            f.verdict = TOO_FEW;
        }
        alerts.clear();
    }
    let other_alerts = alerts.iter().any(|a| a.kind != "psi");
    let band = |p: f64| if too_few { TOO_FEW } else { verdict(p) };
    let overall = match band(worst) {
        "stable" if other_alerts => "watch",
        v => v,
    };
    Ok(DriftReport {
        model_checksum: checksum.to_string(),
        source: source.to_string(),
        rows,
        scored,
        share_floor: SHARE_FLOOR,
        features,
        segments,
        segment_psi,
        segment_verdict: band(segment_psi),
        verdict: overall,
        fail_above,
        failed: !too_few && fail_above.is_some_and(|t| worst > t || other_alerts),
        warning: too_few.then(|| {
            format!(
                "only {rows} customers in {source}; a drift verdict needs at least {MIN_CUSTOMERS}, so the figures are shown without one and no alert is raised{}",
                if fail_above.is_some() {
                    format!(" and {} is not applied", Param::FailAbove)
                } else {
                    String::new()
                }
            )
        }),
        thresholds: th.clone(),
        segment_shifts,
        alerts,
        needs_retrain,
    })
}

/// Per segment × feature: the new customers' median against the stored training
/// quantiles (verdicts are set by the caller from the alerts).
fn segment_shifts(model: &Model, cols: &[Vec<f64>], labels: &[Option<u32>]) -> Vec<SegmentShift> {
    use rayon::prelude::*;
    let k = model.k;
    let per_feature: Vec<Vec<SegmentShift>> = cols
        .par_iter()
        .enumerate()
        .map(|(j, values)| {
            let mut per: Vec<Vec<f64>> = vec![Vec::new(); k];
            for (v, l) in values.iter().zip(labels) {
                if let (Some(l), false) = (l, v.is_nan()) {
                    per[*l as usize].push(*v);
                }
            }
            per.iter_mut()
                .enumerate()
                .filter_map(|(s, vals)| {
                    let sd = &model.segment_distributions[s];
                    let tf = sd.features.get(j)?;
                    let med = tf.median()?;
                    let n = vals.len() as f64;
                    let above = vals.iter().filter(|v| **v > med).count() as f64;
                    let below = vals.iter().filter(|v| **v < med).count() as f64;
                    let median_now = median_of(vals);
                    let scale = if med != 0.0 { med.abs() } else { tf.iqr() };
                    let relative_shift = median_now
                        .filter(|_| scale > 0.0)
                        .map(|m| (m - med) / scale);
                    // Sign test with ties against the stored training median: D = share
                    // above − share below it, against the training's shares.
                    let (pa, pb) = (tf.above_median, tf.below_median);
                    let var1 = pa + pb - (pa - pb).powi(2);
                    let p_value = (n > 0.0).then(|| {
                        let dd = (above - below) / n - (pa - pb);
                        let var = var1 / n;
                        let z = if var > 0.0 {
                            dd / var.sqrt()
                        } else if dd == 0.0 {
                            0.0
                        } else {
                            f64::INFINITY
                        };
                        p_two_sided(z)
                    });
                    Some(SegmentShift {
                        segment: model.segments[s].id,
                        name: model.segments[s].name.clone(),
                        feature: tf.feature.clone(),
                        customers_now: vals.len() as u64,
                        median_training: med,
                        median_now,
                        relative_shift,
                        p_value,
                        verdict: if (vals.len() as u64) < MIN_SEGMENT_CUSTOMERS {
                            TOO_FEW
                        } else {
                            "no shift"
                        },
                    })
                })
                .collect()
        })
        .collect();
    // Segment-major order: every feature of segment 1, then segment 2, ...
    let mut out = Vec::new();
    for s in 0..k {
        for f in &per_feature {
            if let Some(x) = f.iter().find(|x| x.segment == model.segments[s].id) {
                out.push(x.clone());
            }
        }
    }
    out
}

/// What `cardseg drift` is asked to do.
pub struct DriftJob<'a> {
    /// The model the data is compared against.
    pub model: &'a Model,
    /// Its checksum, named in the report.
    pub checksum: &'a str,
    /// Its path, for messages.
    pub model_path: &'a std::path::Path,
    /// The new data.
    pub source: &'a Source,
    /// CSV delimiter, when not detected.
    pub delimiter: Option<u8>,
    /// Directory for drift.md and drift.json.
    pub out: Option<PathBuf>,
    /// Replace existing report files.
    pub force: bool,
    /// Fail (exit [`EXIT_FAIL_ABOVE`]) when a PSI is above this or any other alert is
    /// raised.
    pub fail_above: Option<f64>,
    /// The alert gates.
    pub thresholds: Thresholds,
    /// Stops the work at its next stage when set (Ctrl-C in Python); nothing is written.
    pub cancel: Cancel,
}

/// `cardseg drift`: reads the new customers' features as training read them, compares
/// them with the model's stored distributions and writes drift.md / drift.json into
/// `out` (atomically) when given.
pub fn drift(job: &DriftJob) -> Result<(DriftReport, String)> {
    let model = job.model;
    if model.feature_distributions.len() != model.features.len() {
        return Err(Error::model(
            job.model_path.display().to_string(),
            super::retrain_message("the training distributions drift needs"),
        ));
    }
    if let Some(t) = job.fail_above {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::usage(format!(
                "{}: give a PSI of 0 or more, e.g. 0.25",
                Param::FailAbove.with(t)
            )));
        }
    }
    job.thresholds.check()?;
    let inputs = crate::output::Inputs::none()
        .path(job.model_path)
        .source(&job.source.input);
    let out = job
        .out
        .as_ref()
        .map(|o| OutputDir::create(o, job.force, &inputs))
        .transpose()?;
    job.source.check()?;
    let spec = ReadSpec {
        id: IdSpec::RowNumber,
        required: model.features.clone(),
        other_numeric: false,
        delimiter: job.delimiter,
    };
    let table: Table = crate::ingest::read(job.source, &spec)?;
    job.cancel.check()?;
    let report = check(
        model,
        job.checksum,
        &table,
        job.fail_above,
        &job.thresholds,
        &job.cancel,
    )?;
    drop(table);
    let md = markdown(&report);
    if let Some(out) = out {
        let path = out.file("drift.md");
        crate::output::write_file(&path, |w| {
            w.write_all(md.as_bytes())
                .map_err(crate::output::werr(&path))
        })?;
        crate::output::write_json(&out.file("drift.json"), &report)?;
        out.mark(
            &crate::output::Provenance::new("drift", Some(job.checksum)).with_rows(report.rows),
        )?;
        out.commit()?;
    }
    Ok((report, md))
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// The report for people.
pub fn markdown(r: &DriftReport) -> String {
    use crate::text::{md_escape, thousands};
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# Drift check: {}\n", r.verdict);
    if let Some(w) = &r.warning {
        let _ = writeln!(s, "**Warning:** {}.\n", md_escape(w));
    }
    let _ = writeln!(
        s,
        "{} customers from {} compared with the model's training data (model `{}`). PSI bands: below {WATCH} stable, {WATCH} to {RETRAIN} watch, above {RETRAIN} retrain; shares below {SHARE_FLOOR} count as {SHARE_FLOOR}.\n",
        thousands(r.rows),
        md_escape(&r.source),
        r.model_checksum
    );
    let _ = writeln!(s, "## Alerts\n");
    let t = &r.thresholds;
    let _ = writeln!(
        s,
        "Gates: PSI at least {}; missing share changed by at least {} (absolute); at least {} of values outside the training range; a segment's share changed by at least {}% of itself; a median within a segment moved by at least {}%; tests significant at {} (Bonferroni per kind).\n",
        t.psi,
        pct(t.missing_change),
        pct(t.outside_range),
        t.share_change * 100.0,
        t.shift * 100.0,
        t.alpha
    );
    if r.alerts.is_empty() {
        let _ = writeln!(s, "No alert.\n");
    } else {
        let _ = writeln!(
            s,
            "| Kind | Feature | Segment | Training | Now | Change | Gate | p-value |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|");
        for a in &r.alerts {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:+.4} | {} | {} |",
                a.kind,
                a.feature.as_deref().map(md_escape).unwrap_or_default(),
                match (a.segment, &a.name) {
                    (Some(id), Some(n)) => format!("{id} {}", md_escape(n)),
                    _ => String::new(),
                },
                crate::text::human(a.training),
                crate::text::human(a.now),
                a.change,
                a.threshold,
                a.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default()
            );
        }
        let _ = writeln!(s);
    }
    for n in &r.needs_retrain {
        let _ = writeln!(s, "**Needs a retrain:** {}.\n", md_escape(n));
    }
    let _ = writeln!(s, "## Features\n");
    let _ = writeln!(
        s,
        "| Feature | PSI | Verdict | Missing at training | Missing now | Outside training range |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|");
    for f in &r.features {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {} | {} | {} | {} |",
            md_escape(&f.feature),
            f.psi,
            f.verdict,
            pct(f.missing_share_training),
            pct(f.missing_share_now),
            pct(f.outside_range_share)
        );
    }
    let _ = writeln!(
        s,
        "\n## Segments (PSI {:.4}: {})\n",
        r.segment_psi, r.segment_verdict
    );
    let _ = writeln!(s, "| Segment | Name | Share at training | Share now |");
    let _ = writeln!(s, "|---:|---|---:|---:|");
    for g in &r.segments {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            g.id,
            md_escape(&g.name),
            pct(g.training_share),
            pct(g.share_now)
        );
    }
    if !r.segment_shifts.is_empty() {
        let _ = writeln!(s, "\n## Medians within segments\n");
        let _ = writeln!(
            s,
            "| Segment | Feature | Customers now | Median at training | Median now | Shift | p-value | Verdict |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---|");
        for x in &r.segment_shifts {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                x.segment,
                md_escape(&x.feature),
                thousands(x.customers_now),
                crate::text::human(x.median_training),
                x.median_now.map(crate::text::human).unwrap_or_default(),
                x.relative_shift
                    .map(|v| format!("{:+.1}%", v * 100.0))
                    .unwrap_or_default(),
                x.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default(),
                x.verdict
            );
        }
    }
    if let Some(t) = r.fail_above {
        let _ = writeln!(
            s,
            "\n{}: {}",
            Param::FailAbove.with(t),
            if r.failed {
                "crossed, or another alert raised (exit status 3)"
            } else {
                "not crossed, and no other alert"
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_psi() {
        let values: Vec<f64> = (0..100)
            .map(|i| (i % 50) as f64)
            .chain([f64::NAN])
            .collect();
        let d = FeatureDistribution::of("x", &values).unwrap();
        assert_eq!(d.rows, 101);
        assert_eq!(d.shares.len(), d.edges.len() + 1);
        assert!((d.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(psi(&d.shares, &d.shares), 0.0);
        assert_eq!(bin_of(&d.edges, d.edges[0]), 0);
        assert_eq!(verdict(0.05), "stable");
        assert_eq!(verdict(0.2), "watch");
        assert_eq!(verdict(0.3), "retrain");
        let zeros = vec![0.0; 10];
        let p = psi(&[0.5, 0.5], &[1.0, 0.0]);
        assert!(p.is_finite() && p > 0.25);
        assert!(FeatureDistribution::of("z", &[f64::NAN]).is_none());
        assert_eq!(
            FeatureDistribution::of("z", &zeros).unwrap().edges,
            vec![0.0]
        );
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn p_values_medians_and_gates() {
        assert_eq!(p_two_sided(0.0), 1.0);
        assert!((p_two_sided(1.959_964) - 0.05).abs() < 1e-6);
        assert!((p_two_sided(-3.290_527) - 0.001).abs() < 1e-6);
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_of(&mut []), None);
        assert!(Thresholds::default().check().is_ok());
        let bad = Thresholds {
            alpha: 2.0,
            ..Thresholds::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("alpha=2"));
        let nan = Thresholds {
            missing_change: f64::NAN,
            ..Thresholds::default()
        };
        assert!(nan.check().is_err());
        assert_eq!(two_proportions(5.0, 10.0, 50.0, 100.0), 0.0);
    }
}
