//! The native half of `cardseg.spark.run`: the kernels Spark's executors run on each Arrow
//! batch (`mapInArrow`), and the run on the driver's sample with the statistics Spark
//! computed on every row (`run::External`).
//!
//! The kernels read a batch with a model's reader (its id column and features), fill and
//! scale it with the model's saved values, exactly as `cardseg predict` does, and measure
//! against centroids given with the call: the Lloyd kernel returns per-segment sums,
//! counts and inertia; the assignment kernel returns each row's segment and distance
//! through the scorer `predict` uses.

use cardseg::error::Error;
use std::collections::BTreeMap;

use cardseg::lifecycle::outliers::Outlier;
use cardseg::report::summary::{ExtremeLine, Summary};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use serde::Deserialize;
use serde_json::json;

use crate::segmentation::{request, Request, Segmentation};
use crate::{interruptible, to_py, Model};

/// Registers the Spark functions in the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spark_segment_sample, m)?)?;
    m.add_function(wrap_pyfunction!(spark_lloyd_partial, m)?)?;
    m.add_function(wrap_pyfunction!(spark_assign, m)?)?;
    m.add_function(wrap_pyfunction!(spark_profile_columns, m)?)?;
    m.add_function(wrap_pyfunction!(spark_profile_pass, m)?)?;
    m.add_function(wrap_pyfunction!(spark_middles_pass, m)?)?;
    m.add_function(wrap_pyfunction!(spark_text_columns, m)?)?;
    m.add_function(wrap_pyfunction!(spark_rank_pass, m)?)?;
    m.add_function(wrap_pyfunction!(spark_ids, m)?)?;
    Ok(())
}

/// Segments the sample `data` (an Arrow stream capsule) with the keywords of `cardseg.run`
/// and `external`, the JSON of `run::External`: the fill values and scaler statistics of
/// every row and, once refined, the fit and the figures of every row.
///
/// `outliers`, when given, is the JSON of the outliers counted on every row:
/// `{"counts": [per segment], "extreme": [[customer, segment index, distance], ...]}`;
/// the summary reports those instead of the sample's.
#[pyfunction]
#[pyo3(signature = (data, source_name, external, outliers=None, **options))]
fn spark_segment_sample(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    source_name: String,
    external: &str,
    outliers: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Segmentation> {
    let Request { mut cfg, .. } = request(py, String::new(), options)?;
    let err = |e| to_py(py, e);
    let ext: cardseg::run::External = serde_json::from_str(external).map_err(|e| {
        err(Error::usage(format!(
            "the Spark statistics do not read: {e}"
        )))
    })?;
    cfg.external = Some(Box::new(ext));
    cfg.check().map_err(err)?;
    let stream = crate::take_stream(data)?;
    let spec = cfg.read_spec();
    let table = py
        .detach(move || {
            crate::arrow::read_table(stream, &source_name, &spec, &crate::arrow::no_poll)
        })
        .map_err(err)?;
    let (cfg, segmented) = interruptible(py, cfg.cancel.clone(), move || {
        let s = cardseg::run::segment(&cfg, table)?;
        Ok((cfg, s))
    })?;
    let mut summary = Summary::build(&segmented.segmentation);
    if let Some(text) = outliers {
        let all: AllRowOutliers = serde_json::from_str(text).map_err(|e| {
            err(Error::usage(format!(
                "the Spark outlier counts do not read: {e}"
            )))
        })?;
        let m = &segmented.segmentation.model;
        for (line, c) in summary.outliers.iter_mut().zip(&all.counts) {
            line.outliers = *c;
        }
        summary.most_extreme = all
            .extreme
            .into_iter()
            .filter(|(_, l, _)| *l < m.k)
            .map(|(customer, l, d)| ExtremeLine {
                customer,
                segment: m.segments[l].id,
                distance: d,
                distance_percentile: Outlier::of(m, l, d).percentile.unwrap_or(f64::NAN),
            })
            .collect();
    }
    Ok(Segmentation {
        seg: segmented.segmentation,
        summary,
        cfg,
        timings: segmented.timings.0,
    })
}

/// The columns a segmentation profiled: `(numbers, categories)`, so the figures of every
/// row are computed for the same columns read the same way.
#[pyfunction]
fn spark_profile_columns(seg: PyRef<'_, Segmentation>) -> (Vec<String>, Vec<String>) {
    let p = &seg.seg.profile.portfolio;
    (
        p.stats.iter().map(|s| s.column.clone()).collect(),
        p.categories.iter().map(|c| c.column.clone()).collect(),
    )
}

/// Of the text columns `candidates`, those a run profiles as categories: not an outcome,
/// named by `categorical` when that is given, and not looking like a protected attribute
/// unless named (the rule `cardseg run` applies to a CSV file's text columns).
#[pyfunction]
fn spark_text_columns(seg: PyRef<'_, Segmentation>, candidates: Vec<String>) -> Vec<String> {
    let cfg = &seg.cfg;
    candidates
        .into_iter()
        .filter(|c| !cardseg::profile::looks_protected(c) || cfg.names_column(c))
        .filter(|c| !cfg.outcome.contains(c))
        .filter(|c| cfg.categorical.as_ref().is_none_or(|list| list.contains(c)))
        .collect()
}

/// The scaled features of a batch, and which rows cannot be scored (a missing feature
/// under the drop policy).
fn scaled(
    py: Python<'_>,
    model: &Model,
    data: &Bound<'_, PyAny>,
) -> PyResult<(cardseg::scale::Matrix, Vec<bool>)> {
    let table = model.read(py, data, "Spark partition".into(), None)?;
    let table = py.detach(|| table.table()).map_err(|e| to_py(py, e))?;
    let m = &*model.inner;
    py.detach(|| -> cardseg::Result<_> {
        let mut cols = cardseg::predict::feature_columns(m, &table)?;
        Ok(cardseg::score::prepare(m, &mut cols))
    })
    .map_err(|e| to_py(py, e))
}

fn check_centroids(py: Python<'_>, model: &Model, centroids: &[f64]) -> PyResult<usize> {
    let d = model.inner.features.len();
    if centroids.is_empty() || !centroids.len().is_multiple_of(d) {
        return Err(to_py(
            py,
            Error::usage(format!(
                "{} centroid values for {d} features",
                centroids.len()
            )),
        ));
    }
    Ok(centroids.len() / d)
}

/// One Lloyd step's partial figures for a batch: per segment the sums of the scaled
/// features (k × d) and the customers, and the summed squared distance to the nearest
/// of `centroids` (scaled, k × d row-major), with the model's fill values and scaler.
#[pyfunction]
fn spark_lloyd_partial<'py>(
    py: Python<'py>,
    model: PyRef<'py, Model>,
    data: &Bound<'py, PyAny>,
    centroids: Vec<f64>,
) -> PyResult<(Vec<f64>, Vec<i64>, f64)> {
    let k = check_centroids(py, &model, &centroids)?;
    let (x, unscorable) = scaled(py, &model, data)?;
    let d = x.d;
    Ok(py.detach(|| {
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0i64; k];
        let mut inertia = 0.0f64;
        for i in (0..x.n).filter(|&i| !unscorable[i]) {
            let row = x.row(i);
            let (l, best, _) = cardseg::cluster::nearest_two(row, &centroids);
            let l = l as usize;
            counts[l] += 1;
            inertia += best;
            for (s, v) in sums[l * d..(l + 1) * d].iter_mut().zip(row) {
                *s += v;
            }
        }
        (sums, counts, inertia)
    }))
}

/// Each row's 0-based segment (int32 bytes, -1 where a feature is missing under the drop
/// policy), distance to its centroid (float64 bytes, NaN there), by the scorer of
/// `cardseg predict` against `centroids`, and each row's id as the reader renders it
/// (see `spark_ids`: int32 offsets and UTF-8 bytes).
#[pyfunction]
fn spark_assign<'py>(
    py: Python<'py>,
    model: PyRef<'py, Model>,
    data: &Bound<'py, PyAny>,
    centroids: Vec<f64>,
) -> PyResult<Bound<'py, PyTuple>> {
    check_centroids(py, &model, &centroids)?;
    let table = model.read(py, data, "Spark partition".into(), None)?;
    let table = py.detach(|| table.table()).map_err(|e| to_py(py, e))?;
    let m = &*model.inner;
    let (labels, dist, offsets, text) = py
        .detach(|| -> cardseg::Result<_> {
            let cols = cardseg::predict::feature_columns(m, &table)?;
            let s = cardseg::predict::score_columns(m, &centroids, cols, true);
            let mut labels = Vec::with_capacity(s.labels.len() * 4);
            let mut dist = Vec::with_capacity(s.labels.len() * 8);
            for (l, (a, _)) in s.labels.iter().zip(&s.distances) {
                labels.extend_from_slice(&l.map_or(-1, |v| v as i32).to_le_bytes());
                dist.extend_from_slice(&a.to_le_bytes());
            }
            let (offsets, text) = id_buffers(&table.ids)?;
            Ok((labels, dist, offsets, text))
        })
        .map_err(|e| to_py(py, e))?;
    PyTuple::new(
        py,
        [
            PyBytes::new(py, &labels),
            PyBytes::new(py, &dist),
            PyBytes::new(py, &offsets),
            PyBytes::new(py, &text),
        ],
    )
}

/// The ids as an Arrow string column's buffers: int32 offsets and UTF-8 bytes.
fn id_buffers(ids: &cardseg::table::Ids) -> cardseg::Result<(Vec<u8>, Vec<u8>)> {
    let mut offsets = Vec::with_capacity((ids.len() + 1) * 4);
    let mut text = Vec::new();
    offsets.extend_from_slice(&0i32.to_le_bytes());
    for id in ids.iter() {
        text.extend_from_slice(id.as_bytes());
        let end = i32::try_from(text.len()).map_err(|_| {
            Error::usage("a Spark partition holds more than 2 GB of ids; repartition the data")
        })?;
        offsets.extend_from_slice(&end.to_le_bytes());
    }
    Ok((offsets, text))
}

/// Every row's id in column `id_column` of a batch as cardseg's reader renders it (whole
/// numbers without a decimal point, other numbers in their shortest form, text trimmed,
/// a null empty): the one rendering ids are matched by, whatever type each side stores
/// them in. Returns int32 offsets and UTF-8 bytes of an Arrow string column.
#[pyfunction]
fn spark_ids<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    id_column: String,
) -> PyResult<Bound<'py, PyTuple>> {
    let spec = cardseg::ingest::ReadSpec {
        id: cardseg::ingest::IdSpec::Column {
            name: id_column,
            explicit: true,
        },
        required: Vec::new(),
        other_numeric: false,
        delimiter: None,
    };
    let stream = crate::take_stream(data)?;
    let (offsets, text) = py
        .detach(move || -> cardseg::Result<_> {
            let table =
                crate::arrow::read_table(stream, "Spark labels", &spec, &crate::arrow::no_poll)?;
            id_buffers(&table.ids)
        })
        .map_err(|e| to_py(py, e))?;
    PyTuple::new(py, [PyBytes::new(py, &offsets), PyBytes::new(py, &text)])
}

/// Counts of values against brackets `[a, b]` (a NaN `a`: no bracket): the values below
/// `a`, equal to `a`, equal to `b` (when `b != a`) and, kept, those strictly between.
struct Tally {
    below: Vec<u64>,
    at_a: Vec<u64>,
    at_b: Vec<u64>,
    inside: Vec<Vec<f64>>,
}

impl Tally {
    fn new(n: usize) -> Self {
        Tally {
            below: vec![0; n],
            at_a: vec![0; n],
            at_b: vec![0; n],
            inside: vec![Vec::new(); n],
        }
    }

    #[inline]
    fn add(&mut self, i: usize, a: f64, b: f64, x: f64) {
        if a.is_nan() || x.is_nan() {
            return;
        }
        if x < a {
            self.below[i] += 1;
        } else if x == a {
            self.at_a[i] += 1;
        } else if x == b {
            self.at_b[i] += 1;
        } else if x < b {
            self.inside[i].push(x);
        }
    }

    /// The counts as JSON; the values inside appended to `bytes` (little-endian float64,
    /// bracket after bracket).
    fn finish(self, bytes: &mut Vec<u8>) -> serde_json::Value {
        let lens: Vec<usize> = self.inside.iter().map(Vec::len).collect();
        for x in self.inside.iter().flatten() {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        json!({"below": self.below, "at_a": self.at_a, "at_b": self.at_b, "inside": lens})
    }
}

/// The partition's part of exact order statistics of every row: per column `c` of
/// `columns` (float64, null or NaN missing), its `slots[c]` brackets (two values each in
/// `brackets`, column after column; NaN: none) tallied as `Tally` does. Returns the
/// counts as JSON (one object per column) and the values inside as bytes.
#[pyfunction]
fn spark_rank_pass<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    columns: Vec<String>,
    brackets: Vec<f64>,
    slots: Vec<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    if slots.len() != columns.len() || brackets.len() != slots.iter().sum::<usize>() * 2 {
        return Err(to_py(
            py,
            Error::usage(format!(
                "{} bracket values in {} slots for {} columns",
                brackets.len(),
                slots.len(),
                columns.len()
            )),
        ));
    }
    let spec = cardseg::ingest::ReadSpec {
        id: cardseg::ingest::IdSpec::RowNumber,
        required: columns.clone(),
        other_numeric: false,
        delimiter: None,
    };
    let stream = crate::take_stream(data)?;
    let (meta, bytes) = py
        .detach(move || -> cardseg::Result<_> {
            let table =
                crate::arrow::read_table(stream, "Spark partition", &spec, &crate::arrow::no_poll)?;
            let mut bytes = Vec::new();
            let mut out = Vec::with_capacity(columns.len());
            let mut at = 0;
            for (name, &n) in columns.iter().zip(&slots) {
                let own = &brackets[at * 2..(at + n) * 2];
                at += n;
                let mut t = Tally::new(n);
                for &x in values_of(&table, name)? {
                    for (s, ab) in own.chunks_exact(2).enumerate() {
                        t.add(s, ab[0], ab[1], x);
                    }
                }
                out.push(t.finish(&mut bytes));
            }
            Ok((json!(out).to_string(), bytes))
        })
        .map_err(|e| to_py(py, e))?;
    (meta, PyBytes::new(py, &bytes)).into_pyobject(py)
}

/// Outliers counted on every row (see `spark_segment_sample`).
#[derive(Deserialize)]
struct AllRowOutliers {
    counts: Vec<u64>,
    extreme: Vec<(String, usize, f64)>,
}

/// Reads a batch with the model's id column and features, and `extra` numeric columns;
/// with `texts`, the category codes of its text columns too.
fn read_columns(
    py: Python<'_>,
    model: &Model,
    data: &Bound<'_, PyAny>,
    extra: &[String],
    texts: bool,
) -> PyResult<(
    cardseg::table::Table,
    Vec<cardseg::ingest::categories::TextCategories>,
)> {
    // Text columns are classified (and their codes kept) only when the reader loads
    // columns beyond the required ones.
    let mut spec = model.inner.read_spec(None, texts);
    for c in extra {
        if !spec.required.contains(c) {
            spec.required.push(c.clone());
        }
    }
    let stream = crate::take_stream(data)?;
    py.detach(move || {
        crate::arrow::read_with_categories(
            stream,
            "Spark partition",
            &spec,
            texts,
            &crate::arrow::no_poll,
        )
    })
    .map_err(|e| to_py(py, e))
}

/// The values of column `name` (NaN: missing).
fn values_of<'t>(table: &'t cardseg::table::Table, name: &str) -> cardseg::Result<&'t [f64]> {
    table
        .column(name)
        .map(|c| c.values.as_slice())
        .ok_or_else(|| Error::input(&table.source, format!("column {name} was not loaded")))
}

/// Every row's segment (None: unscored) and distance against `centroids`.
fn assigned(
    model: &cardseg::model::Model,
    table: &cardseg::table::Table,
    centroids: &[f64],
) -> cardseg::Result<(Vec<Option<u32>>, Vec<f64>)> {
    let cols = cardseg::predict::feature_columns(model, table)?;
    let s = cardseg::predict::score_columns(model, centroids, cols, true);
    let dist = s.distances.iter().map(|d| d.0).collect();
    Ok((s.labels, dist))
}

/// Positions `i * (n - 1) / knots` (i = 0..=knots) of `n` sorted values: every position
/// when there are no more than `knots + 1`. The driver recomputes them from `n`.
fn knot_positions(n: usize, knots: usize) -> Vec<usize> {
    if n == 0 {
        Vec::new()
    } else if n <= knots + 1 {
        (0..n).collect()
    } else {
        (0..=knots).map(|i| i * (n - 1) / knots).collect()
    }
}

/// The partition's figures for the profile, in one scan: every row assigned to the
/// nearest of `centroids` (the scorer of `predict`), then per segment and for every scored
/// row (group k) of each `numbers` column: count, sum, non-zero count, mean, squared
/// deviations, and its order statistics at `knot_positions` (which bracket the medians);
/// the portfolio's min, max and values other than 0 and 1; customers per value of each `codes` column; per segment
/// the size, the distance order statistics and the summed squared distance; customers
/// per value of each `texts` column (read as the readers read text, None past their limit
/// of distinct values).
/// Returns the figures as JSON and the order statistics as little-endian float64 bytes
/// (per column, then the distance; per group), their counts in the JSON's `"knots"`.
#[pyfunction]
#[pyo3(signature = (model, data, centroids, numbers, codes, texts, knots))]
#[allow(clippy::too_many_arguments)]
fn spark_profile_pass<'py>(
    py: Python<'py>,
    model: PyRef<'py, Model>,
    data: &Bound<'py, PyAny>,
    centroids: Vec<f64>,
    numbers: Vec<String>,
    codes: Vec<String>,
    texts: Vec<String>,
    knots: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    let k = check_centroids(py, &model, &centroids)?;
    let extra: Vec<String> = numbers.iter().chain(&codes).cloned().collect();
    let (table, mut read_texts) = read_columns(py, &model, data, &extra, !texts.is_empty())?;
    let m = &*model.inner;
    let (meta, bytes) = py
        .detach(|| -> cardseg::Result<_> {
            let (labels, dist) = assigned(m, &table, &centroids)?;
            let groups = k + 1;
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
            let mut inertia = 0.0f64;
            for (i, l) in labels.iter().enumerate() {
                if let Some(l) = l {
                    members[*l as usize].push(i);
                    members[k].push(i);
                    inertia += dist[i] * dist[i];
                }
            }
            let mut bytes: Vec<u8> = Vec::new();
            let mut knot_counts: Vec<Vec<usize>> = Vec::new();
            let mut num = Vec::with_capacity(numbers.len());
            let mut buf: Vec<f64> = Vec::new();
            let put_knots = |buf: &mut Vec<f64>, bytes: &mut Vec<u8>| -> usize {
                buf.sort_unstable_by(f64::total_cmp);
                let pos = knot_positions(buf.len(), knots);
                for p in &pos {
                    bytes.extend_from_slice(&buf[*p].to_le_bytes());
                }
                pos.len()
            };
            for name in &numbers {
                let v = values_of(&table, name)?;
                let (mut count, mut sum, mut nz, mut mean, mut m2) = (
                    vec![0u64; groups],
                    vec![0.0; groups],
                    vec![0u64; groups],
                    vec![0.0; groups],
                    vec![0.0; groups],
                );
                let mut kc = Vec::with_capacity(groups);
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                let mut nonbinary = 0u64;
                for g in 0..groups {
                    buf.clear();
                    buf.extend(members[g].iter().map(|&i| v[i]).filter(|x| !x.is_nan()));
                    count[g] = buf.len() as u64;
                    sum[g] = buf.iter().sum();
                    nz[g] = buf.iter().filter(|x| **x != 0.0).count() as u64;
                    if !buf.is_empty() {
                        mean[g] = sum[g] / buf.len() as f64;
                        m2[g] = buf.iter().map(|x| (x - mean[g]) * (x - mean[g])).sum();
                    }
                    if g == k {
                        for x in &buf {
                            lo = lo.min(*x);
                            hi = hi.max(*x);
                        }
                        nonbinary = buf.iter().filter(|x| **x != 0.0 && **x != 1.0).count() as u64;
                    }
                    kc.push(put_knots(&mut buf, &mut bytes));
                }
                knot_counts.push(kc);
                num.push(json!({
                    "count": count, "sum": sum, "nonzero": nz, "mean": mean, "m2": m2,
                    "min": lo.is_finite().then_some(lo), "max": hi.is_finite().then_some(hi),
                    "nonbinary": nonbinary,
                }));
            }
            let mut kc = Vec::with_capacity(k);
            for rows in &members[..k] {
                buf.clear();
                buf.extend(rows.iter().map(|&i| dist[i]));
                kc.push(put_knots(&mut buf, &mut bytes));
            }
            knot_counts.push(kc);
            let mut cats = Vec::with_capacity(codes.len());
            for name in &codes {
                let v = values_of(&table, name)?;
                // Keyed by the value's bits (-0 read as 0); None: missing.
                let mut cells: BTreeMap<Option<u64>, Vec<u64>> = BTreeMap::new();
                for (g, rows) in members.iter().enumerate() {
                    for &i in rows {
                        let key = (!v[i].is_nan()).then(|| (v[i] + 0.0).to_bits());
                        cells.entry(key).or_insert_with(|| vec![0; groups])[g] += 1;
                    }
                }
                let list: Vec<_> = cells
                    .into_iter()
                    .map(|(key, counts)| json!([key.map(f64::from_bits), counts]))
                    .collect();
                cats.push(list);
            }
            // Per text column its values and counts, None past the readers' value limit.
            let mut text_counts = Vec::with_capacity(texts.len());
            for name in &texts {
                let Some(at) = read_texts.iter().position(|t| t.column == *name) else {
                    text_counts.push(serde_json::Value::Null);
                    continue;
                };
                let t = read_texts.swap_remove(at);
                let mut counts = vec![vec![0u64; groups]; t.values.len()];
                for (i, l) in labels.iter().enumerate() {
                    if let (Some(l), Some(c)) = (l, t.codes.get(i)) {
                        counts[*c as usize][*l as usize] += 1;
                        counts[*c as usize][k] += 1;
                    }
                }
                text_counts.push(json!(t.values.iter().zip(counts).collect::<Vec<_>>()));
            }
            let sizes: Vec<usize> = members[..k].iter().map(Vec::len).collect();
            let meta = json!({
                "sizes": sizes, "inertia": inertia, "numbers": num, "codes": cats,
                "texts": text_counts, "knots": knot_counts,
            });
            Ok((meta.to_string(), bytes))
        })
        .map_err(|e| to_py(py, e))?;
    (meta, PyBytes::new(py, &bytes)).into_pyobject(py)
}

/// The partition's part of exact order statistics per segment and the outliers: rows
/// assigned as in `spark_profile_pass`; per `numbers` column `c` and group (segments, then
/// every scored row), its `slots[c]` brackets `[a, b]` of `brackets` (column after column,
/// groups inner, then slots, two values each; NaN: none) tallied as `Tally` does (JSON
/// per column, flattened group-major; the values inside as little-endian float64 bytes in
/// the same order). A column's values are read as the model's reader reads them: a
/// feature raw (missing values skipped), a filled profile column as Spark filled it.
/// Each segment's outliers by the rule of `predict` with `quantiles` (per segment, in the
/// order of `centroids`) and `percentile`, and the `top` farthest of them (distance
/// descending, then id).
#[pyfunction]
#[pyo3(signature = (model, data, centroids, numbers, brackets, slots, quantiles, percentile, top))]
#[allow(clippy::too_many_arguments)]
fn spark_middles_pass<'py>(
    py: Python<'py>,
    model: PyRef<'py, Model>,
    data: &Bound<'py, PyAny>,
    centroids: Vec<f64>,
    numbers: Vec<String>,
    brackets: Vec<f64>,
    slots: Vec<usize>,
    quantiles: Vec<Vec<f64>>,
    percentile: f64,
    top: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    let k = check_centroids(py, &model, &centroids)?;
    let groups = k + 1;
    if slots.len() != numbers.len()
        || brackets.len() != slots.iter().sum::<usize>() * groups * 2
        || quantiles.len() != k
    {
        return Err(to_py(
            py,
            Error::usage(format!(
                "{} bracket values in {} slots and {} quantile lists for {} columns and {k} segments",
                brackets.len(),
                slots.len(),
                quantiles.len(),
                numbers.len()
            )),
        ));
    }
    let (table, _) = read_columns(py, &model, data, &numbers, false)?;
    let m = &*model.inner;
    let (meta, bytes) = py
        .detach(|| -> cardseg::Result<_> {
            let (labels, dist) = assigned(m, &table, &centroids)?;
            let mut rule = m.clone();
            rule.distance_quantiles = quantiles.clone();
            rule.outlier_percentile = percentile;
            let mut outliers = vec![0u64; k];
            let mut far: Vec<(f64, String, usize)> = Vec::new();
            for (i, l) in labels.iter().enumerate() {
                if let Some(l) = l {
                    let l = *l as usize;
                    if Outlier::of(&rule, l, dist[i]).outlier == Some(true) {
                        outliers[l] += 1;
                        far.push((dist[i], table.ids.get(i).to_string(), l));
                    }
                }
            }
            far.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            far.truncate(top);
            let mut bytes: Vec<u8> = Vec::new();
            let mut cols = Vec::with_capacity(numbers.len());
            let mut at = 0;
            for (name, &n) in numbers.iter().zip(&slots) {
                let v = values_of(&table, name)?;
                let own = &brackets[at * 2..(at + n * groups) * 2];
                at += n * groups;
                let mut t = Tally::new(n * groups);
                let mut count = |g: usize, x: f64| {
                    for s in 0..n {
                        let i = g * n + s;
                        t.add(i, own[i * 2], own[i * 2 + 1], x);
                    }
                };
                for (i, l) in labels.iter().enumerate() {
                    if let Some(l) = l {
                        count(*l as usize, v[i]);
                        count(k, v[i]);
                    }
                }
                cols.push(t.finish(&mut bytes));
            }
            let meta = json!({"columns": cols, "outliers": outliers, "extreme": far
                .iter()
                .map(|(d, id, l)| json!([id, l, d]))
                .collect::<Vec<_>>()});
            Ok((meta.to_string(), bytes))
        })
        .map_err(|e| to_py(py, e))?;
    (meta, PyBytes::new(py, &bytes)).into_pyobject(py)
}
