//! What the dashboard page holds, as one JSON document, and how it is bounded: every
//! figure of the run, plus the scatter's points, which are all customers up to
//! [`SAMPLE_THRESHOLD`] and a seeded stratified sample above it, so the page stays a few
//! megabytes at 10 million customers.

use serde::Serialize;

use super::flows::flows_data;
use super::pca::pca;
use super::silhouettes::silhouette_plot;
use crate::report::summary::Summary;
use crate::segmentation::Segmentation;

pub use super::flows::FlowsData;
pub use super::pca::Pca;
pub use super::sample::{quotas, sample_rows, MIN_PER_SEGMENT, SAMPLE_THRESHOLD};
pub use super::silhouettes::{SilhouettePlot, SILHOUETTE_PLOT_MAX};
pub use super::style::{color, round_sig};

/// Customers listed as typical of each segment (nearest its centre).
pub const TYPICAL: usize = 3;

#[derive(Serialize)]
pub struct PageData<'a> {
    pub version: &'static str,
    pub plotly_version: &'static str,
    pub source: &'a str,
    pub model_checksum: &'a str,
    /// Header of the id column ("row" when rows are numbered).
    pub id_label: &'a str,
    pub features: &'a [String],
    /// Features on the scatter's axes: the first three (or fewer) of `features`.
    pub axes: Vec<&'a str>,
    pub customers_read: u64,
    pub customers: u64,
    pub k: usize,
    pub silhouette: f64,
    pub silhouette_method: String,
    pub sample: SampleInfo,
    pub segments: Vec<SegmentData<'a>>,
    pub k_selection: KData<'a>,
    pub profile: ProfileData<'a>,
    pub findings: &'a [String],
    pub quality: Quality<'a>,
    /// Box plots of every profiled numeric column, per segment.
    pub distributions: Vec<Distribution<'a>>,
    /// Per-customer silhouettes of the chosen k (yellowbrick's SilhouetteVisualizer).
    pub silhouettes: SilhouettePlot,
    /// Principal components of the scaled features (only with more than three features).
    pub pca: Option<Pca>,
    /// Category mix of every categorical column.
    pub categories: Vec<CategoryRow<'a>>,
    /// Customer flows since the `--previous` run, for the Sankey diagram (absent
    /// otherwise, so the page data of other runs is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<FlowsData<'a>>,
}

/// One column's box plots: the portfolio's, then one per segment.
#[derive(Serialize)]
pub struct Distribution<'a> {
    pub column: &'a str,
    pub portfolio: Option<&'a crate::profile::BoxStats>,
    pub segments: Vec<Option<&'a crate::profile::BoxStats>>,
}
#[derive(Serialize)]
pub struct CategoryRow<'a> {
    pub column: &'a str,
    pub values: Vec<&'a str>,
    pub portfolio: Vec<f64>,
    pub segments: Vec<Vec<f64>>,
}

#[derive(Serialize)]
pub struct SampleInfo {
    pub sampled: bool,
    pub shown: u64,
    pub total: u64,
    pub threshold: usize,
    pub min_per_segment: usize,
    pub seed: u64,
}

#[derive(Serialize)]
pub struct SegmentData<'a> {
    pub id: u32,
    pub name: &'a str,
    pub color: String,
    pub customers: u64,
    pub share: f64,
    pub rationale: &'a str,
    pub action: &'a str,
    /// Centre in input units, one value per feature.
    pub centroid: Vec<f64>,
    /// Ids of the customers nearest the centre.
    pub typical: Vec<&'a str>,
    /// Ids of the plotted customers.
    pub ids: Vec<&'a str>,
    /// Plotted values, one array per feature (the page picks three as axes).
    pub values: Vec<Vec<f64>>,
}

#[derive(Serialize)]
pub struct KData<'a> {
    pub rule: String,
    pub chosen: usize,
    pub knee: Option<usize>,
    pub best_silhouette: Option<usize>,
    pub reason: &'a str,
    pub sweep: Vec<KPoint>,
}

#[derive(Serialize)]
pub struct KPoint {
    pub k: usize,
    pub inertia: f64,
    pub silhouette: f64,
    pub method: String,
    pub std_error: Option<f64>,
}

#[derive(Serialize)]
pub struct ProfileData<'a> {
    pub columns: Vec<ColumnRow<'a>>,
    pub indicators: Vec<IndicatorRow<'a>>,
}

#[derive(Serialize)]
pub struct ColumnRow<'a> {
    pub name: &'a str,
    pub portfolio: Cell,
    pub segments: Vec<Cell>,
}

#[derive(Serialize)]
pub struct IndicatorRow<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub portfolio: Cell,
    pub segments: Vec<Cell>,
}

/// One profile cell: for an indicator, `mean` is its value and `median` is absent.
#[derive(Serialize)]
pub struct Cell {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub index: Option<f64>,
}

#[derive(Serialize)]
pub struct Quality<'a> {
    pub customers_read: u64,
    pub customers_segmented: u64,
    pub dropped: u64,
    pub missing_policy: &'a str,
    pub missing: Vec<MissingNote<'a>>,
    pub duplicate_ids: u64,
    pub id_column: Option<&'a str>,
}

#[derive(Serialize)]
pub struct MissingNote<'a> {
    pub column: &'a str,
    pub missing: u64,
    pub handled: &'a str,
}

/// The `TYPICAL` rows nearest each centre (scaled distance; ties by row order).
fn typical_rows(r: &Segmentation) -> Vec<Vec<usize>> {
    let m = &r.model;
    let k = m.k;
    let cols: Vec<Option<&[f64]>> = m
        .features
        .iter()
        .map(|f| r.table.column(f).map(|c| c.values.as_slice()))
        .collect();
    let mut best: Vec<Vec<(f64, usize)>> = vec![Vec::with_capacity(TYPICAL + 1); k];
    for (i, &l) in r.labels.iter().enumerate() {
        let s = l as usize;
        let c = &m.centroids_scaled[s];
        let mut d = 0.0;
        for (j, col) in cols.iter().enumerate() {
            let v = m.scaler.transform_value(j, col.map_or(f64::NAN, |c| c[i]));
            d += (v - c[j]) * (v - c[j]);
        }
        if d.is_nan() {
            continue;
        }
        let b = &mut best[s];
        if b.len() < TYPICAL || d < b[b.len() - 1].0 {
            let pos = b.partition_point(|(bd, _)| *bd <= d);
            b.insert(pos, (d, i));
            b.truncate(TYPICAL);
        }
    }
    best.into_iter()
        .map(|b| b.into_iter().map(|(_, i)| i).collect())
        .collect()
}

fn cell_of(stat: Option<&crate::profile::Stat>) -> Cell {
    Cell {
        mean: stat.and_then(|s| s.mean),
        median: stat.and_then(|s| s.median),
        index: stat.and_then(|s| s.index),
    }
}

impl<'a> PageData<'a> {
    pub fn build(r: &'a Segmentation, s: &'a Summary) -> Self {
        let m = &r.model;
        let k = m.k;
        let axes: Vec<&str> = m.features.iter().take(3).map(String::as_str).collect();
        let rows = sample_rows(&r.labels, k, SAMPLE_THRESHOLD, MIN_PER_SEGMENT, m.seed);
        let axis_cols: Vec<&[f64]> = m
            .features
            .iter()
            .map(|a| r.table.column(a).map_or(&[][..], |c| c.values.as_slice()))
            .collect();
        let typical = typical_rows(r);
        let mut segments: Vec<SegmentData> = m
            .segments
            .iter()
            .enumerate()
            .map(|(s_idx, seg)| {
                let p = &r.profile.segments[s_idx];
                SegmentData {
                    id: seg.id,
                    name: &seg.name,
                    color: color(s_idx),
                    customers: p.customers,
                    share: p.share,
                    rationale: &seg.rationale,
                    action: &seg.action,
                    centroid: m.centroids[s_idx].clone(),
                    typical: typical[s_idx].iter().map(|&i| r.table.ids.get(i)).collect(),
                    ids: Vec::new(),
                    values: vec![Vec::new(); m.features.len()],
                }
            })
            .collect();
        for &i in &rows {
            let seg = &mut segments[r.labels[i] as usize];
            seg.ids.push(r.table.ids.get(i));
            for (vals, col) in seg.values.iter_mut().zip(&axis_cols) {
                vals.push(col.get(i).copied().map_or(f64::NAN, round_sig));
            }
        }
        let stat_rows = r
            .profile
            .portfolio
            .stats
            .iter()
            .map(|st| ColumnRow {
                name: &st.column,
                portfolio: cell_of(Some(st)),
                segments: r
                    .profile
                    .segments
                    .iter()
                    .map(|p| cell_of(p.stat(&st.column)))
                    .collect(),
            })
            .collect();
        let indicator_rows = r
            .profile
            .portfolio
            .indicators
            .iter()
            .map(|ind| {
                let cell = |i: Option<&crate::profile::Indicator>| Cell {
                    mean: i.and_then(|i| i.value),
                    median: None,
                    index: i.and_then(|i| i.index),
                };
                IndicatorRow {
                    name: &ind.name,
                    label: &ind.label,
                    portfolio: cell(Some(ind)),
                    segments: r
                        .profile
                        .segments
                        .iter()
                        .map(|p| cell(p.indicator(&ind.name)))
                        .collect(),
                }
            })
            .collect();
        let ks = &m.k_selection;
        PageData {
            version: env!("CARGO_PKG_VERSION"),
            plotly_version: super::PLOTLY_VERSION,
            source: &s.source,
            model_checksum: &s.model_checksum,
            id_label: m.id_header(),
            features: &m.features,
            axes,
            customers_read: s.customers_read,
            customers: r.labels.len() as u64,
            k,
            silhouette: m.silhouette.value,
            silhouette_method: m.silhouette.method.to_string(),
            sample: SampleInfo {
                sampled: rows.len() < r.labels.len(),
                shown: rows.len() as u64,
                total: r.labels.len() as u64,
                threshold: SAMPLE_THRESHOLD,
                min_per_segment: MIN_PER_SEGMENT,
                seed: m.seed,
            },
            segments,
            k_selection: KData {
                rule: ks.rule.to_string(),
                chosen: ks.chosen,
                knee: ks.knee,
                best_silhouette: ks.best_silhouette,
                reason: &s.k_reason,
                sweep: ks
                    .sweep
                    .iter()
                    .map(|row| KPoint {
                        k: row.k,
                        inertia: row.inertia,
                        silhouette: row.silhouette.value,
                        method: row.silhouette.method.to_string(),
                        std_error: row.silhouette.std_error,
                    })
                    .collect(),
            },
            profile: ProfileData {
                columns: stat_rows,
                indicators: indicator_rows,
            },
            findings: &s.findings,
            quality: Quality {
                customers_read: s.customers_read,
                customers_segmented: s.customers_segmented,
                dropped: s.customers_read.saturating_sub(s.customers_segmented),
                missing_policy: &s.missing_policy,
                missing: s
                    .missing
                    .iter()
                    .map(|l| MissingNote {
                        column: &l.column,
                        missing: l.missing,
                        handled: &l.handled,
                    })
                    .collect(),
                duplicate_ids: s.duplicate_ids,
                id_column: m.id_column.as_deref(),
            },
            distributions: r
                .profile
                .portfolio
                .stats
                .iter()
                .filter(|st| st.boxplot.is_some())
                .map(|st| Distribution {
                    column: &st.column,
                    portfolio: st.boxplot.as_ref(),
                    segments: r
                        .profile
                        .segments
                        .iter()
                        .map(|p| p.stat(&st.column).and_then(|x| x.boxplot.as_ref()))
                        .collect(),
                })
                .collect(),
            silhouettes: silhouette_plot(r),
            pca: (m.features.len() > 3).then(|| pca(r, &rows)),
            categories: r
                .profile
                .portfolio
                .categories
                .iter()
                .enumerate()
                .map(|(ci, c)| CategoryRow {
                    column: &c.column,
                    values: c.values.iter().map(|v| v.value.as_str()).collect(),
                    portfolio: c.values.iter().map(|v| v.share).collect(),
                    segments: r
                        .profile
                        .segments
                        .iter()
                        .map(|p| {
                            p.categories
                                .get(ci)
                                .map(|x| x.values.iter().map(|v| v.share).collect())
                                .unwrap_or_default()
                        })
                        .collect(),
                })
                .collect(),
            flows: s
                .changes
                .as_ref()
                .and_then(|c| c.migration.as_ref())
                .map(|mig| flows_data(m, mig)),
        }
    }
}
