//! What the dashboard page holds, as one JSON document, and how it is bounded: every
//! figure of the run, plus the scatter's points, which are all customers up to
//! [`SAMPLE_THRESHOLD`] and a seeded stratified sample above it, so the page stays a few
//! megabytes at 10 million customers.

use serde::Serialize;

use crate::pipeline::RunResult;
use crate::report::summary::Summary;
use crate::rng::Rng;

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
    /// Customer flows since the `--previous` run, for the Sankey diagram (absent
    /// otherwise, so the page data of other runs is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<FlowsData<'a>>,
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
    /// Plotted values, one array per axis.
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
fn typical_rows(r: &RunResult) -> Vec<Vec<usize>> {
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
            let v = col.map_or(f64::NAN, |c| c[i]) * m.scaler.scale[j] + m.scaler.min[j];
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
    pub fn build(r: &'a RunResult, s: &'a Summary) -> Self {
        let m = &r.model;
        let k = m.k;
        let axes: Vec<&str> = m.features.iter().take(3).map(String::as_str).collect();
        let rows = sample_rows(&r.labels, k, SAMPLE_THRESHOLD, MIN_PER_SEGMENT, m.seed);
        let axis_cols: Vec<&[f64]> = axes
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
                    values: vec![Vec::new(); axes.len()],
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
            id_label: crate::report::files::id_header(m),
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
            flows: s
                .changes
                .as_ref()
                .and_then(|c| c.migration.as_ref())
                .map(|mig| flows_data(m, mig)),
        }
    }
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
