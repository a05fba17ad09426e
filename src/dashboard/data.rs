//! What the dashboard page holds, as one JSON document, and how it is bounded: every
//! figure of the run, plus the scatter's points, which are all customers up to
//! [`SAMPLE_THRESHOLD`] and a seeded stratified sample above it, so the page stays a few
//! megabytes at 10 million customers.

use serde::Serialize;

use crate::report::summary::Summary;
use crate::rng::Rng;
use crate::segmentation::Segmentation;

/// Above this many customers the scatter shows a sample (WebGL stays fluid and the page
/// small; more points would only overplot).
pub const SAMPLE_THRESHOLD: usize = 50_000;
/// Every segment keeps at least this many points (or all of its customers), so a small
/// segment stays visible in the sample.
pub const MIN_PER_SEGMENT: usize = 25;
/// Customers listed as typical of each segment (nearest its centre).
pub const TYPICAL: usize = 3;
/// Significant digits of plotted values: more than the plot or the hover shows.
const POINT_DIGITS: usize = 6;
/// Sub-stream of the seed used for sampling, so it never overlaps K-Means' streams.
const SAMPLE_STREAM: u64 = 0xDA5B_0A8D;
/// Customers in the per-customer silhouette plot: all up to this many, a stratified
/// sample above (silhouettes computed within the sample, as scikit-learn's
/// `silhouette_samples` on it).
pub const SILHOUETTE_PLOT_MAX: usize = 2_000;

/// Tableau 10: distinct, colour-blind-aware, and familiar from BI tools.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Colour of segment index `s` (0-based): the palette, then golden-angle hues.
pub fn color(s: usize) -> String {
    match PALETTE.get(s) {
        Some(c) => c.to_string(),
        None => {
            let hue = (s as f64 * 137.508) % 360.0;
            format!(
                "hsl({hue:.0},55%,{}%)",
                if s.is_multiple_of(2) { 45 } else { 60 }
            )
        }
    }
}

/// Rounds to `POINT_DIGITS` significant digits so numbers print short.
pub fn round_sig(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{v:.*e}", POINT_DIGITS - 1).parse().unwrap_or(v)
}

/// Rows the scatter shows, ascending. All rows up to `threshold`; above it, a stratified
/// sample of about `threshold` rows: each segment gets its proportional share (largest
/// remainders settle the rounding) but at least `min_per_segment` rows, drawn by
/// selection sampling (Knuth's algorithm S) with a stream per segment derived from
/// `seed`, so the sample depends only on the labels and the seed.
pub fn sample_rows(
    labels: &[u32],
    k: usize,
    threshold: usize,
    min_per_segment: usize,
    seed: u64,
) -> Vec<usize> {
    let n = labels.len();
    if n <= threshold {
        return (0..n).collect();
    }
    let mut sizes = vec![0u64; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    let quotas = quotas(&sizes, threshold as u64, min_per_segment as u64);
    let mut rngs: Vec<Rng> = (0..k)
        .map(|s| Rng::derive(seed, &[SAMPLE_STREAM, s as u64]))
        .collect();
    let mut remaining = sizes.clone();
    let mut needed = quotas;
    let mut out = Vec::with_capacity(needed.iter().sum::<u64>() as usize);
    for (i, &l) in labels.iter().enumerate() {
        let s = l as usize;
        if needed[s] > 0 && rngs[s].below(remaining[s]) < needed[s] {
            out.push(i);
            needed[s] -= 1;
        }
        remaining[s] -= 1;
    }
    out
}

/// Per-segment sample sizes: proportional shares of `total` by largest remainder, raised
/// to `min(size, min_per_segment)`.
pub fn quotas(sizes: &[u64], total: u64, min_per_segment: u64) -> Vec<u64> {
    let n: u64 = sizes.iter().sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let total = total.min(n);
    let mut q: Vec<u64> = sizes
        .iter()
        .map(|&s| (total as u128 * s as u128 / n as u128) as u64)
        .collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    let rem = |s: usize| (total as u128 * sizes[s] as u128 % n as u128) as u64;
    order.sort_by(|&a, &b| rem(b).cmp(&rem(a)).then(a.cmp(&b)));
    let short = total - q.iter().sum::<u64>();
    for &s in order.iter().take(short as usize) {
        q[s] += 1;
    }
    for (qs, &size) in q.iter_mut().zip(sizes) {
        *qs = (*qs).max(size.min(min_per_segment)).min(size);
    }
    q
}

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
pub struct SilhouettePlot {
    pub sampled: bool,
    pub shown: u64,
    pub total: u64,
    /// Mean of the plotted silhouettes (the red line).
    pub mean: f64,
    /// Per segment, its customers' silhouettes, highest first.
    pub values: Vec<Vec<f64>>,
}

#[derive(Serialize)]
pub struct Pca {
    /// Share of the scaled features' variance each component explains.
    pub explained: Vec<f64>,
    /// Loadings: components × features.
    pub loadings: Vec<Vec<f64>>,
    /// Per segment, the plotted customers' coordinates: one array per component.
    pub values: Vec<Vec<Vec<f64>>>,
}

#[derive(Serialize)]
pub struct CategoryRow<'a> {
    pub column: &'a str,
    pub values: Vec<&'a str>,
    pub portfolio: Vec<f64>,
    pub segments: Vec<Vec<f64>>,
}

/// The Sankey diagram's data: earlier segments on the left, this run's on the right.
#[derive(Serialize)]
pub struct FlowsData<'a> {
    /// Earlier segments: (id, name, customers compared).
    pub before: Vec<(u32, &'a str, u64)>,
    /// This run's segments: (id, name, customers compared, colour).
    pub after: Vec<(u32, &'a str, u64, String)>,
    /// (from id, to id, customers).
    pub links: Vec<(u32, u32, u64)>,
    pub new_customers: u64,
    pub gone_customers: u64,
}

fn flows_data<'a>(
    m: &crate::model::Model,
    mig: &'a crate::lifecycle::migration::Migration,
) -> FlowsData<'a> {
    let mut before: Vec<(u32, &str, u64)> = Vec::new();
    let mut after: Vec<(u32, &str, u64, String)> = Vec::new();
    for f in &mig.flows {
        match before.iter_mut().find(|b| b.0 == f.from_segment) {
            Some(b) => b.2 += f.customers,
            None => before.push((f.from_segment, &f.from_name, f.customers)),
        }
        match after.iter_mut().find(|a| a.0 == f.to_segment) {
            Some(a) => a.2 += f.customers,
            None => {
                let c = m
                    .index_of_id(f.to_segment)
                    .map_or("#999999".to_string(), color);
                after.push((f.to_segment, &f.to_name, f.customers, c))
            }
        }
    }
    after.sort_by_key(|a| m.index_of_id(a.0));
    FlowsData {
        before,
        after,
        links: mig
            .flows
            .iter()
            .map(|f| (f.from_segment, f.to_segment, f.customers))
            .collect(),
        new_customers: mig.new_customers,
        gone_customers: mig.gone_customers,
    }
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

/// The scaled features of the given rows, row-major.
fn scaled_rows(r: &Segmentation, rows: &[usize]) -> Vec<f64> {
    let m = &r.model;
    let cols: Vec<Option<&[f64]>> = m
        .features
        .iter()
        .map(|f| r.table.column(f).map(|c| c.values.as_slice()))
        .collect();
    let mut x = Vec::with_capacity(rows.len() * cols.len());
    for &i in rows {
        for (j, c) in cols.iter().enumerate() {
            x.push(m.scaler.transform_value(j, c.map_or(f64::NAN, |c| c[i])));
        }
    }
    x
}

/// Per-customer silhouettes (scikit-learn's `silhouette_samples`: Euclidean distances,
/// 0 for a customer alone in its segment) of a stratified sample of at most
/// [`SILHOUETTE_PLOT_MAX`] customers, computed within the sample.
fn silhouette_plot(r: &Segmentation) -> SilhouettePlot {
    let k = r.model.k;
    let d = r.model.features.len();
    let rows = sample_rows(&r.labels, k, SILHOUETTE_PLOT_MAX, 10, r.model.seed ^ 0x5111);
    let x = scaled_rows(r, &rows);
    let lab: Vec<usize> = rows.iter().map(|&i| r.labels[i] as usize).collect();
    let n = rows.len();
    let mut counts = vec![0usize; k];
    for &l in &lab {
        counts[l] += 1;
    }
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut sums = vec![0.0f64; k];
    let mut total = 0.0;
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..n {
            if i != j {
                let xj = &x[j * d..(j + 1) * d];
                let dist: f64 = xi
                    .iter()
                    .zip(xj)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                sums[lab[j]] += dist;
            }
        }
        let own = lab[i];
        let s = if counts[own] <= 1 {
            0.0
        } else {
            let a = sums[own] / (counts[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && counts[c] > 0)
                .map(|c| sums[c] / counts[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if b.is_finite() && a.max(b) > 0.0 {
                (b - a) / a.max(b)
            } else {
                0.0
            }
        };
        total += s;
        values[own].push(round_sig(s));
    }
    for v in &mut values {
        v.sort_by(|a, b| b.total_cmp(a));
    }
    SilhouettePlot {
        sampled: n < r.labels.len(),
        shown: n as u64,
        total: r.labels.len() as u64,
        mean: if n == 0 { 0.0 } else { total / n as f64 },
        values,
    }
}

/// Principal components of the scaled features, fitted on the plotted rows (every
/// customer up to the sampling threshold), by Jacobi rotations of the covariance
/// matrix; each component's sign is fixed so its largest loading is positive.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas do
fn pca(r: &Segmentation, rows: &[usize]) -> Pca {
    let d = r.model.features.len();
    let k = r.model.k;
    let x = scaled_rows(r, rows);
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut cov = vec![vec![0.0; d]; d];
    for row in x.chunks_exact(d) {
        for a in 0..d {
            for b in a..d {
                cov[a][b] += (row[a] - mean[a]) * (row[b] - mean[b]) / n;
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a][b] = cov[b][a];
        }
    }
    let (vals, vecs) = jacobi_eigen(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]).then(a.cmp(&b)));
    let total: f64 = vals.iter().map(|v| v.max(0.0)).sum();
    let comps = d.min(3);
    let loadings: Vec<Vec<f64>> = order[..comps]
        .iter()
        .map(|&c| {
            let v: Vec<f64> = (0..d).map(|i| vecs[i][c]).collect();
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |b, x| if x.abs() > b.abs() { x } else { b });
            v.iter().map(|x| if big < 0.0 { -x } else { *x }).collect()
        })
        .collect();
    let mut values = vec![vec![Vec::new(); comps]; k];
    for (ri, &i) in rows.iter().enumerate() {
        let row = &x[ri * d..(ri + 1) * d];
        let s = r.labels[i] as usize;
        for (c, l) in loadings.iter().enumerate() {
            let p: f64 = row
                .iter()
                .zip(&mean)
                .zip(l)
                .map(|((v, m), w)| (v - m) * w)
                .sum();
            values[s][c].push(round_sig(p));
        }
    }
    Pca {
        explained: order[..comps]
            .iter()
            .map(|&c| {
                if total > 0.0 {
                    vals[c].max(0.0) / total
                } else {
                    0.0
                }
            })
            .collect(),
        loadings,
        values,
    }
}

/// Eigenvalues and eigenvectors (columns) of a small symmetric matrix, by cyclic Jacobi
/// rotations.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas do
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |q| *q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for kk in 0..n {
                    let (akp, akq) = (a[kk][p], a[kk][q]);
                    a[kk][p] = c * akp - s * akq;
                    a[kk][q] = s * akp + c * akq;
                }
                for kk in 0..n {
                    let (apk, aqk) = (a[p][kk], a[q][kk]);
                    a[p][kk] = c * apk - s * aqk;
                    a[q][kk] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(sizes: &[usize]) -> Vec<u32> {
        // Interleaved, so segments are spread over the rows as in real data.
        let mut out = Vec::new();
        let mut left = sizes.to_vec();
        while left.iter().any(|&l| l > 0) {
            for (s, l) in left.iter_mut().enumerate() {
                if *l > 0 {
                    out.push(s as u32);
                    *l -= 1;
                }
            }
        }
        out
    }

    #[test]
    fn small_inputs_are_shown_whole() {
        let l = labels(&[10, 5]);
        assert_eq!(sample_rows(&l, 2, 100, 25, 1), (0..15).collect::<Vec<_>>());
    }

    #[test]
    fn sample_is_proportional_with_a_floor_and_deterministic() {
        let sizes = [150_000usize, 45_000, 4_990, 10];
        let l = labels(&sizes);
        let rows = sample_rows(&l, 4, 50_000, 25, 7);
        assert_eq!(rows, sample_rows(&l, 4, 50_000, 25, 7));
        assert_ne!(rows, sample_rows(&l, 4, 50_000, 25, 8));
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending and unique");
        let mut got = [0usize; 4];
        for &i in &rows {
            got[l[i] as usize] += 1;
        }
        let n: usize = sizes.iter().sum();
        for s in 0..3 {
            let want = 50_000.0 * sizes[s] as f64 / n as f64;
            assert!(
                (got[s] as f64 - want).abs() <= 1.0,
                "segment {s}: {} vs {want}",
                got[s]
            );
        }
        // The tiny segment keeps all of its 10 customers (floor 25 > size).
        assert_eq!(got[3], 10);
        // Rows spread over the whole file, not the first ones of each segment.
        assert!(*rows.last().unwrap() > n * 9 / 10);
    }

    #[test]
    fn ten_million_customers_still_give_a_bounded_sample() {
        let n = 10_000_000usize;
        // Segment of row i: a fixed mix with one tiny segment.
        let l: Vec<u32> = (0..n as u32)
            .map(|i| if i % 1_000_000 == 7 { 3 } else { i % 3 })
            .collect();
        let t = std::time::Instant::now();
        let rows = sample_rows(&l, 4, SAMPLE_THRESHOLD, MIN_PER_SEGMENT, 42);
        assert!(
            t.elapsed().as_secs_f64() < 5.0,
            "sampling took {:?}",
            t.elapsed()
        );
        assert!(
            rows.len() >= SAMPLE_THRESHOLD && rows.len() <= SAMPLE_THRESHOLD + 4 * MIN_PER_SEGMENT
        );
        assert_eq!(
            rows.iter().filter(|&&i| l[i] == 3).count(),
            10,
            "the 10-customer segment is kept whole"
        );
    }

    #[test]
    fn quotas_sum_and_floor() {
        let q = quotas(&[1, 1, 1], 2, 0);
        assert_eq!(q.iter().sum::<u64>(), 2);
        assert_eq!(quotas(&[1000, 3], 100, 25), vec![100, 3]);
        assert_eq!(quotas(&[1000, 100], 110, 25), vec![100, 25]);
    }

    #[test]
    fn jacobi_finds_the_eigenpairs() {
        let (vals, vecs) = jacobi_eigen(vec![
            vec![4.0, 1.0, 0.0],
            vec![1.0, 3.0, 0.5],
            vec![0.0, 0.5, 1.0],
        ]);
        let a = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]];
        for c in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i][j] * vecs[j][c]).sum();
                assert!((av - vals[c] * vecs[i][c]).abs() < 1e-10);
            }
        }
        assert!((vals.iter().sum::<f64>() - 8.0).abs() < 1e-10);
    }

    #[test]
    fn round_sig_keeps_six_digits() {
        assert_eq!(round_sig(12345.678), 12345.7);
        assert_eq!(round_sig(40.900749), 40.9007);
        assert_eq!(round_sig(0.0), 0.0);
        assert_eq!(round_sig(1.0e-7 * 3.333333333), 3.33333e-7);
    }

    #[test]
    fn colours_are_distinct_for_many_segments() {
        let c: std::collections::HashSet<String> = (0..40).map(color).collect();
        assert_eq!(c.len(), 40);
    }
}
