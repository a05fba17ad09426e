"""cardseg: customer segmentation (K-Means) in Rust, from Python.

``cardseg.run(data, ...)`` runs the ``cardseg run`` pipeline in memory and returns a
:class:`Segmentation` holding the Rust result (labels, profile, summary, model, dashboard);
``.write(out)`` writes the same files as ``cardseg run --out``, byte for byte, and nothing
is written before. ``cardseg.Model.load(path).predict(data)`` scores like ``cardseg predict``. ``data`` is a pandas DataFrame, a pyarrow Table or
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
stages; in ``run``, ``Model.predict`` and ``drift`` alike): nothing is written. An
exception raised by the producer of a RecordBatchReader is raised as itself.

Errors are :class:`cardseg.CardsegError` subclasses with the CLI's one-line messages.
"""

from __future__ import annotations

import json
import numbers
import os
import secrets
import weakref
from pathlib import Path
from typing import Any, Optional, Sequence, Union

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

#: Submodules imported on first use (``cardseg.sklearn``, ``cardseg.spark``), so
#: ``import cardseg`` never imports scikit-learn or PySpark.
_LAZY = ("sklearn", "spark")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

DEFAULT_FEATURES = list(_cardseg.DEFAULT_FEATURES)
DEFAULT_PROFILE_FEATURES = list(_cardseg.DEFAULT_PROFILE_FEATURES)
DEFAULT_ID_COLUMN = _cardseg.DEFAULT_ID_COLUMN

__all__ = [
    "run",
    "compare",
    "drift",
    "Migration",
    "Drift",
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


def _cell_text(v) -> Optional[str]:
    """A Python object as ``DataFrame.to_csv`` writes it (None: an empty cell)."""
    import pandas as pd

    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v if isinstance(v, str) else str(v)


def _utf8_or_refused(texts, source: str, column: str) -> None:
    """Refuses the first text UTF-8 cannot hold (a lone surrogate, e.g. from
    ``os.fsdecode`` or a bad decode with ``surrogateescape``), naming its row and column."""
    for i, t in enumerate(texts):
        if isinstance(t, str):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"{source}: row {i + 1}, column {column}: {t!r} is not valid Unicode text "
                    "(it holds a lone surrogate); fix or drop the value"
                ) from None


def _pandas_column(s, source: str = "pandas DataFrame"):
    """One pandas column as an Arrow array holding what ``to_csv`` would write, so cardseg
    reads it as it reads the same frame written as CSV: numbers zero-copy; text, ``object``
    (``Decimal``, mixed, one bad cell), ``bool`` and ``category`` columns as the text of
    their values, parsed by the CSV reader's rules in Rust (numbers where every value is
    one, a category mix otherwise; a bad cell in a feature is an ``InputError`` naming its
    row, column and value). pyarrow never infers types from Python objects here."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes)
        words = pa.array([_cell_text(c) for c in s.cat.categories], type=pa.large_string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), words)
    if pd.api.types.is_bool_dtype(dtype):
        if dtype == np.bool_:
            codes = np.asarray(s, dtype=np.int8)
            mask = None
        else:
            codes = s.to_numpy(dtype=np.int8, na_value=-1)
            mask = codes < 0
        words = pa.array(["False", "True"], type=pa.large_string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), words)
    if dtype == object:
        try:
            # Text and missing values only (the common case): pyarrow's C path.
            return pa.array(s, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            texts = [_cell_text(v) for v in s]
            _utf8_or_refused(texts, source, str(s.name))
            return pa.array(texts, type=pa.large_string())
    try:
        return pa.array(s, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        # An extension type pyarrow cannot convert: its values' text, as to_csv writes it.
        return pa.array([_cell_text(v) for v in s.astype(object)], type=pa.large_string())


#: The RecordBatchReaders cardseg has begun to read: read again, they would be empty.
_READ: "weakref.WeakSet" = weakref.WeakSet()


class _Producer:
    """A pyarrow RecordBatchReader handed to the native side through a generator that
    keeps the exception its producer raised (a database cursor's ConnectionError, a
    KeyboardInterrupt that landed in the producer's Python code): the C stream carries only
    its text, and the call re-raises the exception itself (:func:`_native`)."""

    def __init__(self, reader):
        self.reader = reader
        self.error: Optional[BaseException] = None

    def batches(self):
        _READ.add(self.reader)
        try:
            yield from self.reader
        except GeneratorExit:
            # The reader stopped reading (it refused a batch): not the producer's doing.
            raise
        except BaseException as e:
            self.error = e
            raise

    def capsule(self):
        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(self.reader.schema, self.batches()).__arrow_c_stream__()


def _native(producer: Optional[_Producer], call, *args):
    """``call(*args)``; when it fails because the stream's producer raised, that
    exception instead of the native side's account of it."""
    try:
        return call(*args)
    except CardsegError:
        if producer is None or producer.error is None:
            raise
    raise producer.error


def _source(data: Any, source_name: Optional[str], only: Optional[Sequence[str]] = None):
    """(what the native side reads, the name messages show, the :class:`_Producer` of a
    RecordBatchReader or None). With ``only`` (the columns a model reads), a pandas frame's
    other columns cross as empty placeholders: their names stay for messages, their values
    are never converted."""
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        return text, source_name or text, None
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        import pandas as pd
        import pyarrow as pa

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"cardseg reads a pandas DataFrame, not a {type(data).__name__}")
        names = [str(c) for c in data.columns]
        shown = source_name or "pandas DataFrame"
        for c in names:
            try:
                c.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"{shown}: column {c!r}: its name is not valid Unicode text (it holds a lone "
                    "surrogate); rename the column"
                ) from None
        keep = None if only is None else set(only)
        arrays = [
            _pandas_column(data.iloc[:, j], shown) if keep is None or names[j] in keep else pa.nulls(len(data))
            for j in range(data.shape[1])
        ]
        table = pa.Table.from_arrays(arrays, names=names)
        return table.__arrow_c_stream__(), source_name or "pandas DataFrame", None
    if hasattr(data, "__arrow_c_stream__"):
        names = {"pyarrow": "pyarrow table", "polars": "polars DataFrame"}
        name = source_name or names.get(mod, f"{type(data).__name__}")
        if mod == "pyarrow":
            import pyarrow as pa

            if isinstance(data, pa.RecordBatchReader):
                if data in _READ:
                    raise InputError(
                        f"{name}: this RecordBatchReader was already read (a stream can be read "
                        "once); pass a new reader, or the table itself"
                    )
                producer = _Producer(data)
                return producer.capsule(), name, producer
        return data.__arrow_c_stream__(), name, None
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

        src, name, producer = _source(data, source_name, self._reads())
        offsets, text, labels, dist = _native(producer, self._m.score, src, name, delimiter, distances)
        idx = np.frombuffer(labels, dtype="<i4")
        ids = pa.Array.from_buffers(
            pa.large_string(), len(idx), [None, pa.py_buffer(offsets), pa.py_buffer(text)]
        )
        if distances:
            return ids, idx, np.frombuffer(dist, dtype="<f8").reshape(len(idx), 3)
        return ids, idx

    def predict_arrow(self, data: Any, *, source_name: Optional[str] = None, delimiter=None, outliers=False):
        """Like :meth:`predict`, as a pyarrow RecordBatch (id: string, segment: int32,
        segment_name: string, and with ``outliers=True`` distance, distance_percentile and
        outlier, computed in Rust by the rule ``cardseg predict`` applies)."""
        import pyarrow as pa

        src, name, producer = _source(data, source_name, self._reads())
        # One batch: the Rust side builds the whole result at once.
        return pa.RecordBatchReader._import_from_c_capsule(
            _native(producer, self._m.predict, src, name, delimiter, outliers)
        ).read_next_batch()

    def predict(self, data: Any, *, source_name: Optional[str] = None, delimiter=None):
        """Scores ``data`` like ``cardseg predict``: a pandas DataFrame with the columns of its
        labels file (id, segment, segment_name, distance, distance_percentile, outlier; the
        last two empty for a model written before distance quantiles existed)."""
        src, name, producer = _source(data, source_name, self._reads())
        return _labels_frame(_native(producer, self._m.predict, src, name, delimiter, True))

    def _reads(self) -> list:
        """The columns scoring reads: the id column and the features."""
        return [c for c in [self.id_column, *self.features] if c is not None]

    def __repr__(self) -> str:
        return repr(self._m)


class _Html:
    """Shows HTML inline in Jupyter (``_repr_html_``) without needing IPython."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def _labels_frame(capsule):
    """pandas DataFrame of a labels stream (segment Int32, outlier boolean, both nullable)."""
    import pandas as pd
    import pyarrow as pa

    table = pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()
    return table.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}.get)


class Segmentation:
    """The result of :func:`run`, held in memory by the Rust library: labels, profile,
    summary and model are built from it on demand, and no file is written until
    :meth:`write` (``cardseg run --out``'s files, byte for byte)."""

    def __init__(self, native: "_cardseg.Segmentation", directory: Optional[Union[str, os.PathLike]] = None):
        self._s = native
        self._cache: dict = {}
        self._dir = None if directory is None else Path(directory)

    @property
    def directory(self) -> Optional[Path]:
        """The folder this result was last written to (``run(..., out=...)`` or
        :meth:`write`); None while it lives only in memory."""
        return self._dir

    def labels_arrow(self):
        """The labels as a pyarrow Table (see :attr:`labels`)."""
        import pyarrow as pa

        return pa.RecordBatchReader._import_from_c_capsule(self._s.labels_arrow()).read_all()

    @property
    def labels(self):
        """pandas DataFrame with the columns of ``labels.csv``, every input row in input
        order: the id (text), segment (Int32), segment_name, distance, distance_percentile
        and outlier (boolean); missing for customers dropped with ``missing="drop"``."""
        if "labels" not in self._cache:
            self._cache["labels"] = _labels_frame(self._s.labels_arrow())
        # A copy: editing it must not change what this result reports.
        return self._cache["labels"].copy()

    @property
    def segments(self):
        """pandas DataFrame of the segment profile: the columns of ``segments.csv`` (one row
        per segment), built from the segmentation itself; undefined figures are NaN."""
        if "segments" not in self._cache:
            import pandas as pd

            header, rows = self._s.segments_table()
            self._cache["segments"] = pd.DataFrame(rows, columns=header)
        return self._cache["segments"].copy()

    @property
    def k_selection(self):
        """pandas DataFrame of the k sweep (``k_selection.csv``): inertia and silhouette per
        k, and which k was chosen."""
        if "k_selection" not in self._cache:
            import pandas as pd

            cols = ["k", "inertia", "silhouette", "silhouette_method", "silhouette_std_error",
                    "silhouette_sample_size", "chosen"]
            frame = pd.DataFrame(self._s.k_selection(), columns=cols)
            # An exact silhouette has no standard error: NaN, as in a float column.
            self._cache["k_selection"] = frame.astype({"silhouette_std_error": "float64"})
        return self._cache["k_selection"].copy()

    @property
    def k(self) -> int:
        """The chosen number of segments."""
        return self.model.k

    @property
    def summary(self) -> dict:
        """The executive summary (what ``summary.json`` holds) as a dict."""
        return json.loads(self._s.summary_json())

    @property
    def summary_markdown(self) -> str:
        """``summary.md``: the executive summary."""
        return self._s.summary_markdown()

    @property
    def model(self) -> Model:
        """The run's model (what ``model.json`` holds)."""
        if "model" not in self._cache:
            self._cache["model"] = Model(self._s.model())
        return self._cache["model"]

    @property
    def timings(self) -> dict:
        """Wall-clock seconds of each stage (``cardseg run --timings``)."""
        return dict(self._s.timings())

    def write(self, out: Union[str, os.PathLike], *, force: bool = False) -> Path:
        """Writes the run's files to ``out`` exactly as ``cardseg run --out`` would (atomic;
        refused when ``out`` exists unless ``force``, never over a directory that is not a
        cardseg result, nor onto, around or into what the run read)."""
        self._dir = Path(self._s.write(os.fspath(out), force))
        return self._dir

    def save(self, out: Union[str, os.PathLike], *, force: bool = False) -> Path:
        """Same as :meth:`write`."""
        return self.write(out, force=force)

    def _dashboard_html(self) -> str:
        return self._s.dashboard_html()

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
        """Writes ``dashboard.html`` (self-contained, works offline) to ``path``: written
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
        return list(self._s.segment_customers())


_D = _cardseg.defaults()


def defaults() -> dict:
    """Every keyword of :func:`run` with its default: those of ``cardseg run``, read from
    the Rust library (one definition for the CLI and Python)."""
    return dict(_D)


def run(
    data: Any,
    features: Union[str, Sequence[str]] = tuple(_D["features"]),
    profile_features: Union[str, Sequence[str]] = tuple(_D["profile_features"]),
    id_column: Optional[str] = _D["id_column"],
    *,
    no_id: bool = _D["no_id"],
    missing: str = _D["missing"],
    k: Union[str, int] = _D["k"],
    k_min: int = _D["k_min"],
    k_max: int = _D["k_max"],
    k_rule: str = _D["k_rule"],
    n_init: int = _D["n_init"],
    seed: int = _D["seed"],
    naming_rules: Optional[Union[str, os.PathLike]] = _D["naming_rules"],
    raw_csv: bool = _D["raw_csv"],
    full_precision: bool = _D["full_precision"],
    labels_format: str = _D["labels_format"],
    silhouette_exact_max: int = _D["silhouette_exact_max"],
    silhouette_sample: int = _D["silhouette_sample"],
    delimiter: Optional[str] = _D["delimiter"],
    dashboard: bool = _D["dashboard"],
    out: Optional[Union[str, os.PathLike]] = _D["out"],
    force: bool = _D["force"],
    scaler: str = _D["scaler"],
    categorical: Optional[Union[str, Sequence[str]]] = _D["categorical"],
    additive: Optional[Union[str, Sequence[str]]] = _D["additive"],
    previous: Optional[Union[str, os.PathLike]] = _D["previous"],
    outlier_percentile: float = _D["outlier_percentile"],
    train_sample: Optional[int] = _D["train_sample"],
    outcome: Optional[Union[str, Sequence[str]]] = _D["outcome"],
    stability_resamples: int = _D["stability_resamples"],
    stability_sample: int = _D["stability_sample"],
    stability_detail: bool = _D["stability_detail"],
    table: Optional[str] = _D["table"],
    query: Optional[str] = _D["query"],
    token_env: Optional[str] = _D["token_env"],
    timeout_secs: int = _D["timeout_secs"],
    max_download_mb: int = _D["max_download_mb"],
    max_pages: int = _D["max_pages"],
    max_total_download_mb: int = _D["max_total_download_mb"],
    total_timeout_secs: int = _D["total_timeout_secs"],
    max_columns: int = _D["max_columns"],
    max_record_mb: int = _D["max_record_mb"],
    write_labels: Optional[str] = _D["write_labels"],
    labels_table: str = _D["labels_table"],
    source_name: Optional[str] = None,
) -> Segmentation:
    """Segments the customers of ``data`` with the ``cardseg run`` pipeline, in memory.

    Every keyword is the ``cardseg run`` flag of the same name (``k_min`` is ``--k-min``)
    with the same default (:func:`defaults`); ``dashboard=False`` is ``--no-dashboard``.
    Column lists take a list or one comma-separated string. ``id_column=None`` uses
    ``CUST_ID`` when present and numbers rows from 1 otherwise; ``no_id=True`` always
    numbers rows. Nothing is written unless asked: ``out`` writes the files there as
    ``cardseg run --out`` does (refused before any work if it exists, unless ``force``);
    ``write_labels`` (with ``labels_table``, default ``cardseg_labels``) stores the labels
    in a database table. ``source_name`` is the name messages and ``model.json``
    (``training_source``) show for a DataFrame (default: "pandas DataFrame", "pyarrow
    table", "polars DataFrame"; a path shows itself).
    """
    src, name, producer = _source(data, source_name)
    options = dict(
        features=features, profile_features=profile_features, id_column=id_column, no_id=no_id,
        missing=missing, k=k, k_min=k_min, k_max=k_max, k_rule=k_rule, n_init=n_init, seed=seed,
        naming_rules=naming_rules, raw_csv=raw_csv, full_precision=full_precision,
        labels_format=labels_format, silhouette_exact_max=silhouette_exact_max,
        silhouette_sample=silhouette_sample, delimiter=delimiter, dashboard=dashboard, out=out,
        force=force, scaler=scaler, categorical=categorical, additive=additive, previous=previous,
        outlier_percentile=outlier_percentile, train_sample=train_sample, outcome=outcome,
        stability_resamples=stability_resamples, stability_sample=stability_sample,
        stability_detail=stability_detail, table=table, query=query,
        token_env=token_env, timeout_secs=timeout_secs, max_download_mb=max_download_mb,
        max_pages=max_pages, max_total_download_mb=max_total_download_mb,
        total_timeout_secs=total_timeout_secs, max_columns=max_columns, max_record_mb=max_record_mb,
        write_labels=write_labels, labels_table=labels_table,
    )
    # A column name may be an int (pandas' default names), as in the frame's columns.
    if isinstance(id_column, numbers.Integral) and not isinstance(id_column, bool):
        options["id_column"] = str(id_column)
    for key in ("features", "profile_features", "categorical", "additive", "outcome"):
        if isinstance(options[key], (tuple, list)):
            options[key] = [str(c) for c in options[key]]
    for key in ("features", "profile_features", "categorical", "additive", "outcome", "id_column"):
        value = options[key]
        for c in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            try:
                c.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(
                    f"{key}: the column name {c!r} is not valid Unicode text (it holds a lone "
                    "surrogate); give the name as the data spells it"
                ) from None
    for key in ("naming_rules", "previous", "out"):
        if options[key] is not None:
            options[key] = os.fspath(options[key])
    native = _native(producer, lambda: _cardseg.run(src, name, **options))
    return Segmentation(native, None if out is None else os.fspath(out))


class Report:
    """A report of the library (what the CLI writes as JSON), as attributes: figures and
    verdicts as values, lists of records as pandas DataFrames. :meth:`to_dict` is the JSON
    file's content; :attr:`text` what the CLI prints for people."""

    _file = "report.json"

    def __init__(self, data: dict, text: str):
        self._data = data
        self.text = text

    def to_dict(self) -> dict:
        """The report as the CLI writes it (migration.json, drift.json)."""
        return json.loads(json.dumps(self._data))

    def _table(self, key):
        import pandas as pd

        rows = self._data.get(key) or []
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()

    def __getattr__(self, name):
        data = self.__dict__.get("_data")
        if data is None or name not in data:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        value = data[name]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return self._table(name)
        return value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._data))

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"cardseg.{type(self).__name__}({self.text.splitlines()[0] if self.text else ''})"


class Migration(Report):
    """Who moved between two runs (``cardseg compare``): ``moved``, ``stayed``,
    ``new_customers``, ... as attributes, ``flows`` (one row per from-segment ×
    to-segment cell), ``splits``, ``merges`` and, when both runs have outcomes,
    ``outcomes`` as DataFrames; :attr:`matrix` the customers from × to."""

    _file = "migration.json"

    @property
    def matrix(self):
        """Customers per earlier segment (rows) and later segment (columns)."""
        flows = self.flows
        if flows.empty:
            import pandas as pd

            return pd.DataFrame()
        return flows.pivot_table(
            index=["from_segment", "from_name"], columns=["to_segment", "to_name"],
            values="customers", aggfunc="sum", fill_value=0,
        )


class Drift(Report):
    """How new customers differ from a model's training customers (``cardseg drift``):
    ``verdict``, ``failed``, ``segment_psi``, ... as attributes; ``alerts`` (one row per
    crossed gate: kind, feature, segment, figures), ``features`` (PSI and verdict per
    feature), ``segments`` (shares now and at training), ``segment_shifts`` (medians per
    segment and feature) and :attr:`bins` as DataFrames; :attr:`text` is ``drift.md``."""

    _file = "drift.json"

    @property
    def features(self):
        """One row per feature (its PSI, verdict and missing shares); bins in :attr:`bins`."""
        t = self._table("features")
        return t.drop(columns=["bins"]) if "bins" in t else t

    @property
    def bins(self):
        """One row per feature and bin: the training and current shares."""
        import pandas as pd

        rows = [
            dict(feature=f["feature"], bin=b, **x)
            for f in self._data.get("features", [])
            for b, x in enumerate(f.get("bins", []))
        ]
        return pd.DataFrame.from_records(rows)


def compare(before: Any, after: Any, *, out: Optional[Union[str, os.PathLike]] = None, force: bool = False) -> Migration:
    """The migration between two runs, as ``cardseg compare --before B --after A``:
    ``before`` and ``after`` are run directories, labels files or :func:`run` results. With
    ``out``, ``migration.csv`` and ``migration.json`` are written there as the CLI does."""

    def side(x):
        if isinstance(x, Segmentation):
            return os.fspath(x.directory) if x.directory is not None else x._s
        return os.fspath(x)

    text, summary = _cardseg.compare(
        side(before), side(after), None if out is None else os.fspath(out), force
    )
    return Migration(json.loads(text), summary)


# drift's alert gates and their defaults, from the library.
_GATES = dict(_cardseg.drift_gates())


def drift(
    model: Any,
    data: Any,
    *,
    fail_above: Optional[float] = None,
    delimiter: Optional[str] = None,
    out: Optional[Union[str, os.PathLike]] = None,
    force: bool = False,
    source_name: Optional[str] = None,
    psi_alert: float = _GATES["psi_alert"],
    missing_change: float = _GATES["missing_change"],
    outside_range: float = _GATES["outside_range"],
    share_change: float = _GATES["share_change"],
    shift: float = _GATES["shift"],
    alpha: float = _GATES["alpha"],
) -> Drift:
    """The drift of ``data`` (a DataFrame, or a path or URL the CLI reads) against the
    training customers of ``model`` (a :class:`Model`, a :func:`run` result or a
    ``model.json`` path), as ``cardseg drift --model M --input D``. ``failed`` is True when
    a PSI is above ``fail_above`` or, with ``fail_above`` given, any other alert is raised.
    The gates ``psi_alert`` ... ``alpha`` are the CLI's flags with its defaults; ``alerts``
    lists the crossed ones. With ``out``, ``drift.md`` and ``drift.json`` are written there
    as the CLI does."""
    path = None
    if isinstance(model, Segmentation):
        model = model.model
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        model = Model.load(path)
    if not isinstance(model, Model):
        raise TypeError(f"drift takes a cardseg.Model, a run result or a model.json path, not {type(model).__name__}")
    gates = {"psi_alert": psi_alert, "missing_change": missing_change, "outside_range": outside_range,
             "share_change": share_change, "shift": shift, "alpha": alpha}
    for key, value in gates.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"{key} takes a number, not {value!r}")
    src, name, producer = _source(data, source_name, model.features)
    text, md = _native(
        producer, _cardseg.drift,
        model._m, src, name, path, fail_above, delimiter, None if out is None else os.fspath(out), force,
        {k: float(v) for k, v in gates.items()},
    )
    return Drift(json.loads(text), md)
