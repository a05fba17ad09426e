//! `cardseg._cardseg.Segmentation`: a run's result held in memory, as the library made it
//! (`run::segment`). Its tables reach Python as Arrow arrays or plain values built from
//! the segmentation itself; files are written only when asked (`write`), through the
//! same sinks as `cardseg run --out`, so they are the CLI's bytes.

use std::path::PathBuf;

use cardseg::clean::MissingPolicy;
use cardseg::cluster::select_k::KRule;
use cardseg::error::Error;
use cardseg::ingest::{IdSpec, Source};
use cardseg::report::summary::Summary;
use cardseg::run::{KChoice, RunConfig};
use cardseg::scale::ScalerKind;
use cardseg::segmentation::{Segmentation as CoreSegmentation, Sink};
use cardseg::writeback::{LabelTable, LabelTarget, LabelWriter};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList, PyTuple};

use crate::{interruptible, take_stream, to_py, Model, Signals};

/// Every keyword of `cardseg.run` with its default: the CLI's (`RunConfig::new`,
/// `Source::new`), so Python and the command line share one set of defaults.
#[pyfunction]
pub fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let cfg = RunConfig::new("", "");
    let src = Source::new("");
    let d = PyDict::new(py);
    let none = py.None();
    d.set_item("features", cfg.features.clone())?;
    d.set_item("profile_features", cfg.profile_features.clone())?;
    d.set_item("id_column", &none)?;
    d.set_item("no_id", false)?;
    d.set_item("missing", cfg.missing.to_string())?;
    d.set_item("k", cfg.k.to_string())?;
    d.set_item("k_min", cfg.k_min)?;
    d.set_item("k_max", cfg.k_max)?;
    d.set_item("k_rule", cfg.k_rule.to_string())?;
    d.set_item("n_init", cfg.n_init)?;
    d.set_item("seed", cfg.seed)?;
    d.set_item("naming_rules", &none)?;
    d.set_item("raw_csv", cfg.raw_csv)?;
    d.set_item(
        "full_precision",
        cfg.precision == cardseg::text::Precision::Full,
    )?;
    d.set_item("labels_format", cfg.labels_format.to_string())?;
    d.set_item("silhouette_exact_max", cfg.silhouette_exact_max)?;
    d.set_item("silhouette_sample", cfg.silhouette_sample)?;
    d.set_item("delimiter", &none)?;
    d.set_item("dashboard", cfg.dashboard)?;
    d.set_item("out", &none)?;
    d.set_item("force", cfg.force)?;
    d.set_item("scaler", cfg.scaler.to_string())?;
    d.set_item("categorical", &none)?;
    d.set_item("additive", &none)?;
    d.set_item("previous", &none)?;
    d.set_item("outlier_percentile", cfg.outlier_percentile)?;
    d.set_item("train_sample", &none)?;
    d.set_item("outcome", &none)?;
    d.set_item("stability_resamples", cfg.stability_resamples)?;
    d.set_item("stability_sample", cfg.stability_sample)?;
    d.set_item("stability_detail", cfg.stability_detail)?;
    d.set_item("table", &none)?;
    d.set_item("query", &none)?;
    d.set_item("token_env", &none)?;
    d.set_item("timeout_secs", src.timeout.as_secs())?;
    d.set_item("max_download_mb", src.max_bytes >> 20)?;
    d.set_item("max_pages", src.max_pages)?;
    d.set_item("max_total_download_mb", src.max_total_bytes >> 20)?;
    d.set_item("total_timeout_secs", src.total_timeout.as_secs())?;
    d.set_item("max_columns", src.limits.max_columns)?;
    d.set_item("max_record_mb", src.limits.max_record_bytes >> 20)?;
    d.set_item("write_labels", &none)?;
    d.set_item("labels_table", cardseg::writeback::DEFAULT_TABLE)?;
    Ok(d)
}

/// `delimiter=`: one character, or "tab"; the one check of `run`, `predict` and `drift`.
pub(crate) fn delimiter(d: Option<&str>) -> cardseg::Result<Option<u8>> {
    match d {
        None => Ok(None),
        Some("tab") | Some("\t") => Ok(Some(b'\t')),
        Some(d) if d.len() == 1 => Ok(Some(d.as_bytes()[0])),
        Some(d) => Err(Error::usage(format!(
            "delimiter must be one character (or \"tab\"), not {d:?}"
        ))),
    }
}

/// The keywords of one call, taken one by one; what is left over is a usage error.
struct Options<'py> {
    d: Bound<'py, PyDict>,
}

impl<'py> Options<'py> {
    fn usage(&self, m: String) -> PyErr {
        to_py(self.d.py(), Error::usage(m))
    }

    /// The value of `key` (None when absent or None), removed from the rest.
    fn take(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let v = self.d.get_item(key)?;
        self.d.del_item(key).ok();
        Ok(v.filter(|v| !v.is_none()))
    }

    fn wrong(&self, key: &str, what: &str, v: &Bound<'py, PyAny>) -> PyErr {
        let shown = v.repr().map(|r| r.to_string()).unwrap_or_default();
        self.usage(format!("{key} takes {what}, not {shown}"))
    }

    fn string(&self, key: &str) -> PyResult<Option<String>> {
        match self.take(key)? {
            None => Ok(None),
            Some(v) => match v.extract::<String>() {
                Ok(s) => Ok(Some(s)),
                Err(_) => match v.call_method0("__fspath__") {
                    Ok(p) => p
                        .extract::<String>()
                        .map(Some)
                        .map_err(|_| self.wrong(key, "a string", &v)),
                    Err(_) => Err(self.wrong(key, "a string", &v)),
                },
            },
        }
    }

    /// A path: a str or os.PathLike, any name the file system allows (not only UTF-8).
    fn path(&self, key: &str) -> PyResult<Option<PathBuf>> {
        match self.take(key)? {
            None => Ok(None),
            Some(v) => v
                .extract::<PathBuf>()
                .map(Some)
                .map_err(|_| self.wrong(key, "a path", &v)),
        }
    }

    fn flag(&self, key: &str, default: bool) -> PyResult<bool> {
        match self.take(key)? {
            None => Ok(default),
            Some(v) => v
                .cast::<pyo3::types::PyBool>()
                .map(|b| b.is_true())
                .map_err(|_| self.wrong(key, "True or False", &v)),
        }
    }

    fn whole(&self, key: &str) -> PyResult<Option<u64>> {
        match self.take(key)? {
            None => Ok(None),
            Some(v) if v.is_instance_of::<pyo3::types::PyBool>() => {
                Err(self.wrong(key, "a whole number", &v))
            }
            Some(v) => v
                .extract::<u64>()
                .map(Some)
                .map_err(|_| self.wrong(key, "a whole number", &v)),
        }
    }

    /// A whole number between `lo` and `hi`, the bounds of the CLI flag.
    fn bounded(&self, key: &str, lo: u64, hi: u64) -> PyResult<Option<u64>> {
        match self.whole(key)? {
            Some(n) if n < lo || n > hi => {
                Err(self.usage(format!("{key}={n}: give a number from {lo} to {hi}")))
            }
            n => Ok(n),
        }
    }

    fn number(&self, key: &str) -> PyResult<Option<f64>> {
        match self.take(key)? {
            None => Ok(None),
            Some(v) if v.is_instance_of::<pyo3::types::PyBool>() => {
                Err(self.wrong(key, "a number", &v))
            }
            Some(v) => v
                .extract::<f64>()
                .map(Some)
                .map_err(|_| self.wrong(key, "a number", &v)),
        }
    }

    /// A column list: a comma-separated string or a sequence of names.
    fn columns(&self, key: &str) -> PyResult<Option<Vec<String>>> {
        match self.take(key)? {
            None => Ok(None),
            Some(v) => {
                if let Ok(s) = v.extract::<String>() {
                    if s.trim().is_empty() {
                        return Ok(Some(Vec::new()));
                    }
                    return cardseg::text::column_list(&s)
                        .map(Some)
                        .map_err(|m| self.usage(format!("{key}: {m}")));
                }
                v.extract::<Vec<String>>().map(Some).map_err(|_| {
                    self.wrong(key, "column names (a list, or one string with commas)", &v)
                })
            }
        }
    }

    fn parsed<T: std::str::FromStr<Err = String>>(&self, key: &str) -> PyResult<Option<T>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => s.parse::<T>().map(Some).map_err(|m| self.usage(m)),
        }
    }

    /// Refuses keywords nobody took.
    fn finish(self) -> PyResult<()> {
        if let Some((k, _)) = self.d.iter().next() {
            return Err(self.usage(format!("cardseg.run() got an unknown keyword {k}")));
        }
        Ok(())
    }
}

/// What `cardseg.run` was asked: the run's configuration, where to write it (if
/// anywhere) and the label table.
pub(crate) struct Request {
    pub(crate) cfg: RunConfig,
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn request(
    py: Python<'_>,
    input: String,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Request> {
    let o = Options {
        d: options
            .map(|d| d.copy())
            .transpose()?
            .unwrap_or_else(|| PyDict::new(py)),
    };
    let mut cfg = RunConfig::new(input, "");
    if let Some(f) = o.columns("features")? {
        cfg.features = f;
    }
    if let Some(f) = o.columns("profile_features")? {
        cfg.profile_features = f;
    }
    let id_column = o.string("id_column")?;
    let no_id = o.flag("no_id", false)?;
    if no_id && id_column.is_some() {
        return Err(o.usage("give id_column or no_id=True, not both".into()));
    }
    cfg.id = IdSpec::from_flags(id_column.as_deref(), no_id).unwrap_or_else(IdSpec::default_column);
    if let Some(m) = o.parsed::<MissingPolicy>("missing")? {
        cfg.missing = m;
    }
    if let Some(k) = o.take("k")? {
        cfg.k = if k.is_instance_of::<pyo3::types::PyBool>() {
            return Err(o.wrong("k", "\"auto\" or a whole number", &k));
        } else if let Ok(n) = k.extract::<usize>() {
            KChoice::Fixed(n)
        } else if let Ok(s) = k.extract::<String>() {
            s.parse().map_err(|m| o.usage(m))?
        } else {
            return Err(o.wrong("k", "\"auto\" or a whole number", &k));
        };
    }
    let size = |v: Option<u64>, d: usize| v.map_or(d, |n| n as usize);
    cfg.k_min = size(o.whole("k_min")?, cfg.k_min);
    cfg.k_max = size(o.whole("k_max")?, cfg.k_max);
    if let Some(r) = o.parsed::<KRule>("k_rule")? {
        cfg.k_rule = r;
    }
    cfg.n_init = size(o.bounded("n_init", 1, 1_000)?, cfg.n_init);
    cfg.seed = o.whole("seed")?.unwrap_or(cfg.seed);
    cfg.naming_rules = o.path("naming_rules")?;
    cfg.raw_csv = o.flag("raw_csv", cfg.raw_csv)?;
    if o.flag("full_precision", false)? {
        cfg.precision = cardseg::text::Precision::Full;
    }
    if let Some(f) = o.parsed::<cardseg::report::files::LabelsFormat>("labels_format")? {
        cfg.labels_format = f;
    }
    cfg.silhouette_exact_max = size(
        o.bounded("silhouette_exact_max", 0, 200_000)?,
        cfg.silhouette_exact_max,
    );
    cfg.silhouette_sample = size(
        o.bounded("silhouette_sample", 100, 1_000_000)?,
        cfg.silhouette_sample,
    );
    cfg.delimiter = delimiter(o.string("delimiter")?.as_deref()).map_err(|e| to_py(py, e))?;
    cfg.dashboard = o.flag("dashboard", cfg.dashboard)?;
    let out = o.path("out")?;
    cfg.force = o.flag("force", cfg.force)?;
    if let Some(s) = o.parsed::<ScalerKind>("scaler")? {
        cfg.scaler = s;
    }
    cfg.categorical = o.columns("categorical")?;
    cfg.additive = o.columns("additive")?;
    cfg.previous = o.path("previous")?;
    if let Some(p) = o.number("outlier_percentile")? {
        cfg.outlier_percentile = p;
    }
    cfg.train_sample = o.whole("train_sample")?.map(|n| n as usize);
    cfg.outcome = o.columns("outcome")?.unwrap_or_default();
    cfg.stability_resamples = size(
        o.bounded("stability_resamples", 0, 1_000)?,
        cfg.stability_resamples,
    );
    cfg.stability_sample = size(o.whole("stability_sample")?, cfg.stability_sample);
    cfg.stability_detail = o.flag("stability_detail", cfg.stability_detail)?;
    let src = &mut cfg.source;
    src.table = o.string("table")?;
    src.query = o.string("query")?;
    if src.table.is_some() && src.query.is_some() {
        return Err(o.usage("give table or query, not both".into()));
    }
    src.token_env = o.string("token_env")?;
    let secs = |v: Option<u64>, d: std::time::Duration| v.map_or(d, std::time::Duration::from_secs);
    let timeout = o.whole("timeout_secs")?;
    src.timeout = secs(timeout, src.timeout);
    if let Some(mb) = o.whole("max_download_mb")? {
        src.max_bytes = mb.saturating_mul(1 << 20);
    }
    src.max_pages = o
        .bounded("max_pages", 1, u64::MAX)?
        .unwrap_or(src.max_pages);
    if let Some(mb) = o.bounded("max_total_download_mb", 1, u64::MAX)? {
        src.max_total_bytes = mb.saturating_mul(1 << 20);
    }
    src.total_timeout = secs(
        o.bounded("total_timeout_secs", 1, u64::MAX)?,
        src.total_timeout,
    );
    src.limits.max_columns = size(
        o.bounded("max_columns", 1, 1_000_000)?,
        src.limits.max_columns,
    );
    if let Some(mb) = o.bounded("max_record_mb", 1, 4096)? {
        src.limits.max_record_bytes = mb << 20;
    }
    let write_labels = o.string("write_labels")?;
    let labels_table = o.string("labels_table")?;
    let default_table = cardseg::writeback::DEFAULT_TABLE;
    if write_labels.is_none() && labels_table.as_deref().is_some_and(|t| t != default_table) {
        return Err(
            o.usage("labels_table is the table of write_labels; give write_labels too".into())
        );
    }
    cfg.write_labels = write_labels.map(|url| LabelTarget {
        url,
        table: labels_table.unwrap_or_else(|| cardseg::writeback::DEFAULT_TABLE.to_string()),
        timeout: timeout.map_or(std::time::Duration::from_secs(60), |s| {
            std::time::Duration::from_secs(s.max(1))
        }),
    });
    o.finish()?;
    Ok(Request { cfg, out })
}

/// Segments `data` (a path or URL str read by the CLI's ingest, or an Arrow stream
/// capsule named `source_name`) in memory with the keywords of `cardseg run`. With `out`,
/// the files are written there like `cardseg run --out` (refused before any work when
/// `out` exists without `force`, or is, holds or sits inside something the run reads);
/// with `write_labels`, the labels go to that table.
#[pyfunction]
#[pyo3(signature = (data, source_name, **options))]
pub fn run(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    source_name: String,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Segmentation> {
    let input = data.extract::<String>().ok();
    let Request { cfg, out } = request(py, input.clone().unwrap_or_default(), options)?;
    let err = |e| to_py(py, e);
    cfg.check().map_err(err)?;
    if input.is_some() {
        cfg.source.check().map_err(err)?;
    } else {
        only_for_sources(&cfg).map_err(err)?;
    }
    if let Some(out) = &out {
        // Refused before any work, as the CLI does; checked again at the write.
        cardseg::output::check_output(out, cfg.force, &inputs(&cfg)).map_err(err)?;
    }
    // Connect to the label database before any work: a wrong URL fails fast.
    let writer = match &cfg.write_labels {
        Some(t) => {
            let t = t.clone();
            Some(py.detach(move || LabelWriter::connect(&t)).map_err(err)?)
        }
        None => None,
    };
    let stream = match input {
        Some(_) => None,
        None => Some(take_stream(data)?),
    };
    let table = match stream {
        // Read on this thread (the stream's release may need Python).
        Some(stream) => {
            let spec = cfg.read_spec();
            let signals = Signals::default();
            Some(
                py.detach(|| {
                    crate::arrow::read_with_categories(stream, &source_name, &spec, true, &|| {
                        signals.poll()
                    })
                })
                .map_err(|e| signals.error(py, e))?,
            )
        }
        None => None,
    };
    let (cfg, segmented) = interruptible(py, cfg.cancel.clone(), move || {
        let s = match table {
            Some((t, categories)) => {
                cardseg::run::segment_with_categories(&cfg, t, Some(categories))?
            }
            None => {
                cardseg::run::segment(&cfg, cardseg::ingest::read(&cfg.source, &cfg.read_spec())?)?
            }
        };
        Ok((cfg, s))
    })?;
    let summary = Summary::build(&segmented.segmentation);
    let seg = Segmentation {
        seg: segmented.segmentation,
        timings: segmented.timings.0,
        summary,
        cfg,
    };
    match &out {
        Some(out) => {
            let force = seg.cfg.force;
            py.detach(|| seg.write_files(out, force, writer))
                .map_err(err)?;
        }
        None => {
            if let Some(w) = writer {
                py.detach(|| LabelTable::new(w).publish(&seg.seg))
                    .map_err(err)?;
            }
        }
    }
    Ok(seg)
}

/// Refuses the keywords of reading a file, database or URL for data given as a frame,
/// where they would be ignored.
fn only_for_sources(cfg: &RunConfig) -> cardseg::Result<()> {
    let (src, d) = (&cfg.source, Source::new(""));
    let given: Vec<&str> = [
        ("table", src.table.is_some()),
        ("query", src.query.is_some()),
        ("token_env", src.token_env.is_some()),
        ("delimiter", cfg.delimiter.is_some()),
        ("max_download_mb", src.max_bytes != d.max_bytes),
        ("max_pages", src.max_pages != d.max_pages),
        (
            "max_total_download_mb",
            src.max_total_bytes != d.max_total_bytes,
        ),
        ("total_timeout_secs", src.total_timeout != d.total_timeout),
        (
            "max_columns",
            src.limits.max_columns != d.limits.max_columns,
        ),
        (
            "max_record_mb",
            src.limits.max_record_bytes != d.limits.max_record_bytes,
        ),
    ]
    .into_iter()
    .filter_map(|(k, g)| g.then_some(k))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{} {} only to database, HTTP and CSV sources, not to a DataFrame or Arrow data; leave {} out",
        given.join(", "),
        if given.len() == 1 { "applies" } else { "apply" },
        if given.len() == 1 { "it" } else { "them" }
    )))
}

/// What the run read (the source, unless a table came from Python; the naming rules,
/// the previous model and its labels, a label database): its output may not be, hold or
/// sit inside any of them.
fn inputs(cfg: &RunConfig) -> cardseg::output::Inputs {
    if cfg.source.input.is_empty() {
        cfg.inputs_besides_source()
    } else {
        cfg.inputs()
    }
}

/// A segmentation made by `cardseg.run`, in memory.
#[pyclass(module = "cardseg._cardseg", frozen)]
pub struct Segmentation {
    pub(crate) seg: CoreSegmentation,
    pub(crate) summary: Summary,
    pub(crate) cfg: RunConfig,
    pub(crate) timings: Vec<(&'static str, f64)>,
}

impl Segmentation {
    /// The library's segmentation.
    pub(crate) fn core(&self) -> &CoreSegmentation {
        &self.seg
    }

    /// The run's files in `out`, staged and committed together (and the labels in the
    /// label table first, so a failed write-back leaves no output either).
    fn write_files(
        &self,
        out: &std::path::Path,
        force: bool,
        writer: Option<LabelWriter>,
    ) -> cardseg::Result<PathBuf> {
        let dir = cardseg::output::OutputDir::create(out, force, &inputs(&self.cfg))?;
        let mut files = cardseg::run::run_files(&self.cfg, &dir, &self.summary);
        cardseg::run::publish_side_by_side(&self.seg, &mut files)?;
        drop(files);
        if let Some(w) = writer {
            LabelTable::new(w).publish(&self.seg)?;
        }
        dir.commit()
    }
}

#[pymethods]
impl Segmentation {
    /// Writes the run's files into the new directory `out`, byte for byte what
    /// `cardseg run --out` writes for the same data and keywords.
    #[pyo3(signature = (out, force=false))]
    fn write(&self, py: Python<'_>, out: PathBuf, force: bool) -> PyResult<PathBuf> {
        py.detach(|| self.write_files(&out, force, None))
            .map_err(|e| to_py(py, e))
    }

    /// The labels (labels.csv's columns: id as text, segment, segment_name, distance,
    /// distance_percentile, outlier; every input row in input order, nulls for a customer
    /// dropped for a missing value) as an Arrow C stream capsule.
    fn labels_arrow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let s = &self.seg;
        let batch = py
            .detach(|| crate::labels::batch(&s.model, &s.labels(), &|l| s.outlier(l.scored), true))
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        crate::labels::capsule(py, batch)
    }

    /// summary.json's text.
    fn summary_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.summary).map_err(|e| {
            to_py(
                py,
                Error::usage(format!("cannot serialize the summary: {e}")),
            )
        })
    }

    /// summary.md's text.
    fn summary_markdown(&self, py: Python<'_>) -> PyResult<String> {
        let mut text = Vec::new();
        cardseg::report::summary::write_markdown(&mut text, &self.summary)
            .map_err(|e| to_py(py, Error::usage(format!("cannot render the summary: {e}"))))?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// The segment profile (segments.csv's table): `(header, rows)`, numbers as numbers,
    /// None where a figure is undefined.
    fn segments_table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        use cardseg::report::files::ProfileCell;
        let (header, rows) = cardseg::report::files::segments_table(&self.seg);
        let out = PyList::empty(py);
        for row in rows {
            let cells = PyList::empty(py);
            for c in row {
                match c {
                    ProfileCell::Int(v) => cells.append(v)?,
                    ProfileCell::Num(v) => cells.append(v)?,
                    ProfileCell::Text(t) => cells.append(t)?,
                }
            }
            out.append(cells)?;
        }
        PyTuple::new(py, [header.into_pyobject(py)?.into_any(), out.into_any()])
    }

    /// The k sweep (k_selection.csv's rows): `(k, inertia, silhouette, method, std_error,
    /// sample_size, chosen)`.
    #[allow(clippy::type_complexity)]
    fn k_selection(&self) -> Vec<(usize, f64, f64, String, Option<f64>, u64, bool)> {
        let m = &self.seg.model;
        m.k_selection
            .sweep
            .iter()
            .map(|r| {
                (
                    r.k,
                    r.inertia,
                    r.silhouette.value,
                    r.silhouette.method.to_string(),
                    r.silhouette.std_error,
                    r.silhouette.sample_size,
                    r.k == m.k,
                )
            })
            .collect()
    }

    /// The saved model of this run (what model.json holds).
    fn model(&self) -> Model {
        Model::wrap(self.seg.model.clone(), self.seg.checksum.clone())
    }

    /// Whether the run makes a dashboard (`dashboard=False` turns it off).
    #[getter]
    fn has_dashboard(&self) -> bool {
        self.cfg.dashboard
    }

    /// dashboard.html's text, rendered in memory.
    fn dashboard_html(&self, py: Python<'_>) -> PyResult<String> {
        if !self.cfg.dashboard {
            return Err(to_py(
                py,
                Error::usage("this run has no dashboard (it was run with dashboard=False)"),
            ));
        }
        let mut page = Vec::new();
        py.detach(|| {
            cardseg::dashboard::render(
                &mut page,
                &self.seg,
                &self.summary,
                std::path::Path::new("dashboard.html"),
            )
        })
        .map_err(|e| to_py(py, e))?;
        Ok(String::from_utf8_lossy(&page).into_owned())
    }

    /// Customers per segment, in segment order.
    fn segment_customers(&self) -> Vec<u64> {
        self.seg
            .model
            .segments
            .iter()
            .map(|s| s.customers)
            .collect()
    }

    /// Wall-clock seconds of each stage (what `cardseg run --timings` prints).
    fn timings(&self) -> Vec<(&'static str, f64)> {
        self.timings.clone()
    }
}
