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

/// Everything the dashboard page shows, serialised once into the page as JSON so the
/// page needs no server and no second file.
#[derive(Serialize)]
pub struct PageData<'a> {
    /// cardseg version that wrote the page, shown in its footer for provenance.
    pub version: &'static str,
    /// Plotly version inlined in the page, so a reader knows which charting code drew it.
    pub plotly_version: &'static str,
    /// Input the segments were computed from, named in the page header.
    pub source: &'a str,
    /// Checksum of the model the page describes, to tie the page to its `model.json`.
    pub model_checksum: &'a str,
    /// Header of the id column ("row" when rows are numbered).
    pub id_label: &'a str,
    /// Clustering features, in model order: the scatter's and the tables' columns.
    pub features: &'a [String],
    /// Features on the scatter's axes: the first three (or fewer) of `features`.
    pub axes: Vec<&'a str>,
    /// Customers in the input, so the quality panel can say how many were segmented.
    pub customers_read: u64,
    /// Customers with a segment (the scatter's population before sampling).
    pub customers: u64,
    /// Number of segments.
    pub k: usize,
    /// Mean silhouette of the chosen k, the headline fit figure.
    pub silhouette: f64,
    /// How the silhouette was computed (exact or sampled), so the figure is read rightly.
    pub silhouette_method: String,
    /// Whether and how the scatter is sampled, stated on the page.
    pub sample: SampleInfo,
    /// Per segment: its figures and its plotted customers.
    pub segments: Vec<SegmentData<'a>>,
    /// The k-selection chart (elbow and silhouette sweep).
    pub k_selection: KData<'a>,
    /// The profile tables (columns and derived indicators).
    pub profile: ProfileData<'a>,
    /// The summary's key findings, repeated on the page.
    pub findings: &'a [String],
    /// Data-quality panel: what was dropped, filled or duplicated.
    pub quality: Quality<'a>,
    /// Box plots of every profiled numeric column, per segment.
    pub distributions: Vec<Distribution<'a>>,
    /// Per-customer silhouettes of the chosen k (yellowbrick's SilhouetteVisualizer).
    pub silhouettes: SilhouettePlot,
    /// Principal components of the scaled features (only with more than three features).
    pub pca: Option<Pca>,
    /// Category mix of every categorical column.
    pub categories: Vec<CategoryRow<'a>>,
    /// How strong the structure is (stability and silhouette), in one sentence.
    pub structure: &'a crate::report::summary::Structure,
    /// The fair-lending caution, when a protected-looking column is profiled.
    pub caution: Option<&'a str>,
    /// Outcomes per segment with 95% intervals (`--outcome`), drawn as bars.
    pub outcomes: &'a [crate::report::summary::OutcomeSummary],
    /// Customer flows since the `--previous` run, for the Sankey diagram (absent
    /// otherwise, so the page data of other runs is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<FlowsData<'a>>,
}

/// One column's box plots: the portfolio's, then one per segment.
#[derive(Serialize)]
pub struct Distribution<'a> {
    /// Column the box plots describe.
    pub column: &'a str,
    /// The portfolio's box, drawn first as the reference.
    pub portfolio: Option<&'a crate::profile::BoxStats>,
    /// One box per segment (segment order); None where the segment has no value.
    pub segments: Vec<Option<&'a crate::profile::BoxStats>>,
}
/// One categorical column's mix, as stacked bars: the portfolio's, then each segment's.
#[derive(Serialize)]
pub struct CategoryRow<'a> {
    /// Categorical column shown.
    pub column: &'a str,
    /// Its values, in the profile's order (most frequent first).
    pub values: Vec<&'a str>,
    /// Share of each value in the portfolio.
    pub portfolio: Vec<f64>,
    /// Share of each value per segment (segment order).
    pub segments: Vec<Vec<f64>>,
    /// Per segment and value: too few customers for an index ("few").
    pub few: Vec<Vec<bool>>,
}

/// How the scatter was sampled, so the page can say it shows a sample and of what.
#[derive(Serialize)]
pub struct SampleInfo {
    /// Whether the scatter shows fewer customers than were segmented.
    pub sampled: bool,
    /// Customers plotted.
    pub shown: u64,
    /// Customers segmented.
    pub total: u64,
    /// Size above which the scatter samples ([`SAMPLE_THRESHOLD`]).
    pub threshold: usize,
    /// Floor of plotted customers per segment ([`MIN_PER_SEGMENT`]).
    pub min_per_segment: usize,
    /// Seed of the sample, so the same run plots the same customers.
    pub seed: u64,
}

/// One segment as the page shows it: legend, cards and scatter points.
#[derive(Serialize)]
pub struct SegmentData<'a> {
    /// Stable segment id (kept across `--previous` runs).
    pub id: u32,
    /// The segment's name.
    pub name: &'a str,
    /// Its colour, the same in every chart of the page.
    pub color: String,
    /// Customers in the segment (all of them, not the plotted sample).
    pub customers: u64,
    /// Share of the segmented customers.
    pub share: f64,
    /// Who they are, how many, what to do, in one plain sentence.
    pub plain: &'a str,
    /// Mean Jaccard stability and its verdict (when measured).
    pub stability: Option<&'a crate::cluster::stability::SegmentStability>,
    /// Why it has its name, as the summary says.
    pub rationale: &'a str,
    /// Suggested action for the segment.
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

/// The k-selection chart: the sweep and which rule chose k.
#[derive(Serialize)]
pub struct KData<'a> {
    /// The selection rule used (elbow, silhouette, fixed k...).
    pub rule: String,
    /// The k chosen.
    pub chosen: usize,
    /// The elbow's k, marked on the inertia curve when found.
    pub knee: Option<usize>,
    /// The k of the best silhouette, marked on the silhouette curve.
    pub best_silhouette: Option<usize>,
    /// The summary's sentence on why this k.
    pub reason: &'a str,
    /// One point per k tried.
    pub sweep: Vec<KPoint>,
}

/// One k of the sweep.
#[derive(Serialize)]
pub struct KPoint {
    /// Number of segments tried.
    pub k: usize,
    /// Within-segment sum of squares (the elbow curve).
    pub inertia: f64,
    /// Mean silhouette at this k.
    pub silhouette: f64,
    /// How that silhouette was computed (exact or sampled).
    pub method: String,
    /// Standard error of a sampled silhouette, drawn as an error bar.
    pub std_error: Option<f64>,
}

/// The profile tables of the page.
#[derive(Serialize)]
pub struct ProfileData<'a> {
    /// One row per numeric column.
    pub columns: Vec<ColumnRow<'a>>,
    /// One row per derived indicator.
    pub indicators: Vec<IndicatorRow<'a>>,
}

/// One numeric column across the portfolio and the segments.
#[derive(Serialize)]
pub struct ColumnRow<'a> {
    /// Column name.
    pub name: &'a str,
    /// The portfolio's figures, the reference for the indexes.
    pub portfolio: Cell,
    /// Each segment's figures (segment order).
    pub segments: Vec<Cell>,
}

/// One derived indicator across the portfolio and the segments.
#[derive(Serialize)]
pub struct IndicatorRow<'a> {
    /// Indicator key (as naming rules name it).
    pub name: &'a str,
    /// What it measures, in words, for the table's row header.
    pub label: &'a str,
    /// The portfolio's value, the reference for the indexes.
    pub portfolio: Cell,
    /// Each segment's value (segment order).
    pub segments: Vec<Cell>,
}

/// One profile cell: for an indicator, `mean` is its value and `median` is absent.
#[derive(Serialize)]
pub struct Cell {
    /// Mean of the column (or the indicator's value).
    pub mean: Option<f64>,
    /// Median of the column; heavy-tailed amounts read better by it.
    pub median: Option<f64>,
    /// Against the portfolio, 100 = average; the table colours by it.
    pub index: Option<f64>,
}

/// The data-quality panel: what happened to the input before segmenting.
#[derive(Serialize)]
pub struct Quality<'a> {
    /// Customers in the input.
    pub customers_read: u64,
    /// Customers given a segment.
    pub customers_segmented: u64,
    /// Customers left out (read minus segmented).
    pub dropped: u64,
    /// How missing values were handled (fill or drop).
    pub missing_policy: &'a str,
    /// Per column with missing values: how many and what was done.
    pub missing: Vec<MissingNote<'a>>,
    /// Ids seen more than once, a warning sign about the extract.
    pub duplicate_ids: u64,
    /// The id column's name, None when rows are numbered.
    pub id_column: Option<&'a str>,
}

/// Missing values of one column, for the quality panel.
#[derive(Serialize)]
pub struct MissingNote<'a> {
    /// Column with missing values.
    pub column: &'a str,
    /// How many were missing.
    pub missing: u64,
    /// What was done with them.
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
    /// Gathers the page's data from a segmentation and its summary, sampling the scatter
    /// so the page stays small at any input size.
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
                    plain: s
                        .segments
                        .iter()
                        .find(|l| l.id == seg.id)
                        .map_or("", |l| l.plain.as_str()),
                    stability: s
                        .stability
                        .as_ref()
                        .and_then(|st| st.segments.iter().find(|x| x.id == seg.id)),
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
                    few: r
                        .profile
                        .segments
                        .iter()
                        .map(|p| {
                            p.categories
                                .get(ci)
                                .map(|x| x.values.iter().map(|v| v.index.is_none()).collect())
                                .unwrap_or_default()
                        })
                        .collect(),
                })
                .collect(),
            structure: &s.structure,
            caution: s.caution.as_deref(),
            outcomes: &s.outcomes,
            flows: s
                .changes
                .as_ref()
                .and_then(|c| c.migration.as_ref())
                .map(|mig| flows_data(m, mig)),
        }
    }
}
