"""cardseg: customer segmentation (K-Means) in Rust, from Python.

``cardseg.run(data, ...)`` runs the same pipeline as ``cardseg run`` (the same outputs,
byte for byte, for the same data and parameters); ``cardseg.Model.load(path).predict(data)``
scores like ``cardseg predict``. ``data`` is a pandas DataFrame, a pyarrow Table or
RecordBatchReader, a polars DataFrame (anything with ``__arrow_c_stream__``), or a path
or URL that the CLI reads (CSV, Parquet, ``sqlite://``, ``postgres://``, ``http(s)://``).

DataFrames cross into Rust through the Arrow C stream interface: numbers are read from
the Arrow buffers, never through Python objects or CSV text. They are read by the rules of
every other cardseg source: the id column becomes text; NaN and nulls are missing values;
decimals are numbers; a required column holding text is an error naming the row (counted
from 1), column and value. Every batch is validated before it is read: a malformed stream
raises :class:`InputError`. Note that pandas' default CSV float parser is not always correctly rounded: read
CSV files with ``pd.read_csv(path, float_precision="round_trip")`` (or with pyarrow) to
get exactly the numbers the CLI reads.

The GIL is released while Rust works. Ctrl-C raises ``KeyboardInterrupt`` within 50 ms
and stops the Rust work itself at its next check (between k-means restarts and between
stages): nothing is written to ``out``.

Errors are :class:`cardseg.CardsegError` subclasses with the CLI's one-line messages.
"""

from __future__ import annotations

import json
import numbers
import os
import secrets
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from . import _cardseg
from .errors import (
    CardsegError,
    CardsegIOError,
    InputError,
    ModelError,
    OutputExistsError,
    UsageError,
)

__version__ = _cardseg.__version__

DEFAULT_FEATURES = list(_cardseg.DEFAULT_FEATURES)
DEFAULT_PROFILE_FEATURES = list(_cardseg.DEFAULT_PROFILE_FEATURES)
DEFAULT_ID_COLUMN = _cardseg.DEFAULT_ID_COLUMN

__all__ = [
    "run",
    "Segmentation",
    "Model",
    "CardsegError",
    "InputError",
    "ModelError",
    "UsageError",
    "OutputExistsError",
    "CardsegIOError",
    "DEFAULT_FEATURES",
    "DEFAULT_PROFILE_FEATURES",
    "DEFAULT_ID_COLUMN",
]


def _columns(value: Union[str, Iterable[str]]) -> list:
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return [str(c) for c in value]


def _source(data: Any, source_name: Optional[str]):
    """(what the native side reads, the name messages show)."""
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        return text, source_name or text
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        import pandas as pd
        import pyarrow as pa

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"cardseg reads a pandas DataFrame, not a {type(data).__name__}")
        table = pa.Table.from_pandas(data, preserve_index=False)
        return table.__arrow_c_stream__(), source_name or "pandas DataFrame"
    if hasattr(data, "__arrow_c_stream__"):
        names = {"pyarrow": "pyarrow table", "polars": "polars DataFrame"}
        return data.__arrow_c_stream__(), source_name or names.get(mod, f"{type(data).__name__}")
    raise TypeError(
        "cardseg reads a pandas DataFrame, a pyarrow Table or RecordBatchReader, a polars "
        f"DataFrame (anything with __arrow_c_stream__), or a path or URL; got {type(data).__name__}"
    )


class Model:
    """A saved cardseg model (``model.json``): scores customers exactly like ``cardseg predict``.

    ``predict`` returns, for every input row in order, the customer id (as text, like the
    CLI's labels file), the segment id (1-based; missing where a feature is missing and the
    model drops such customers) and the segment name.
    """

    def __init__(self, native: "_cardseg.Model"):
        self._m = native

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Model":
        """Loads and verifies a model file (raises :class:`ModelError` with the CLI's message)."""
        return cls(_cardseg.Model.load(os.fspath(path)))

    @classmethod
    def from_json(cls, text: str) -> "Model":
        """A model from the text of a ``model.json``."""
        return cls(_cardseg.Model.from_json(text))

    def to_json(self) -> str:
        """The ``model.json`` text, as ``cardseg run`` writes it."""
        return self._m.to_json()

    def to_sql(self, dialect: str = "ansi", table: Optional[str] = None, query: Optional[str] = None) -> str:
        """One SQL query that scores the customers of ``table`` (default ``customers``) or of
        ``query`` inside a database, exactly as ``predict`` does (``cardseg export --format sql``).
        ``dialect``: postgres, sqlite, duckdb, spark, bigquery or ansi."""
        return self._m.to_sql(dialect, table, query)

    def to_pmml(self) -> str:
        """The model as a PMML 4.4 ClusteringModel (``cardseg export --format pmml``)."""
        return self._m.to_pmml()

    def __reduce__(self):
        # Pickled as its model.json text (Spark closures, joblib, scikit-learn clones).
        return (Model.from_json, (self.to_json(),))

    @property
    def features(self) -> list:
        return self._m.features

    @property
    def profile_features(self) -> list:
        return self._m.profile_features

    @property
    def id_column(self) -> Optional[str]:
        return self._m.id_column

    @property
    def k(self) -> int:
        return self._m.k

    @property
    def outlier_percentile(self) -> float:
        """Distance percentile above which ``predict`` flags a customer as an outlier."""
        return self._m.outlier_percentile

    @property
    def segment_ids(self) -> list:
        return self._m.segment_ids

    @property
    def segment_names(self) -> list:
        return self._m.segment_names

    @property
    def centroids(self) -> list:
        """Centroids in the features' own units (one list per segment, in segment order)."""
        return self._m.centroids

    @property
    def centroids_scaled(self) -> list:
        """Centroids in the scaled space where distances are measured."""
        return self._m.centroids_scaled

    @property
    def inertia(self) -> float:
        return self._m.inertia

    @property
    def checksum(self) -> str:
        return self._m.checksum

    def _score_arrow(self, data: Any, source_name: Optional[str] = None, delimiter=None, distances=False):
        """(pyarrow id array, numpy int32 segment index or -1[, float64 (n, 3) distance,
        second distance, distance percentile — NaN where unknown])."""
        import numpy as np
        import pyarrow as pa

        src, name = _source(data, source_name)
        offsets, text, labels, dist = self._m.score(src, name, delimiter, distances)
        idx = np.frombuffer(labels, dtype="<i4")
        ids = pa.Array.from_buffers(
            pa.large_string(), len(idx), [None, pa.py_buffer(offsets), pa.py_buffer(text)]
        )
        if distances:
            return ids, idx, np.frombuffer(dist, dtype="<f8").reshape(len(idx), 3)
        return ids, idx

    def _batch(self, ids, idx, dist=None):
        import numpy as np
        import pyarrow as pa

        mask = idx < 0
        # Segment ids are the model's (1..k, or carried over by `run --previous`).
        seg_ids = np.asarray(self.segment_ids, dtype=np.int32)
        seg = pa.array(seg_ids[np.where(mask, 0, idx)], mask=mask)
        names = pa.array(self.segment_names, type=pa.string()).take(
            pa.array(np.where(mask, 0, idx), mask=mask)
        )
        header = self.id_column or "row"
        arrays = [ids.cast(pa.string()), seg, names]
        fields = [header, "segment", "segment_name"]
        if dist is not None:
            pct = dist[:, 2]
            unknown = np.isnan(pct)
            threshold = self.outlier_percentile
            arrays += [
                pa.array(dist[:, 0], mask=mask),
                pa.array(pct, mask=unknown),
                pa.array(pct > threshold, mask=unknown),
            ]
            fields += ["distance", "distance_percentile", "outlier"]
        return pa.RecordBatch.from_arrays(arrays, names=fields)

    def predict_arrow(self, data: Any, *, source_name: Optional[str] = None, delimiter=None, outliers=False):
        """Like :meth:`predict`, as a pyarrow RecordBatch (id: string, segment: int32,
        segment_name: string, and with ``outliers=True`` the outlier columns)."""
        if outliers:
            ids, idx, dist = self._score_arrow(data, source_name, delimiter, distances=True)
            return self._batch(ids, idx, dist)
        ids, idx = self._score_arrow(data, source_name, delimiter)
        return self._batch(ids, idx)

    def predict(self, data: Any, *, source_name: Optional[str] = None, delimiter=None):
        """Scores ``data`` like ``cardseg predict``: a pandas DataFrame with the columns of its
        labels file (id, segment, segment_name, distance, distance_percentile, outlier; the
        last two empty for a model written before distance quantiles existed)."""
        import pandas as pd
        import pyarrow as pa

        batch = self.predict_arrow(data, source_name=source_name, delimiter=delimiter, outliers=True)
        return batch.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}.get)

    def __repr__(self) -> str:
        return repr(self._m)


class _Html:
    """Shows HTML inline in Jupyter (``_repr_html_``) without needing IPython."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Segmentation:
    """The result of :func:`run`: the files ``cardseg run --out`` writes, read on demand.

    Kept in a temporary directory removed when this object is garbage-collected;
    :meth:`save` copies them (byte for byte) to a directory of your choice.
    """

    def __init__(self, directory: str, cleanup: Optional[str] = None, inputs: Sequence[str] = ()):
        self._dir = Path(directory)
        self._cache: dict = {}
        # What the run read: save() never writes over, around or into them.
        self._inputs = list(inputs)
        if cleanup is not None:
            self._finalizer = weakref.finalize(self, _remove, cleanup)

    @property
    def directory(self) -> Path:
        """Where the result's files are (temporary unless ``run(..., out=...)`` was used)."""
        return self._dir

    def _csv(self, name: str, column_types=None):
        import pyarrow.csv as pcsv

        return pcsv.read_csv(
            self._dir / name,
            convert_options=pcsv.ConvertOptions(
                column_types=column_types or {}, strings_can_be_null=False
            ),
        )

    @property
    def labels(self):
        """pandas DataFrame of ``labels.csv``: id (text), segment (Int64; missing for customers
        dropped with ``missing="drop"``), segment_name, and any further columns."""
        if "labels" not in self._cache:
            import pandas as pd
            import pyarrow as pa

            header = self.model.id_column or "row"
            t = self._csv(
                "labels.csv",
                {header: pa.string(), "segment": pa.int64(), "segment_name": pa.string()},
            )
            self._cache["labels"] = t.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        return self._cache["labels"]

    @property
    def segments(self):
        """pandas DataFrame of ``segments.csv`` (the profile: one row per segment)."""
        if "segments" not in self._cache:
            self._cache["segments"] = self._csv("segments.csv").to_pandas()
        return self._cache["segments"]

    @property
    def k_selection(self):
        """pandas DataFrame of ``k_selection.csv``: inertia and silhouette per k, the chosen k."""
        if "k_selection" not in self._cache:
            self._cache["k_selection"] = self._csv("k_selection.csv").to_pandas()
        return self._cache["k_selection"]

    @property
    def k(self) -> int:
        """The chosen number of segments."""
        return self.model.k

    @property
    def summary(self) -> dict:
        """``summary.json`` as a dict."""
        return json.loads((self._dir / "summary.json").read_text(encoding="utf-8"))

    @property
    def summary_markdown(self) -> str:
        """``summary.md``: the executive summary."""
        return (self._dir / "summary.md").read_text(encoding="utf-8")

    @property
    def model(self) -> Model:
        if "model" not in self._cache:
            self._cache["model"] = Model.load(self._dir / "model.json")
        return self._cache["model"]

    def save(self, out: Union[str, os.PathLike], *, force: bool = False) -> Path:
        """Writes the run's files to ``out`` like ``cardseg run --out`` (atomic; refused when
        ``out`` exists unless ``force``, and never over a directory that is not a cardseg result)."""
        return Path(_cardseg.save(str(self._dir), os.fspath(out), force, self._inputs))

    def _dashboard_html(self) -> str:
        path = self._dir / "dashboard.html"
        if not path.is_file():
            raise UsageError("this run has no dashboard (it was run with dashboard=False)")
        return path.read_text(encoding="utf-8")

    def dashboard(self, height: int = 900):
        """The interactive dashboard, shown inline when it is a notebook cell's value
        (in an iframe, so its scripts and styles stay apart from the notebook's)."""
        import html

        doc = html.escape(self._dashboard_html(), quote=True)
        return _Html(
            f'<iframe srcdoc="{doc}" style="width:100%;height:{int(height)}px;border:0" '
            'sandbox="allow-scripts allow-downloads"></iframe>'
        )

    def write_dashboard(self, path: Union[str, os.PathLike], *, force: bool = False) -> Path:
        """Copies ``dashboard.html`` (self-contained, works offline) to ``path``: written
        whole or not at all; an existing ``path`` is replaced only with ``force=True``."""
        path = Path(path)
        exists = OutputExistsError(
            f"{path} already exists and is not empty; choose another output or pass force=True to replace it"
        )
        if path.exists() and not force:
            raise exists
        text = self._dashboard_html()
        tmp = None
        try:
            # A fresh name beside the target (never a file of the user's), then one rename.
            for _ in range(100):
                name = path.parent / f".{path.name}.{secrets.token_hex(6)}.cardseg-tmp"
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                except FileExistsError:
                    continue
                tmp = name
                break
            else:
                raise FileExistsError("no free temporary name")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            if force:
                os.replace(tmp, path)
            else:
                # Checked at the moment of the write: a link fails if `path` appeared since.
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise exists from None
                except OSError:
                    # A file system without hard links.
                    if path.exists():
                        raise exists from None
                    os.replace(tmp, path)
        except OSError as e:
            if isinstance(e, CardsegError):
                raise
            reason = str(e.strerror or e)
            # Worded as the library words its I/O errors ("reading failed: no such file ...").
            reason = reason[:1].lower() + reason[1:]
            raise CardsegIOError(f"{path}: writing failed: {reason}") from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return path

    def __repr__(self) -> str:
        m = self.model
        return f"cardseg.Segmentation(k={m.k}, customers={sum(self.summary_counts())}, segments={m.segment_names!r})"

    def summary_counts(self) -> list:
        """Customers per segment, in segment order."""
        return [int(s["customers"]) for s in json.loads((self._dir / "segments.json").read_text())["segments"]]


def run(
    data: Any,
    features: Union[str, Sequence[str]] = tuple(DEFAULT_FEATURES),
    profile_features: Union[str, Sequence[str]] = tuple(DEFAULT_PROFILE_FEATURES),
    id_column: Optional[str] = None,
    *,
    no_id: bool = False,
    k: Union[str, int] = "auto",
    k_min: int = 2,
    k_max: int = 10,
    k_rule: str = "knee",
    n_init: int = 10,
    seed: int = 42,
    missing: str = "median",
    naming_rules: Optional[Union[str, os.PathLike]] = None,
    silhouette_exact_max: int = _cardseg.SILHOUETTE_EXACT_MAX,
    silhouette_sample: int = _cardseg.SILHOUETTE_SAMPLE,
    delimiter: Optional[str] = None,
    dashboard: bool = True,
    out: Optional[Union[str, os.PathLike]] = None,
    force: bool = False,
    source_name: Optional[str] = None,
    table: Optional[str] = None,
    query: Optional[str] = None,
) -> Segmentation:
    """Segments the customers of ``data`` with the ``cardseg run`` pipeline.

    Every parameter is the CLI flag of the same name (``--features``, ``--k``, ...).
    ``id_column=None`` uses ``CUST_ID`` when present and numbers rows from 1 otherwise;
    ``no_id=True`` always numbers rows. ``out`` also saves the files there (as
    ``cardseg run --out``; refused if it exists unless ``force``). ``source_name`` is the
    name messages and ``model.json`` (``training_source``) show for a DataFrame (default:
    "pandas DataFrame", "pyarrow table", "polars DataFrame"; a path shows itself).
    """
    if isinstance(k, bool) or not isinstance(k, (str, numbers.Integral)):
        raise UsageError(f'k takes "auto" or a whole number, not {k!r}')
    if not isinstance(k, str):
        k = int(k)
    # The files the run reads: the output may not be, hold or sit inside one of them.
    inputs = [os.fspath(p) for p in (data, naming_rules) if isinstance(p, (str, os.PathLike))]
    if out is not None:
        # Refused before any work, as the CLI does; save() checks again when writing.
        _cardseg.check_out(os.fspath(out), force, inputs)
    src, name = _source(data, source_name)
    tmp = tempfile.mkdtemp(prefix="cardseg-")
    try:
        done = _cardseg.run(
            src,
            name,
            os.path.join(tmp, "result"),
            _columns(features),
            _columns(profile_features),
            id_column,
            no_id,
            missing,
            str(k),
            k_min,
            k_max,
            k_rule,
            n_init,
            seed,
            None if naming_rules is None else os.fspath(naming_rules),
            silhouette_exact_max,
            silhouette_sample,
            delimiter,
            dashboard,
            False,
            table,
            query,
        )
    except BaseException:
        _remove(tmp)
        raise
    seg = Segmentation(done, cleanup=tmp, inputs=inputs)
    if out is not None:
        seg.save(out, force=force)
    return seg
