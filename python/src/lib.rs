//! `cardseg._cardseg`: the native half of the Python package. Every function here parses
//! its arguments, calls library entry points (`run::segment`, `run::run_files`,
//! `Model::load`, `predict::score_columns`) and maps [`cardseg::Error`] to the package's
//! exception classes (`cardseg.errors`) with the CLI's one-line message. A run's result
//! stays in memory ([`segmentation::Segmentation`]); its tables reach Python as Arrow
//! arrays and its files are written only when asked.
//!
//! Long work runs on a worker thread while the calling thread waits without the GIL and
//! checks for signals every 50 ms, so Ctrl-C raises `KeyboardInterrupt` at once and sets
//! the run's cancel flag, which stops the work at its next check.

mod arrow;
mod labels;
mod lifecycle;
mod segmentation;
mod spark;

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use cardseg::cancel::Cancel;
use cardseg::error::Error;
use cardseg::ingest::{ReadSpec, Source};
use cardseg::lifecycle::outliers::Outlier;
use cardseg::model::Model as CoreModel;
use cardseg::table::Table;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule};

/// The Python exception for a library error: `cardseg.errors.<Class>(message)`.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let class = match &e {
        Error::Cell { .. } | Error::RowCell { .. } | Error::Record { .. } | Error::Input { .. } => {
            "InputError"
        }
        Error::Model { .. } => "ModelError",
        Error::Usage(_) => "UsageError",
        Error::OutputExists { .. } => "OutputExistsError",
        Error::Io { .. } => "CardsegIOError",
        Error::Cancelled => "CardsegError",
    };
    let msg = e.to_string();
    match py
        .import("cardseg.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)))
    {
        Ok(v) => PyErr::from_value(v),
        Err(_) => PyValueError::new_err(msg),
    }
}

/// Runs `work` on a worker thread; waits for it without the GIL, checking signals. On
/// Ctrl-C (or any signal handler raising) `cancel` is set, so the work stops at its next
/// check instead of running on in the background.
pub(crate) fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    cancel: Cancel,
    work: impl FnOnce() -> cardseg::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("cardseg".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = tx.send(r);
        })
        .map_err(|e| PyValueError::new_err(format!("cannot start a thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver is moved in and back out: closures run without the GIL must be Send.
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
        rx = back;
        match got {
            Ok(Ok(r)) => return r.map_err(|e| to_py(py, e)),
            Ok(Err(_)) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "cardseg: internal error (a panic in the Rust code); please report it",
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    cancel.cancel();
                    return Err(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "cardseg: the worker thread ended without a result",
                ))
            }
        }
    }
}

/// Ctrl-C during a read that runs on the calling thread (an Arrow stream, whose producer
/// may be Python code that needs this thread): [`Signals::poll`] takes the GIL for a
/// moment and runs Python's signal handlers; the exception one raises stops the read and
/// is what the call raises ([`Signals::error`]).
#[derive(Default)]
pub(crate) struct Signals(std::sync::Mutex<Option<PyErr>>);

impl Signals {
    /// `Err(Error::Cancelled)` once a signal handler raised (its exception kept).
    pub(crate) fn poll(&self) -> cardseg::Result<()> {
        Python::attach(|py| py.check_signals()).map_err(|e| {
            if let Ok(mut slot) = self.0.lock() {
                slot.get_or_insert(e);
            }
            Error::Cancelled
        })
    }

    /// The Python exception for `e`: the signal handler's own when a signal stopped the read.
    pub(crate) fn error(&self, py: Python<'_>, e: Error) -> PyErr {
        if matches!(e, Error::Cancelled) {
            if let Some(raised) = self.0.lock().ok().and_then(|mut s| s.take()) {
                return raised;
            }
        }
        to_py(py, e)
    }
}

/// Takes the Arrow C stream out of a `__arrow_c_stream__()` capsule.
pub(crate) fn take_stream(capsule: &Bound<'_, PyAny>) -> PyResult<arrow::Stream> {
    let cap = capsule.cast::<PyCapsule>().map_err(|_| {
        PyValueError::new_err("expected the capsule returned by __arrow_c_stream__()")
    })?;
    // SAFETY: a live capsule; a null name is a valid argument.
    let stream =
        unsafe { pyo3::ffi::PyCapsule_IsValid(cap.as_ptr(), c"arrow_array_stream".as_ptr()) == 1 };
    if !stream {
        // SAFETY: as above; the name is NUL-terminated text owned by the capsule.
        let name = unsafe { pyo3::ffi::PyCapsule_GetName(cap.as_ptr()) };
        let name = if name.is_null() {
            String::new()
        } else {
            unsafe { std::ffi::CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        };
        let _ = PyErr::take(capsule.py());
        return Err(to_py(
            capsule.py(),
            Error::input(
                "__arrow_c_stream__()",
                format!(
                    "it returned a capsule named {name:?}, not an Arrow stream \
                     (\"arrow_array_stream\"); pass a table, a RecordBatchReader or a DataFrame"
                ),
            ),
        ));
    }
    // SAFETY: the name is checked by PyCapsule_GetPointer; the pointer is a live stream.
    let ptr =
        unsafe { pyo3::ffi::PyCapsule_GetPointer(cap.as_ptr(), c"arrow_array_stream".as_ptr()) };
    if ptr.is_null() {
        return Err(PyErr::fetch(capsule.py()));
    }
    // SAFETY: a capsule named arrow_array_stream holds an ArrowArrayStream.
    Ok(unsafe { arrow::Stream::take(ptr as *mut arrow_array::ffi_stream::FFI_ArrowArrayStream) })
}

/// A saved model (`model.json`), scoring customers like `cardseg predict`.
#[pyclass(module = "cardseg._cardseg", frozen)]
pub(crate) struct Model {
    inner: Arc<CoreModel>,
    checksum: String,
    centers: Arc<Vec<f64>>,
}

impl Model {
    /// The library's model and its checksum.
    pub(crate) fn core(&self) -> (&CoreModel, &str) {
        (&self.inner, &self.checksum)
    }

    /// The library's model, for work on another thread.
    pub(crate) fn shared(&self) -> Arc<CoreModel> {
        Arc::clone(&self.inner)
    }

    pub(crate) fn wrap(inner: CoreModel, checksum: String) -> Self {
        let centers = Arc::new(inner.centers_flat());
        Model {
            inner: Arc::new(inner),
            checksum,
            centers,
        }
    }
}

/// Customers to score: a table already read from Python's Arrow stream, or a path or URL
/// read on the worker thread.
enum Customers {
    Read(Table),
    Source(Source, ReadSpec),
}

impl Customers {
    fn table(self) -> cardseg::Result<Table> {
        match self {
            Customers::Read(t) => Ok(t),
            Customers::Source(source, spec) => {
                source.check()?;
                cardseg::ingest::read(&source, &spec)
            }
        }
    }
}

impl Model {
    /// `data` (a path/URL str, or an Arrow stream capsule) for scoring: a stream is read
    /// here (Ctrl-C stops it), a path later by the scoring's worker.
    fn read(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        source_name: String,
        delimiter: Option<String>,
    ) -> PyResult<Customers> {
        let delimiter = segmentation::delimiter(delimiter.as_deref()).map_err(|e| to_py(py, e))?;
        let spec: ReadSpec = cardseg::predict::read_spec(&self.inner, delimiter);
        match data.extract::<String>() {
            Ok(input) => Ok(Customers::Source(Source::new(input), spec)),
            Err(_) => {
                let stream = take_stream(data)?;
                let signals = Signals::default();
                py.detach(|| arrow::read_table(stream, &source_name, &spec, &|| signals.poll()))
                    .map(Customers::Read)
                    .map_err(|e| signals.error(py, e))
            }
        }
    }
}

#[pymethods]
impl Model {
    /// Loads and verifies a model file (the checks and messages of `cardseg predict`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (m, c) = CoreModel::load(&path).map_err(|e| to_py(py, e))?;
        Ok(Model::wrap(m, c))
    }

    /// A model from the text of a model.json (how Spark ships it to executors).
    #[staticmethod]
    #[pyo3(signature = (text, shown="model.json"))]
    fn from_json(py: Python<'_>, text: &str, shown: &str) -> PyResult<Self> {
        let (m, c) = CoreModel::from_bytes(text.as_bytes(), shown).map_err(|e| to_py(py, e))?;
        Ok(Model::wrap(m, c))
    }

    /// The model file's text, as `cardseg run` writes it.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        self.inner
            .to_json()
            .map(|(t, _)| t)
            .map_err(|e| to_py(py, e))
    }

    /// The model as one SQL query (`cardseg export --format sql`): `dialect` is postgres,
    /// sqlite, duckdb, spark, bigquery or ansi; the customers come from `table` or from
    /// `query` (a SELECT used as a subquery).
    #[pyo3(signature = (dialect="ansi", table=None, query=None))]
    fn to_sql(
        &self,
        py: Python<'_>,
        dialect: &str,
        table: Option<String>,
        query: Option<String>,
    ) -> PyResult<String> {
        use cardseg::export::sql::{self, SqlOptions, SqlSource};
        let dialect = dialect
            .parse()
            .map_err(|m: String| to_py(py, Error::usage(m)))?;
        let source = match (table, query) {
            (Some(_), Some(_)) => {
                return Err(to_py(py, Error::usage("give table or query, not both")))
            }
            (_, Some(q)) => SqlSource::Query(q),
            (Some(t), None) => SqlSource::Table(t),
            (None, None) => SqlSource::Table(sql::DEFAULT_TABLE.to_string()),
        };
        sql::to_sql(&self.inner, &self.checksum, &SqlOptions { dialect, source })
            .map_err(|e| to_py(py, e))
    }

    /// The model as a PMML 4.4 document (`cardseg export --format pmml`).
    fn to_pmml(&self, py: Python<'_>) -> PyResult<String> {
        cardseg::export::pmml::to_pmml(&self.inner, &self.checksum).map_err(|e| to_py(py, e))
    }

    /// Distance percentile above which a customer is an outlier (`run --outlier-percentile`).
    #[getter]
    fn outlier_percentile(&self) -> f64 {
        self.inner.outlier_percentile
    }
    #[getter]
    fn checksum(&self) -> &str {
        &self.checksum
    }
    #[getter]
    fn features(&self) -> Vec<String> {
        self.inner.features.clone()
    }
    #[getter]
    fn profile_features(&self) -> Vec<String> {
        self.inner.profile_features.clone()
    }
    #[getter]
    fn id_column(&self) -> Option<String> {
        self.inner.id_column.clone()
    }
    #[getter]
    fn k(&self) -> usize {
        self.inner.k
    }
    /// Segment ids (1-based, in segment order).
    #[getter]
    fn segment_ids(&self) -> Vec<u64> {
        self.inner.segments.iter().map(|s| s.id as u64).collect()
    }
    #[getter]
    fn segment_names(&self) -> Vec<String> {
        self.inner.segments.iter().map(|s| s.name.clone()).collect()
    }
    /// Centroids in the features' own units, one list per segment.
    #[getter]
    fn centroids(&self) -> Vec<Vec<f64>> {
        self.inner.centroids.clone()
    }
    /// Centroids in the scaled space the distances are measured in.
    #[getter]
    fn centroids_scaled(&self) -> Vec<Vec<f64>> {
        self.inner.centroids_scaled.clone()
    }
    #[getter]
    fn inertia(&self) -> f64 {
        self.inner.inertia
    }

    /// Scores `data` (a path/URL str, or an Arrow stream capsule) like `cardseg predict`.
    /// Returns `(ids_offsets, ids_data, segments)` as bytes: the customer ids as an Arrow
    /// large-string array (int64 offsets, UTF-8 data) and the 0-based segment index of
    /// each customer as int32, -1 where a feature is missing and the model drops such
    /// customers.
    #[pyo3(signature = (data, source_name, delimiter=None, distances=false))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        source_name: String,
        delimiter: Option<String>,
        distances: bool,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let customers = self.read(py, data, source_name, delimiter)?;
        let (model, centers) = (self.shared(), Arc::clone(&self.centers));
        let cancel = Cancel::default();
        let stop = cancel.clone();
        let (offsets, text, labels, dist) =
            interruptible(py, cancel, move || -> cardseg::Result<_> {
                let table = customers.table()?;
                stop.check()?;
                let cols = cardseg::predict::feature_columns(&model, &table)?;
                stop.check()?;
                let s = cardseg::predict::score_columns(&model, &centers, cols, distances);
                stop.check()?;
                let n = table.rows();
                let mut offsets = Vec::with_capacity((n + 1) * 8);
                let mut text = Vec::new();
                offsets.extend_from_slice(&0i64.to_le_bytes());
                for id in table.ids.iter() {
                    text.extend_from_slice(id.as_bytes());
                    offsets.extend_from_slice(&(text.len() as i64).to_le_bytes());
                }
                let mut labels = Vec::with_capacity(n * 4);
                for l in &s.labels {
                    labels.extend_from_slice(&l.map(|v| v as i32).unwrap_or(-1).to_le_bytes());
                }
                // With `distances`: per customer the distance to its centroid, the
                // second-nearest distance and the distance's percentile among the segment's
                // training customers (`lifecycle::outliers`, as labels.csv); NaN when unknown.
                let mut dist = Vec::with_capacity(s.distances.len() * 24);
                for (l, (a, b)) in s.labels.iter().zip(&s.distances) {
                    let pct = l
                        .and_then(|l| Outlier::of(&model, l as usize, *a).percentile)
                        .unwrap_or(f64::NAN);
                    dist.extend_from_slice(&a.to_le_bytes());
                    dist.extend_from_slice(&b.to_le_bytes());
                    dist.extend_from_slice(&pct.to_le_bytes());
                }
                Ok((offsets, text, labels, dist))
            })?;
        pyo3::types::PyTuple::new(
            py,
            [
                PyBytes::new(py, &offsets),
                PyBytes::new(py, &text),
                PyBytes::new(py, &labels),
                PyBytes::new(py, &dist),
            ],
        )
    }

    /// Scores `data` like `cardseg predict` and returns its labels as an Arrow C stream
    /// capsule: id, segment (int32), segment_name and, with `outliers`, distance,
    /// distance_percentile and outlier (the rule of `lifecycle::outliers`), nulls where
    /// a customer was not scored.
    #[pyo3(signature = (data, source_name, delimiter=None, outliers=true))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        source_name: String,
        delimiter: Option<String>,
        outliers: bool,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let customers = self.read(py, data, source_name, delimiter)?;
        let (model, centers) = (self.shared(), Arc::clone(&self.centers));
        let cancel = Cancel::default();
        let stop = cancel.clone();
        let batch = interruptible(py, cancel, move || -> cardseg::Result<_> {
            let table = customers.table()?;
            stop.check()?;
            let cols = cardseg::predict::feature_columns(&model, &table)?;
            stop.check()?;
            let s = cardseg::predict::score_columns(&model, &centers, cols, outliers);
            stop.check()?;
            let labels = cardseg::labels::Labels::per_row(&table.ids, &s.labels);
            stop.check()?;
            let outlier_of = |l: &cardseg::labels::Label| {
                Outlier::of(
                    &model,
                    l.segment.unwrap_or(0) as usize,
                    s.distances[l.row].0,
                )
            };
            labels::batch(&model, &labels, &outlier_of, outliers)
                .map_err(|e| Error::usage(format!("cannot build the labels: {e}")))
        })?;
        labels::capsule(py, batch)
    }

    /// The distance of each customer of `data` (an Arrow stream capsule) to each centroid,
    /// in the scaled space where segments are assigned: the saved fill values, the scaler
    /// and the library's distance (`cluster::distance`, the kernels' own). Row-major
    /// float64 bytes, k per customer; NaN rows where a feature is missing and the model
    /// drops such customers.
    fn distances<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        source_name: String,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let spec = cardseg::predict::read_spec(&self.inner, None);
        let stream = take_stream(data)?;
        let signals = Signals::default();
        let bytes = py
            .detach(|| -> cardseg::Result<Vec<u8>> {
                let table = arrow::read_table(stream, &source_name, &spec, &|| signals.poll())?;
                let mut cols = cardseg::predict::feature_columns(&self.inner, &table)?;
                let mut unscorable = vec![false; table.rows()];
                for (f, values) in self.inner.features.iter().zip(cols.iter_mut()) {
                    match self.inner.fill_value(f) {
                        Some(fill) => cardseg::clean::apply_fill(values, fill),
                        None => values
                            .iter()
                            .zip(unscorable.iter_mut())
                            .for_each(|(v, u)| *u |= v.is_nan()),
                    }
                }
                let views: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
                let x = self.inner.scaler.transform_columns(&views);
                let d = x.d;
                let mut out = Vec::with_capacity(x.n * self.inner.k * 8);
                for (i, u) in unscorable.iter().enumerate() {
                    for c in self.centers.chunks_exact(d) {
                        let v = if *u {
                            f64::NAN
                        } else {
                            cardseg::cluster::distance(x.row(i), c)
                        };
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Ok(out)
            })
            .map_err(|e| signals.error(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __repr__(&self) -> String {
        format!(
            "cardseg.Model(k={}, features={:?}, checksum={:?})",
            self.inner.k, self.inner.features, self.checksum
        )
    }
}

/// Silences (or restores) the progress bars the library draws on a terminal's stderr.
#[pyfunction]
fn set_quiet(quiet: bool) {
    cardseg::progress::set_quiet(quiet);
}

/// The native module.
#[pymodule]
fn _cardseg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(segmentation::run, m)?)?;
    m.add_function(wrap_pyfunction!(segmentation::defaults, m)?)?;
    m.add_class::<segmentation::Segmentation>()?;
    m.add_function(wrap_pyfunction!(set_quiet, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::compare, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::drift, m)?)?;
    m.add_function(wrap_pyfunction!(lifecycle::drift_gates, m)?)?;
    spark::register(m)?;
    m.add_class::<Model>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "SILHOUETTE_EXACT_MAX",
        cardseg::cluster::silhouette::EXACT_MAX_ROWS,
    )?;
    m.add(
        "SILHOUETTE_SAMPLE",
        cardseg::cluster::silhouette::SAMPLE_SIZE,
    )?;
    m.add("DEFAULT_FEATURES", cardseg::DEFAULT_FEATURES.to_vec())?;
    m.add(
        "DEFAULT_PROFILE_FEATURES",
        cardseg::DEFAULT_PROFILE_FEATURES.to_vec(),
    )?;
    m.add("DEFAULT_ID_COLUMN", cardseg::DEFAULT_ID_COLUMN)?;
    Ok(())
}
