//! `cardseg.compare` and `cardseg.drift`: the library's migration and drift reports
//! (`lifecycle::migration`, `lifecycle::drift`) for Python. Each returns the report as the
//! JSON text the CLI writes (migration.json, drift.json: the report struct serialized by
//! serde, so every field the library adds reaches Python unchanged) and its text for people.

use std::path::{Path, PathBuf};

use cardseg::error::{Error, Param};
use cardseg::ingest::{IdSpec, ReadSpec, Source};
use cardseg::lifecycle::drift::{self as drift_report, DriftJob};
use cardseg::lifecycle::migration::{self, LabelRecord, Migration};
use cardseg::lifecycle::outcomes::{self, RunOutcomes};
use pyo3::prelude::*;

use crate::segmentation::Segmentation;
use crate::{interruptible, take_stream, to_py, Model, Signals};

fn json<T: serde::Serialize>(py: Python<'_>, v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| {
        to_py(
            py,
            Error::usage(format!("cannot serialize the report: {e}")),
        )
    })
}

/// One side of a comparison: a run directory or labels file, or a run in memory.
pub enum Side {
    Path(PathBuf),
    Run(Py<Segmentation>),
}

impl<'py> FromPyObject<'_, 'py> for Side {
    type Error = PyErr;

    fn extract(ob: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = ob.cast::<Segmentation>() {
            return Ok(Side::Run(s.to_owned().unbind()));
        }
        ob.extract::<PathBuf>().map(Side::Path).map_err(|_| {
            to_py(
                ob.py(),
                Error::usage("compare takes run directories, labels files or cardseg.run results"),
            )
        })
    }
}

impl Side {
    /// The checksum of the model the side's labels came from, when known.
    fn model_checksum(&self) -> Option<String> {
        match self {
            Side::Run(s) => s.get().core().model.to_json().ok().map(|(_, c)| c),
            Side::Path(p) => cardseg::output::model_checksum_of(&migration::labels_path(p)),
        }
    }

    /// (name, labels, outcomes) of an in-memory run; None for a path.
    fn records(&self, shown: &str) -> Option<(String, Vec<LabelRecord>, RunOutcomes)> {
        let Side::Run(s) = self else { return None };
        let seg = s.get().core();
        let names: Vec<&str> = seg.model.segments.iter().map(|s| s.name.as_str()).collect();
        let labels = seg
            .labels()
            .iter()
            .map(|l| {
                let seg = l.segment.map(|i| {
                    let m = &seg.model.segments[i as usize];
                    (m.id, m.name.clone())
                });
                (l.id.to_string(), seg)
            })
            .collect();
        Some((
            shown.to_string(),
            labels,
            RunOutcomes::of(&seg.profile, &names),
        ))
    }
}

/// The migration from `before` to `after` (run directories, labels files or runs in
/// memory): `(migration.json's text, the summary lines cardseg compare prints)`. With
/// `out`, migration.csv and migration.json are written there as `cardseg compare --out`
/// writes them.
#[pyfunction]
#[pyo3(signature = (before, after, out=None, force=false))]
pub fn compare(
    py: Python<'_>,
    before: Side,
    after: Side,
    out: Option<PathBuf>,
    force: bool,
) -> PyResult<(String, String)> {
    let err = |e| to_py(py, e);
    let m: Migration = match (&before, &after) {
        (Side::Path(b), Side::Path(a)) => match &out {
            Some(o) => py
                .detach(|| migration::compare(b, a, o, force))
                .map_err(err)?,
            None => py.detach(|| migration::between(b, a)).map_err(err)?,
        },
        _ => {
            let side = |s: &Side, shown: &str| -> cardseg::Result<_> {
                match s.records(shown) {
                    Some(r) => Ok((r.0, r.1, Some(r.2))),
                    None => {
                        let Side::Path(p) = s else { unreachable!() };
                        let p = migration::labels_path(p);
                        let beside = p.parent().unwrap_or(Path::new(".")).join("segments.json");
                        Ok((
                            p.display().to_string(),
                            migration::read_labels(&p)?,
                            RunOutcomes::read(&beside)?,
                        ))
                    }
                }
            };
            let (nb, lb, ob) = side(&before, "before").map_err(err)?;
            let (na, la, oa) = side(&after, "after").map_err(err)?;
            let mut m = py
                .detach(|| migration::migrate(&nb, &lb, &na, &la))
                .map_err(err)?;
            if let (Some(ob), Some(oa)) = (ob, oa) {
                m.outcomes = outcomes::compare(&ob, &oa);
            }
            m.model_checksum_before = before.model_checksum();
            m.model_checksum_after = after.model_checksum();
            if let Some(o) = &out {
                let dir =
                    cardseg::output::OutputDir::create(o, force, &cardseg::output::Inputs::none())
                        .map_err(err)?;
                dir.mark(&cardseg::output::Provenance::new(
                    "compare",
                    m.model_checksum_after.as_deref(),
                ))
                .map_err(err)?;
                migration::write_files(&dir, &m, false).map_err(err)?;
                dir.commit().map_err(err)?;
            }
            m
        }
    };
    Ok((json(py, &m)?, migration::describe(&m)))
}

/// The drift of `data` (a path or URL, or an Arrow stream capsule named `source_name`)
/// against `model`'s training distributions: `(drift.json's text, drift.md's text)`, as
/// `cardseg drift` reports them. `model_path` is the model file when it was loaded from
/// one (messages name it; `out` may not be it).
#[pyfunction]
#[pyo3(signature = (model, data, source_name, model_path=None, fail_above=None, delimiter=None, out=None, force=false, gates=None))]
#[allow(clippy::too_many_arguments)]
pub fn drift(
    py: Python<'_>,
    model: &Model,
    data: &Bound<'_, PyAny>,
    source_name: String,
    model_path: Option<PathBuf>,
    fail_above: Option<f64>,
    delimiter: Option<String>,
    out: Option<PathBuf>,
    force: bool,
    gates: Option<std::collections::HashMap<String, f64>>,
) -> PyResult<(String, String)> {
    let err = |e| to_py(py, e);
    let delimiter = crate::segmentation::delimiter(delimiter.as_deref()).map_err(err)?;
    let thresholds = thresholds(gates.unwrap_or_default()).map_err(err)?;
    let shown = model_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("the model"));
    let (core, checksum) = (model.shared(), model.core().1.to_string());
    let cancel = cardseg::cancel::Cancel::default();
    if let Ok(input) = data.extract::<String>() {
        let source = Source::new(input);
        let job_cancel = cancel.clone();
        let (report, md) = interruptible(py, cancel, move || {
            drift_report::drift(&DriftJob {
                model: &core,
                checksum: &checksum,
                model_path: &shown,
                source: &source,
                delimiter,
                out,
                force,
                fail_above,
                thresholds,
                cancel: job_cancel,
            })
        })?;
        return Ok((json(py, &report)?, md));
    }
    // A frame: the same report, from the table the Arrow reader builds.
    if let Some(t) = fail_above.filter(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(err(Error::usage(format!(
            "{}: give a PSI of 0 or more, e.g. 0.25",
            Param::FailAbove.with(t)
        ))));
    }
    let inputs = match &model_path {
        Some(p) => cardseg::output::Inputs::none().path(p.clone()),
        None => cardseg::output::Inputs::none(),
    };
    let dir = out
        .as_ref()
        .map(|o| cardseg::output::OutputDir::create(o, force, &inputs))
        .transpose()
        .map_err(err)?;
    let spec = ReadSpec {
        id: IdSpec::RowNumber,
        required: core.features.clone(),
        other_numeric: false,
        delimiter: None,
    };
    let stream = take_stream(data)?;
    // Read on this thread (the stream's producer may be Python code), compared on a worker.
    let signals = Signals::default();
    let table = py
        .detach(|| crate::arrow::read_table(stream, &source_name, &spec, &|| signals.poll()))
        .map_err(|e| signals.error(py, e))?;
    let stop = cancel.clone();
    let (report, md) = interruptible(py, cancel, move || -> cardseg::Result<_> {
        let report = drift_report::check(&core, &checksum, &table, fail_above, &thresholds, &stop)?;
        drop(table);
        let md = drift_report::markdown(&report);
        if let Some(dir) = dir {
            dir.mark(
                &cardseg::output::Provenance::new("drift", Some(&checksum)).with_rows(report.rows),
            )?;
            let path = dir.file("drift.md");
            cardseg::output::write_file(&path, |w| {
                w.write_all(md.as_bytes())
                    .map_err(cardseg::output::werr(&path))
            })?;
            cardseg::output::write_json(&dir.file("drift.json"), &report)?;
            dir.commit()?;
        }
        Ok((report, md))
    })?;
    Ok((json(py, &report)?, md))
}

/// The drift gates from the keywords given (`psi_alert`, `missing_change`, ...), the
/// library's defaults for the others.
fn thresholds(
    gates: std::collections::HashMap<String, f64>,
) -> cardseg::Result<drift_report::Thresholds> {
    let mut t = drift_report::Thresholds::default();
    for (k, v) in gates {
        let slot = match k.as_str() {
            "psi_alert" => &mut t.psi,
            "missing_change" => &mut t.missing_change,
            "outside_range" => &mut t.outside_range,
            "share_change" => &mut t.share_change,
            "shift" => &mut t.shift,
            "alpha" => &mut t.alpha,
            _ => return Err(Error::usage(format!("drift has no gate {k}="))),
        };
        *slot = v;
    }
    t.check()?;
    Ok(t)
}

/// The drift gates' defaults, by keyword (one source of defaults for the Python signature).
#[pyfunction]
pub fn drift_gates() -> Vec<(&'static str, f64)> {
    let t = drift_report::Thresholds::default();
    vec![
        ("psi_alert", t.psi),
        ("missing_change", t.missing_change),
        ("outside_range", t.outside_range),
        ("share_change", t.share_change),
        ("shift", t.shift),
        ("alpha", t.alpha),
    ]
}
