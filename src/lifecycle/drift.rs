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

use std::path::PathBuf;

use serde::Serialize;

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
}

/// Compares feature columns (`cols[j]` = raw values of `model.features[j]`, NaN
/// missing) with the model's training distribution.
pub fn compare(
    model: &Model,
    checksum: &str,
    source: &str,
    cols: Vec<Vec<f64>>,
    fail_above: Option<f64>,
) -> Result<DriftReport> {
    if model.feature_distributions.len() != model.features.len() {
        return Err(Error::usage(format!(
            "the model {}",
            super::retrain_message("the training distributions drift needs")
        )));
    }
    let rows = cols.first().map(Vec::len).unwrap_or(0) as u64;
    let features: Vec<FeatureDrift> = model
        .feature_distributions
        .iter()
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
            FeatureDrift {
                feature: fd.feature.clone(),
                psi: p,
                verdict: verdict(p),
                missing_share_training: fd.missing_share,
                missing_share_now: missing_now,
                missing_share_change: missing_now - fd.missing_share,
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
    let scores = crate::score::score_columns(model, &model.centers_flat(), cols, false);
    let mut seg_counts = vec![0u64; model.k];
    for l in scores.labels.iter().flatten() {
        seg_counts[*l as usize] += 1;
    }
    let scored: u64 = seg_counts.iter().sum();
    let now = shares(&seg_counts);
    let training: Vec<f64> = model.segments.iter().map(|s| s.share).collect();
    let segment_psi = psi(&training, &now);
    let segments = model
        .segments
        .iter()
        .zip(&now)
        .map(|(s, &n)| SegmentDrift {
            id: s.id,
            name: s.name.clone(),
            training_share: s.share,
            share_now: n,
        })
        .collect();
    let worst = features.iter().map(|f| f.psi).fold(segment_psi, f64::max);
    let too_few = rows < MIN_CUSTOMERS;
    let mut features = features;
    if too_few {
        for f in &mut features {
            f.verdict = TOO_FEW;
        }
    }
    let band = |p: f64| if too_few { TOO_FEW } else { verdict(p) };
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
        verdict: band(worst),
        fail_above,
        failed: !too_few && fail_above.is_some_and(|t| worst > t),
        warning: too_few.then(|| {
            format!(
                "only {rows} customers in {source}; a drift verdict needs at least {MIN_CUSTOMERS}, so the PSI figures are shown without one{}",
                if fail_above.is_some() {
                    format!(" and {} is not applied", Param::FailAbove)
                } else {
                    String::new()
                }
            )
        }),
    })
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
    /// Fail (exit [`EXIT_FAIL_ABOVE`]) when a PSI is above this.
    pub fail_above: Option<f64>,
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
    let cols = crate::score::feature_columns(model, &table)?;
    let report = compare(model, job.checksum, &table.source, cols, job.fail_above)?;
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
    if let Some(t) = r.fail_above {
        let _ = writeln!(
            s,
            "\n{}: {}",
            Param::FailAbove.with(t),
            if r.failed {
                "crossed (exit status 3)"
            } else {
                "not crossed"
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
