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
use cardseg::report::summary::Summary;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::segmentation::{request, Request, Segmentation};
use crate::{interruptible, to_py, Model};

/// Registers the Spark functions in the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spark_segment_sample, m)?)?;
    m.add_function(wrap_pyfunction!(spark_lloyd_partial, m)?)?;
    m.add_function(wrap_pyfunction!(spark_assign, m)?)?;
    m.add_function(wrap_pyfunction!(spark_profile_columns, m)?)?;
    Ok(())
}

/// Segments the sample `data` (an Arrow stream capsule) with the keywords of `cardseg.run`
/// and `external`, the JSON of `run::External`: the fill values and scaler statistics of
/// every row and, once refined, the fit and the figures of every row.
#[pyfunction]
#[pyo3(signature = (data, source_name, external, **options))]
fn spark_segment_sample(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    source_name: String,
    external: &str,
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
        .detach(move || crate::arrow::read_table(stream, &source_name, &spec))
        .map_err(err)?;
    let (cfg, segmented) = interruptible(py, cfg.cancel.clone(), move || {
        let s = cardseg::run::segment(&cfg, table)?;
        Ok((cfg, s))
    })?;
    let summary = Summary::build(&segmented.segmentation);
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

/// The scaled features of a batch, and which rows cannot be scored (a missing feature
/// under the drop policy).
fn scaled(
    py: Python<'_>,
    model: &Model,
    data: &Bound<'_, PyAny>,
) -> PyResult<(cardseg::scale::Matrix, Vec<bool>)> {
    let table = model.read(py, data, "Spark partition".into(), None)?;
    let m = &model.inner;
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
/// policy) and distance to its centroid (float64 bytes, NaN there), by the scorer of
/// `cardseg predict` against `centroids`.
#[pyfunction]
fn spark_assign<'py>(
    py: Python<'py>,
    model: PyRef<'py, Model>,
    data: &Bound<'py, PyAny>,
    centroids: Vec<f64>,
) -> PyResult<Bound<'py, PyTuple>> {
    check_centroids(py, &model, &centroids)?;
    let table = model.read(py, data, "Spark partition".into(), None)?;
    let m = &model.inner;
    let (labels, dist) = py
        .detach(|| -> cardseg::Result<_> {
            let cols = cardseg::predict::feature_columns(m, &table)?;
            let s = cardseg::predict::score_columns(m, &centroids, cols, true);
            let mut labels = Vec::with_capacity(s.labels.len() * 4);
            let mut dist = Vec::with_capacity(s.labels.len() * 8);
            for (l, (a, _)) in s.labels.iter().zip(&s.distances) {
                labels.extend_from_slice(&l.map_or(-1, |v| v as i32).to_le_bytes());
                dist.extend_from_slice(&a.to_le_bytes());
            }
            Ok((labels, dist))
        })
        .map_err(|e| to_py(py, e))?;
    PyTuple::new(py, [PyBytes::new(py, &labels), PyBytes::new(py, &dist)])
}
