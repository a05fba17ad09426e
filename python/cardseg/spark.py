"""Training and scoring on a Spark DataFrame, on the executors.

:func:`run` segments a DataFrame where it lives: Spark computes the statistics of every
row, the k sweep runs on the driver on a uniform sample, the chosen k is refined on every
row by Lloyd steps whose kernel runs on the executors, and the profile is computed on every
row by a Rust kernel on the executors (two scans); the driver receives statistics, the sample and per-partition sums,
never the data. :func:`score` ships the model's JSON text to the executors and scores each Arrow batch
there with ``mapInArrow`` through the same Rust code as ``cardseg predict``. The
``cardseg`` wheel must be installed on every executor (in local mode they run the
driver's Python, so the driver's venv is enough; on a cluster install the wheel with the
job's Python environment, e.g. ``spark.archives`` with a packed venv).
"""

from __future__ import annotations

import os
import json
import math
import shutil
import secrets
from pathlib import Path
from typing import Any, Optional, Union

import cardseg
from cardseg.errors import UsageError


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def score(df, model: Union["cardseg.Model", str, os.PathLike]):
    """Scores every row of the Spark DataFrame ``df``: a DataFrame of the model's id column
    (as string), ``segment`` (int, null where a feature is missing and the model drops such
    customers) and ``segment_name``, in the input's partitions. ``df`` needs the model's id
    column and features (numeric, or strings holding numbers); other columns are ignored.

    The model must have an id column: Spark rows have no order to number them by.
    """
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    if not isinstance(model, cardseg.Model):
        model = cardseg.Model.load(model)
    if model.id_column is None:
        raise UsageError(
            "the model numbers rows instead of reading an id column; Spark rows have no stable "
            "order, so train with an id column (run(..., id_column=...)) to score on Spark"
        )
    text = model.to_json()
    cols = [model.id_column] + [f for f in model.features if f != model.id_column]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise cardseg.InputError(
            f"Spark DataFrame: column {missing[0]} not found; the model needs {', '.join(cols)}"
        )
    schema = StructType(
        [
            StructField(model.id_column, StringType(), True),
            StructField("segment", IntegerType(), True),
            StructField("segment_name", StringType(), True),
        ]
    )

    def score_batches(batches):
        import pyarrow as pa

        import cardseg as cs

        m = cs.Model.from_json(text)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            yield m.predict_arrow(pa.Table.from_batches([batch]), source_name="Spark partition")

    return df.select(*[_quote(c) for c in cols]).mapInArrow(score_batches, schema)


#: Customers the k sweep sees when ``train_sample`` is not given (fewer rows: all of them).
DEFAULT_TRAIN_SAMPLE = 1_000_000
#: Lloyd steps on every row stop when no centroid moves farther than this (scaled units:
#: a feature's training range is 1 with the default minmax scaler).
DEFAULT_TOLERANCE = 1e-4
#: Lloyd steps on every row at most (each is one pass over the data).
DEFAULT_MAX_ITER = 50

_TEXT = ("StringType", "BooleanType", "VarcharType", "CharType")
_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")

# Levels (percent) of the per-segment drift quantiles (model::baseline::SEGMENT_LEVELS).
SEGMENT_LEVELS = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0]
# Levels of the stored distance quantiles (model::baseline::level, in permille).
_LEVELS = [i * 10 for i in range(99)] + [990 + i for i in range(11)]


def _columns(value, default):
    if value is None:
        return list(default)
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def _median(lo, hi):
    """The median of stats::median from the two middle values (lo == hi for odd counts)."""
    if lo is None:
        return None
    lo, hi = float(lo), float(hi)
    return lo + (hi - lo) / 2.0


class SparkSegmentation(cardseg.Segmentation):
    """The result of :func:`run`: a :class:`cardseg.Segmentation` whose profile, sizes,
    model and summary describe every row, and whose labels are a Spark DataFrame
    (:attr:`labels`) scored on the executors; ``labels`` of the sample the k sweep saw
    are not shown as the customers' labels."""

    def __init__(self, native, directory, labels_df, passes):
        super().__init__(native, directory)
        self._labels_df = labels_df
        #: What the run asked Spark for: ``(pass, seconds)``, one entry per job over the data.
        self.passes = passes

    @property
    def labels(self):
        """Spark DataFrame of every customer's labels (id, segment, segment_name, distance,
        distance_percentile, outlier), computed by the Rust scorer on the executors."""
        return self._labels_df

    def labels_arrow(self):
        raise cardseg.UsageError(
            "the labels of a Spark run live in Spark: use .labels (a Spark DataFrame) or the "
            "labels.parquet dataset of the output folder"
        )


def run(sdf, out: Optional[Union[str, os.PathLike]] = None, *, force: bool = False,
        train_sample: Optional[int] = None, tolerance: float = DEFAULT_TOLERANCE,
        max_iter: int = DEFAULT_MAX_ITER, labels_table: Optional[str] = None, **options: Any):
    """Segments every row of the Spark DataFrame ``sdf`` with the keywords of
    :func:`cardseg.run`; returns a :class:`SparkSegmentation`. With ``out``, writes the
    folder ``cardseg run --out`` writes, with the labels as the Parquet dataset
    ``labels.parquet`` written by Spark instead of ``labels.csv``; with ``labels_table``,
    the labels go to that Spark table instead (``saveAsTable``; replaced only with
    ``force``).

    What is exact and what is sampled (see README "On Spark"): fill values, missing
    counts, the scaler's statistics, segment sizes and shares, the profile (medians, means,
    category mixes of code, text and boolean columns, outcome rates), the distance quantiles,
    the outlier counts and the drift baseline are computed on every row; the k sweep and its
    silhouettes, stability and the dashboard's points use a uniform sample of ``train_sample`` rows (default
    :data:`DEFAULT_TRAIN_SAMPLE`) drawn by a hash of the id and the seed, so the same rows
    are drawn whatever the partitioning; the chosen k is then refined on every row until
    no centroid moves more than ``tolerance`` (at most ``max_iter`` passes).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import (ArrayType, BinaryType, DoubleType, IntegerType, LongType, StringType,
                                   StructField, StructType)

    import time

    from cardseg import _cardseg

    passes = []

    def timed(name, fn):
        t = time.perf_counter()
        r = fn()
        passes.append((name, round(time.perf_counter() - t, 3)))
        return r

    for key in ("write_labels", "no_id", "table", "query", "delimiter", "out"):
        if options.get(key) not in (None, False):
            raise UsageError(f"cardseg.spark.run does not take {key}: the data is the DataFrame")
        options.pop(key, None)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise UsageError(f"tolerance takes a positive number, not {tolerance!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise UsageError(f"max_iter takes a whole number from 1, not {max_iter!r}")
    if train_sample is not None and (isinstance(train_sample, bool) or not isinstance(train_sample, int)
                                     or train_sample < 2):
        raise UsageError(f"train_sample takes a whole number from 2, not {train_sample!r}")
    defaults = _cardseg.defaults()
    features = _columns(options.get("features"), defaults["features"])
    named_profile = options.get("profile_features") is not None
    profile = _columns(options.get("profile_features"), defaults["profile_features"])
    id_col = options.get("id_column") or defaults["id_column"] or cardseg.DEFAULT_ID_COLUMN
    missing_policy = options.get("missing") or defaults["missing"]
    scaler = options.get("scaler") or defaults["scaler"]
    outcomes = _columns(options.get("outcome"), [])
    seed = options.get("seed", defaults["seed"])
    if out is not None and labels_table is None:
        # Refused before any work, as cardseg run does (checked again at the write).
        out = Path(out)
        if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
            raise cardseg.OutputExistsError(
                f"{out} already exists and is not empty; choose another output or pass force=True to replace it"
            )

    types = {f.name: type(f.dataType).__name__ for f in sdf.schema.fields}
    name = "Spark DataFrame"
    if id_col not in types:
        raise cardseg.InputError(
            f"{name}: id column {id_col} not found; name it with id_column= (Spark rows have no order to number them by)"
        )
    for c in features + (profile if named_profile else []) + outcomes:
        if c not in types:
            raise cardseg.InputError(f"{name}: column {c} not found")
        if types[c] not in _NUMERIC:
            raise cardseg.InputError(
                f"{name}: column {c} is {types[c].replace('Type', '').lower()}, not a number; cast it to double"
            )
    if not named_profile:
        profile = [c for c in profile if types.get(c) in _NUMERIC]
    used = list(dict.fromkeys(features + profile))
    numeric = [c for c in sdf.columns if types[c] in _NUMERIC and c != id_col]
    options["features"] = features
    options["profile_features"] = profile
    options["id_column"] = id_col

    q = _quote

    def value(c):
        """A column as double, NaN read as missing (as the Rust reader does)."""
        col = F.col(q(c)).cast("double")
        return F.when(~F.isnan(col), col)

    # Text and boolean columns: profiled as categories, as a CSV file's text columns are.
    text_candidates = [c for c in sdf.columns if types[c] in _TEXT and c != id_col]
    base = sdf.select(*[F.col(q(c)) for c in [id_col] + numeric + text_candidates])
    # Used columns as doubles under plain names, so SQL aggregates can name them.
    vals = base.select(*[value(c).alias(f"__v{i}") for i, c in enumerate(used)])
    def all_present(col_of):
        """Whether a row keeps every used column (always, unless missing="drop")."""
        e = F.lit(True)
        if missing_policy == "drop":
            for i, c in enumerate(used):
                e = e & col_of(i, c).isNotNull()
        return e

    keep = all_present(lambda i, c: F.col(f"__v{i}"))

    # Pass 1: rows, missing counts, means, the scaler's min and max, every row's min and max
    # of each feature, and approximate quantiles bracketing the exact order statistics
    # pass 1b finds: the two middle values of each used column (medians by the definition
    # of stats::median) and each feature's deciles (the drift baseline).
    aggs = [F.count(F.lit(1)).alias("n_in"), F.sum(F.when(keep, 1).otherwise(0)).alias("n_out")]
    for i, c in enumerate(used):
        v = F.col(f"__v{i}")
        aggs.append(F.count(v).alias(f"n{i}"))
        if missing_policy == "mean":
            aggs.append(F.avg(v).alias(f"mean{i}"))
        if c in features:
            aggs.append(F.min(F.when(keep, v)).alias(f"min{i}"))
            aggs.append(F.max(F.when(keep, v)).alias(f"max{i}"))
        aggs += [F.min(v).alias(f"amin{i}"), F.max(v).alias(f"amax{i}")]
        levels = ([0.5] if missing_policy == "median" else []) + ([j / 10 for j in range(1, 10)] if c in features else [])
        if levels:
            aggs.append(_bracket(f"__v{i}", i, levels))
    st = timed("statistics", lambda: vals.agg(*aggs).collect()[0]).asDict()
    n_in, n_out = int(st["n_in"]), int(st["n_out"] or 0)
    # Pass 1b: those order statistics exactly, from the values inside each bracket (the
    # Rust kernel on the executors counts the values below and at the ends of each bracket
    # and returns those strictly inside).
    targets = []
    for i, c in enumerate(used):
        m_i = int(st[f"n{i}"])
        if m_i == 0:
            continue
        got = st.get(f"b{i}") or []
        approx = iter(zip(got[0::2], got[1::2]))
        if missing_policy == "median":
            targets.append((i, "median", ((m_i - 1) // 2, m_i // 2), next(approx)))
        if c in features:
            for j in range(1, 10):
                r = j * (m_i - 1) // 10
                targets.append((i, f"decile{j}", (r, r), next(approx)))
    # A column's range brackets all its values (the fallback of _exact_ranks).
    bounds = {i: (st[f"amin{i}"], st[f"amax{i}"]) for i in range(len(used))}
    exact = timed("statistics (exact order statistics)",
                  lambda: _exact_ranks(vals, targets, bounds))
    if missing_policy == "median":
        for i in range(len(used)):
            if (i, "median") in exact:
                st[f"lo{i}"], st[f"hi{i}"] = exact[(i, "median")][0]
            else:
                st[f"lo{i}"] = st[f"hi{i}"] = None
    # The drift baseline of every row read, as model::baseline::FeatureDistribution::of
    # computes it from a column: deciles as bin edges, the shares of the present values per bin.
    feature_distributions = []
    for i, c in enumerate(used):
        if c not in features or int(st[f"n{i}"]) == 0:
            continue
        m_i = int(st[f"n{i}"])
        edges, ups = [], []
        for j in range(1, 10):
            (value_j, _), count_le = exact[(i, f"decile{j}")]
            if not edges or edges[-1] != value_j:
                edges.append(value_j)
                ups.append(count_le(value_j))
        counts = [ups[0]] + [b - a for a, b in zip(ups, ups[1:])] + [m_i - ups[-1]]
        feature_distributions.append({
            "feature": c, "rows": n_in, "missing_share": (n_in - m_i) / n_in,
            "min": float(st[f"amin{i}"]), "max": float(st[f"amax{i}"]),
            "edges": edges, "shares": [x / m_i for x in counts]})
    cleaning, fills = [], {}
    for i, c in enumerate(used):
        present = int(st[f"n{i}"])
        if present == 0:
            raise cardseg.InputError(f"{name}: column {c} is empty in every row; it cannot be used as a feature")
        fill = None
        if missing_policy == "median":
            fill = _median(st[f"lo{i}"], st[f"hi{i}"])
        elif missing_policy == "mean":
            fill = float(st[f"mean{i}"])
        if fill is not None:
            fills[c] = fill
        cleaning.append({"column": c, "missing": n_in - present, "fill_value": fill})
    if n_out == 0:
        raise cardseg.InputError(
            f"{name}: every row has a missing value in a used column, so missing=\"drop\" leaves nothing; use missing=\"median\""
        )
    rows = base.where(all_present(lambda i, c: value(c))) if missing_policy == "drop" else base

    def filled(c):
        v = value(c)
        return F.coalesce(v, F.lit(fills[c])) if c in fills else v

    fit = []
    for i, c in enumerate(features):
        j = used.index(c)
        fit.append({"min": st[f"min{j}"], "max": st[f"max{j}"]})
    if scaler in ("standard", "robust"):
        # Pass 1b: the spread of the filled features.
        more = []
        for i, c in enumerate(features):
            if scaler == "standard":
                more += [F.avg(filled(c)).alias(f"m{i}"), F.stddev_pop(filled(c)).alias(f"s{i}")]
            else:
                more.append(F.percentile(filled(c), F.array(*[F.lit(p) for p in (0.25, 0.5, 0.75)])).alias(f"q{i}"))
        sp = timed("scaler spread", lambda: rows.agg(*more).collect()[0])
        for i, _ in enumerate(features):
            if scaler == "standard":
                fit[i].update(mean=sp[f"m{i}"], std=sp[f"s{i}"])
            else:
                q1, med, q3 = sp[f"q{i}"]
                fit[i].update(median=med, iqr=q3 - q1)
    external = {"rows_in": n_in, "rows_out": n_out, "cleaning": cleaning, "scaler": fit}
    if len(feature_distributions) == len(features):
        external["feature_distributions"] = feature_distributions

    # Pass 2: a uniform sample, by a hash of the id and the seed (the same rows whatever
    # the partitioning), ordered by that hash on the driver.
    m = DEFAULT_TRAIN_SAMPLE if train_sample is None else train_sample
    fraction = min(1.0, m / n_out)
    key = F.xxhash64(F.col(q(id_col)).cast("string"), F.lit(int(seed))).bitwiseAND(F.lit((1 << 53) - 1))
    drawn = rows.withColumn("__cardseg_key", key)
    if fraction < 1.0:
        drawn = drawn.where(F.col("__cardseg_key") < F.lit(int(fraction * (1 << 53))))
    sample = timed("sample", lambda: drawn.toArrow())
    sample = sample.sort_by([("__cardseg_key", "ascending"), (id_col, "ascending")]).drop(["__cardseg_key"])
    opts = {k: v for k, v in options.items() if k not in ("force", "train_sample")}

    def segment(ext, outliers=None):
        return _cardseg.spark_segment_sample(
            sample.__arrow_c_stream__(), name, json.dumps(ext, allow_nan=False),
            None if outliers is None else json.dumps(outliers, allow_nan=False), **opts)

    # The first run on the sample needs of a previous run only its model (the k choice,
    # continuity): empty flows stand in for the migration, so it reads no labels file and
    # counts nothing; the flows of every row go to the second run.
    first_ext = dict(external)
    if options.get("previous") is not None:
        first_ext["migration"] = {
            "before": "", "customers_before": 0, "customers_after": 0, "customers_in_both": 0,
            "unlabelled": 0, "new_customers": 0, "gone_customers": 0, "duplicate_ids_before": 0,
            "duplicate_ids_after": 0, "missing_ids_before": 0, "missing_ids_after": 0, "cells": []}
    first = segment(first_ext)
    model_text = first.model().to_json()
    model = json.loads(model_text)["model"]
    d = len(features)
    centroids = [v for row in model["centroids_scaled"] for v in row]
    k = len(model["centroids_scaled"])
    sweep = model["k_selection"]["sweep"]
    numeric_cols, category_cols = _cardseg.spark_profile_columns(first)
    texts = _cardseg.spark_text_columns(first, text_candidates) if text_candidates else []
    # The first run's sample table, labels and profile are not needed again.
    del first

    # Lloyd steps on every row: assignment and partial sums in the Rust kernel on the
    # executors, one row per partition back to the driver.
    part_schema = StructType([
        StructField("p", IntegerType()), StructField("sums", ArrayType(DoubleType())),
        StructField("counts", ArrayType(LongType())), StructField("inertia", DoubleType()),
    ])
    lloyd_input = rows.select(*[F.col(q(c)) for c in [id_col] + features])

    def step(cs):
        def partial(batches):
            import numpy as np
            import pyarrow as pa
            from pyspark import TaskContext

            from cardseg import _cardseg as native

            mdl = native.Model.from_json(model_text)
            sums = np.zeros(k * d)
            counts = np.zeros(k, dtype=np.int64)
            inertia = 0.0
            for b in batches:
                if b.num_rows == 0:
                    continue
                s, c, i = native.spark_lloyd_partial(mdl, pa.Table.from_batches([b]).__arrow_c_stream__(), cs)
                sums += np.asarray(s)
                counts += np.asarray(c, dtype=np.int64)
                inertia += i
            yield pa.RecordBatch.from_pydict(
                {"p": [TaskContext.get().partitionId()], "sums": [sums.tolist()],
                 "counts": [counts.tolist()], "inertia": [inertia]},
                schema=pa.schema([("p", pa.int32()), ("sums", pa.list_(pa.float64())),
                                  ("counts", pa.list_(pa.int64())), ("inertia", pa.float64())]),
            )

        got = sorted(lloyd_input.mapInArrow(partial, part_schema).collect(), key=lambda r: r["p"])
        sums = [0.0] * (k * d)
        counts = [0] * k
        for r in got:
            sums = [a + b for a, b in zip(sums, r["sums"])]
            counts = [a + b for a, b in zip(counts, r["counts"])]
        return sums, counts

    iterations = 0
    while iterations < max_iter:
        iterations += 1
        sums, counts = timed(f"lloyd {iterations}", lambda: step(centroids))
        moved = 0.0
        new = list(centroids)
        for c in range(k):
            if counts[c] > 0:
                row = [s / counts[c] for s in sums[c * d:(c + 1) * d]]
                moved = max(moved, sum((a - b) ** 2 for a, b in zip(row, centroids[c * d:(c + 1) * d])) ** 0.5)
                new[c * d:(c + 1) * d] = row
        centroids = new
        if moved <= tolerance:
            break

    # The profile: two scans of every row by the Rust kernel on the executors (each row
    # assigned to the refined centroids as `predict` assigns it), nothing kept between
    # them. The first returns per partition the per-segment sums, counts, non-zero counts,
    # squared deviations, category counts, sizes, inertia and order statistics that
    # bracket each median and give the distance quantiles; the second counts the values
    # below and at each bracket's ends, returns those strictly inside (so the medians are
    # exact) and counts the outliers.
    final = list(centroids)
    prof_cols = list(dict.fromkeys(numeric_cols + outcomes))
    pnames = [f"__cardseg_p{i}" for i in range(len(prof_cols))]
    knames = [f"__cardseg_k{j}" for j in range(len(category_cols))]
    feed = rows.select(
        *[F.col(q(c)) for c in texts],
        *[F.col(q(c)) for c in [id_col] + [f for f in features if f != id_col]],
        *[(filled(c) if c in fills else value(c)).alias(pnames[i]) for i, c in enumerate(prof_cols)],
        *[value(c).alias(knames[j]) for j, c in enumerate(category_cols)])
    knots = PROFILE_KNOTS
    groups_n = k + 1
    blob_schema = StructType([StructField("p", IntegerType()), StructField("meta", StringType()),
                              StructField("data", BinaryType())])

    def per_partition(kernel, *args):
        def run_partition(batches):
            import pyarrow as pa
            from pyspark import TaskContext

            from cardseg import _cardseg as native

            stream = _streamed(pa, batches)
            if stream is None:
                return
            mdl = native.Model.from_json(model_text)
            meta, data = getattr(native, kernel)(mdl, stream.__arrow_c_stream__(), *args)
            yield pa.RecordBatch.from_pydict(
                {"p": [TaskContext.get().partitionId()], "meta": [meta], "data": [data]},
                schema=pa.schema([("p", pa.int32()), ("meta", pa.string()), ("data", pa.binary())]))

        got = sorted(feed.mapInArrow(run_partition, blob_schema).collect(), key=lambda r: r["p"])
        return [(json.loads(r["meta"]), np.frombuffer(r["data"], dtype="<f8")) for r in got]

    import numpy as np

    # The features raw (missing values left out) after the profiled columns: their order
    # statistics per segment give the per-segment drift baseline.
    raw_feats = [f for f in features if f != id_col]
    nnum = len(pnames) + len(raw_feats)
    parts = timed("profile", lambda: per_partition("spark_profile_pass", final, pnames + raw_feats, knames, texts,
                                                   knots))
    # Order statistics per column (the distance last) and group: (values in the partition, knots).
    ks_of = [[[] for _ in range(groups_n)] for _ in range(nnum + 1)]
    for meta, blob in parts:
        off = 0
        for c, per_group in enumerate(meta["knots"]):
            for g, cnt in enumerate(per_group):
                n_p = meta["sizes"][g] if c == nnum else meta["numbers"][c]["count"][g]
                ks_of[c][g].append((n_p, blob[off:off + cnt]))
                off += cnt
    raw_sizes = [sum(m_["sizes"][g] for m_, _ in parts) for g in range(k)]
    inertia_all = 0.0
    for m_, _ in parts:
        inertia_all += m_["inertia"]
    merged = []
    for c in range(len(prof_cols)):
        cnt = [sum(m_["numbers"][c]["count"][g] for m_, _ in parts) for g in range(groups_n)]
        sm = [0.0] * groups_n
        nz = [0] * groups_n
        for m_, _ in parts:
            for g in range(groups_n):
                sm[g] += m_["numbers"][c]["sum"][g]
                nz[g] += m_["numbers"][c]["nonzero"][g]
        m2 = [0.0] * groups_n
        for g in range(groups_n):
            if cnt[g]:
                mean = sm[g] / cnt[g]
                for m_, _ in parts:
                    x = m_["numbers"][c]
                    if x["count"][g]:
                        m2[g] += x["m2"][g] + x["count"][g] * (x["mean"][g] - mean) ** 2
        lows = [m_["numbers"][c]["min"] for m_, _ in parts if m_["numbers"][c]["min"] is not None]
        highs = [m_["numbers"][c]["max"] for m_, _ in parts if m_["numbers"][c]["max"] is not None]
        merged.append({"count": cnt, "sum": sm, "nonzero": nz, "m2": m2,
                       "min": min(lows) if lows else float("inf"), "max": max(highs) if highs else float("-inf"),
                       "nonbinary": sum(m_["numbers"][c]["nonbinary"] for m_, _ in parts)})
    dq_raw = [_quantiles_from_knots(ks_of[nnum][g], raw_sizes[g], knots) for g in range(k)]
    mid_idx = [i for i, c in enumerate(prof_cols) if c in numeric_cols]
    nan2 = [float("nan"), float("nan")]
    # Brackets of the exact order statistics the second scan finds: each profiled column's
    # two middle values per group, and per segment each raw feature's values at the
    # quantile levels of model::baseline::SEGMENT_LEVELS (the two ranks each interpolates).
    brackets = {}
    flat = []
    for i in mid_idx:
        for g in range(groups_n):
            n_g = merged[i]["count"][g]
            br = _bracket_from_knots(ks_of[i][g], n_g, knots, (n_g - 1) // 2, n_g // 2)
            brackets[(i, g)] = br
            flat += list(br) if br is not None else nan2
    level_ranks = {}
    for j in range(len(raw_feats)):
        c = len(pnames) + j
        for g in range(groups_n):
            n_g = sum(m_["numbers"][c]["count"][g] for m_, _ in parts) if g < k else 0
            for s_, p_ in enumerate(SEGMENT_LEVELS):
                br = None
                if n_g > 0:
                    pos = (n_g - 1) * p_ / 100.0
                    lo = int(math.floor(pos))
                    ranks = (lo, min(lo + 1, n_g - 1))
                    level_ranks[(j, g, s_)] = (n_g, pos, lo, ranks)
                    br = _bracket_from_knots(ks_of[c][g], n_g, knots, *ranks)
                    brackets[("f", j, g, s_)] = br
                flat += list(br) if br is not None else nan2
    slots = [1] * len(mid_idx) + [len(SEGMENT_LEVELS)] * len(raw_feats)
    percentile = float(model["outlier_percentile"])
    second = timed("profile (exact order statistics, outliers)", lambda: per_partition(
        "spark_middles_pass", final, [pnames[i] for i in mid_idx] + raw_feats, flat, slots, dq_raw, percentile,
        MOST_EXTREME))
    outlier_counts = [0] * k
    extreme = []
    for meta, _ in second:
        for g in range(k):
            outlier_counts[g] += meta["outliers"][g]
        extreme += meta["extreme"]
    tallies = _tallies([(meta["columns"], _split_blob(meta["columns"], blob)) for meta, blob in second],
                       [n_ * groups_n for n_ in slots])
    medians = {}
    for t, i in enumerate(mid_idx):
        for g in range(groups_n):
            br, n_g = brackets[(i, g)], merged[i]["count"][g]
            if br is None or n_g == 0:
                medians[(i, g)] = None
                continue
            lo_hi = _pick(br, *tallies[t][g], ((n_g - 1) // 2, n_g // 2))
            if lo_hi is None:
                raise RuntimeError(f"cardseg.spark.run: the median bracket of {prof_cols[i]} missed its middle values")
            medians[(i, g)] = _median(*lo_hi)
    # Per segment and raw feature: model::baseline::SegmentFeature::of on every row.
    seg_features = [[] for _ in range(k)]
    for j, f in enumerate(raw_feats):
        t = len(mid_idx) + j
        for g in range(k):
            if (j, g, 0) not in level_ranks:
                seg_features[g].append({"feature": f, "values": 0, "quantiles": [], "below_median": 0.0,
                                        "above_median": 0.0})
                continue
            qs, counts_at = [], []
            for s_ in range(len(SEGMENT_LEVELS)):
                n_g, pos, lo, ranks = level_ranks[(j, g, s_)]
                tally = tallies[t][g * len(SEGMENT_LEVELS) + s_]
                br = brackets[("f", j, g, s_)]
                got = _pick(br, *tally, ranks)
                if got is None:
                    raise RuntimeError(f"cardseg.spark.run: a quantile bracket of {f} missed its values")
                frac = pos - lo
                qs.append(got[0] if frac == 0 else got[0] + (got[1] - got[0]) * frac)
                counts_at.append(_counter(br, *tally))
            med, count = qs[4], counts_at[4]
            seg_features[g].append({"feature": f, "values": n_g, "quantiles": qs,
                                    "below_median": count(med, strict=True) / n_g,
                                    "above_median": (n_g - count(med)) / n_g})
    # Segment order: largest first, equal sizes by centroid coordinates (run::order_segments).
    order = sorted(range(k), key=lambda g: (-raw_sizes[g], final[g * d:(g + 1) * d]))
    rank = {g: t for t, g in enumerate(order)}
    grouped = order + [k]
    numeric_stats, outcome_stats = [], []
    for i, c in enumerate(prof_cols):
        x = merged[i]
        if c in numeric_cols:
            numeric_stats.append({
                "column": c, "sums": [x["sum"][g] for g in grouped], "counts": [x["count"][g] for g in grouped],
                "medians": [medians.get((i, g)) for g in grouped], "nonzero": [x["nonzero"][g] for g in grouped],
                "m2": [x["m2"][g] for g in grouped], "min": x["min"], "max": x["max"],
            })
        if c in outcomes:
            outcome_stats.append({
                "column": c, "binary": x["nonbinary"] == 0, "n": [x["count"][g] for g in grouped],
                "sum": [x["sum"][g] for g in grouped], "m2": [x["m2"][g] for g in grouped],
            })
    category_stats = []
    for j, c in enumerate(category_cols):
        cells = {}
        for meta, _ in parts:
            for v, counts_v in meta["codes"][j]:
                acc = cells.setdefault(v, [0] * groups_n)
                for g in range(groups_n):
                    acc[g] += counts_v[g]
        values = sorted(v for v in cells if v is not None)
        cols_v = values + [None]
        table = [[cells.get(v, [0] * groups_n)[g] for v in cols_v] for g in grouped]
        category_stats.append({"column": c, "values": cols_v, "counts": table})
    text_stats = []
    for j, c in enumerate(texts):
        cells = {}
        for meta, _ in parts:
            got = meta["texts"][j]
            if got is None:
                cells = None
                break
            for v, counts_v in got:
                acc = cells.setdefault(v, [0] * groups_n)
                for g in range(groups_n):
                    acc[g] += counts_v[g]
        # Past the readers' limit of distinct values a column is not a category.
        if cells is None or len(cells) > MAX_TEXT_VALUES:
            continue
        values = sorted(cells)
        text_stats.append({"column": c, "values": values,
                           "counts": [[cells[v][g] for v in values] for g in grouped]})
    extreme.sort(key=lambda e: (-e[2], e[0]))
    all_row_outliers = {"counts": [outlier_counts[g] for g in order],
                        "extreme": [[e[0], rank[e[1]], e[2]] for e in extreme[:MOST_EXTREME]]}
    ordered = [v for g in order for v in final[g * d:(g + 1) * d]]
    external["refined"] = {
        "sweep": sweep, "centroids": ordered, "counts": [raw_sizes[g] for g in order],
        "inertia": inertia_all,
        "distance_quantiles": [dq_raw[g] for g in order],
        "numeric": numeric_stats, "categories": category_stats, "outcomes": outcome_stats,
        "texts": text_stats,
        "segment_distributions": [
            {"id": t + 1, "customers": raw_sizes[g], "share": raw_sizes[g] / max(1, sum(raw_sizes)),
             "features": seg_features[g]} for t, g in enumerate(order)],
    }
    if options.get("previous") is not None:
        # Migration on every row: the previous run's labels joined by id with this run's
        # segments (as indices in segment order), counted by Spark; only the counts return.
        before = _previous_labels(sdf.sparkSession, Path(options["previous"]))
        if before is not None:
            assign_text = model_text

            def assign(batches):
                import numpy as np
                import pyarrow as pa

                from cardseg import _cardseg as native_mod

                mdl = native_mod.Model.from_json(assign_text)
                for b in batches:
                    if b.num_rows == 0:
                        continue
                    lab, _, offsets, text = native_mod.spark_assign(
                        mdl, pa.Table.from_batches([b]).__arrow_c_stream__(), ordered)
                    idx = np.frombuffer(lab, dtype="<i4")
                    yield pa.RecordBatch.from_arrays(
                        [_id_array(pa, b.num_rows, offsets, text), pa.array(idx, type=pa.int32(), mask=idx < 0)],
                        names=["id", "idx"])

            # The ids as the reader renders them (spark_assign), as the previous labels' are.
            now = base.select(F.col(q(id_col)), *[F.col(q(c)) for c in features if c != id_col])
            now = now.mapInArrow(assign, StructType([StructField("id", StringType()),
                                                     StructField("idx", IntegerType())]))
            external["migration"] = timed("migration", lambda: _migration_counts(before[0], before[1], now))
    native = segment(external, all_row_outliers)
    # The run holds what it read of the sample; the Arrow copy is not needed again.
    del sample
    final_model = cardseg.Model(native.model())

    labels_df = score_with_outliers(base, final_model)
    result = SparkSegmentation(native, None, labels_df, passes)
    result.lloyd_iterations = iterations
    if labels_table is not None:
        mode = "overwrite" if force else "errorifexists"
        timed("labels", lambda: labels_df.write.mode(mode).saveAsTable(labels_table))
        if out is not None:
            result.write(out, force=force)
    elif out is not None:
        out = Path(out)
        # Spark writes the labels beside the output first; they move in once the folder
        # is committed, so a failure leaves no half-written output.
        tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.cardseg-labels"
        try:
            timed("labels", lambda: labels_df.write.parquet(str(tmp)))
            result.write(out, force=force)
            os.replace(tmp, out / "labels.parquet")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return result


def _previous_labels(spark, previous: Path):
    """The labels beside the previous model, as (path shown, DataFrame of id, pseg, pname):
    a labels.parquet dataset or file (a Spark run, or ``--labels-format parquet``), else a
    labels.csv (``cardseg run``); None when there are none."""
    from pyspark.sql import functions as F

    d = previous.parent
    pq, csv = d / "labels.parquet", d / "labels.csv"
    if pq.exists():
        df, shown = spark.read.parquet(str(pq)), str(pq)
    elif csv.is_file():
        df = spark.read.csv(str(csv), header=True, inferSchema=False, escape='"', multiLine=True)
        shown = str(csv)
    else:
        return None
    cols = df.columns
    for c in ("segment", "segment_name"):
        if c not in cols:
            raise cardseg.InputError(f"{shown}: no column {c}; give the labels cardseg run or predict wrote")

    def cell(c):
        v = F.col(_quote(c)).cast("string")
        if shown.endswith(".csv"):
            # csvcell::restore: one quote off a cell neutralised against spreadsheet formulas.
            v = F.when(v.rlike("^'+[=+@\\t\\r-]"), F.expr(f"substring({_quote(c)}, 2)")).otherwise(v)
        return v

    picked = df.select(cell(cols[0]).alias("id") if shown.endswith(".csv") else F.col(_quote(cols[0])).alias("id"),
                       F.col("segment").cast("int").alias("pseg"), cell("segment_name").alias("pname"))
    return shown, _reader_ids(picked)


def _streamed(pa, batches):
    """The partition's non-empty batches as a stream the kernel reads one batch at a time,
    so the task does not hold them all beside the kernel's copy; None when there is none."""
    batches = (b for b in batches if b.num_rows > 0)
    head = next(batches, None)
    if head is None:
        return None

    def rest():
        yield head
        yield from batches

    return pa.RecordBatchReader.from_batches(head.schema, rest())


def _id_array(pa, n, offsets, text):
    """An Arrow string column from a kernel's id buffers (int32 offsets, UTF-8 bytes)."""
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _reader_ids(df):
    """``df`` with its first column ``id`` as cardseg's reader renders an id (spark_ids:
    whole numbers without a decimal point, other numbers in their shortest form, text
    trimmed, a null empty), so ids stored as numbers of any type, or as text, match the
    ids of this run's rows read the same way."""
    from pyspark.sql.types import StringType, StructField, StructType

    rest = df.columns[1:]
    schema = StructType([StructField("id", StringType())] + [f for f in df.schema.fields if f.name in rest])

    def normalise(batches):
        import pyarrow as pa

        from cardseg import _cardseg as native

        for b in batches:
            if b.num_rows == 0:
                continue
            ids = pa.Table.from_batches([b]).select([0])
            offsets, text = native.spark_ids(ids.__arrow_c_stream__(), b.schema.names[0])
            yield pa.RecordBatch.from_arrays([_id_array(pa, b.num_rows, offsets, text)] + b.columns[1:],
                                             names=["id"] + b.schema.names[1:])

    return df.mapInArrow(normalise, schema)


def _migration_counts(shown, before, now):
    """The counts of ``lifecycle::migration::Counted``, by the rules of ``migrate``: ids
    matched when unique on both sides, empty ids and duplicated ids left out and counted.
    One Spark job; the driver receives one row per (kind, previous segment, segment)."""
    from pyspark.sql import functions as F

    def norm(df):
        return df.withColumn("id", F.when(F.col("id") != "", F.col("id")))

    pu = norm(before).groupBy("id").agg(F.count(F.lit(1)).alias("pn"), F.first("pseg").alias("pseg"),
                                        F.first("pname").alias("pname"))
    nu = norm(now).groupBy("id").agg(F.count(F.lit(1)).alias("nn"), F.first("idx").alias("idx"))
    j = pu.join(nu, on="id", how="full_outer")
    both = F.coalesce((F.col("pn") == 1) & (F.col("nn") == 1), F.lit(False))
    g = j.select(F.col("id").isNull().alias("e"), F.coalesce(F.col("pn"), F.lit(0)).alias("pn"),
                 F.coalesce(F.col("nn"), F.lit(0)).alias("nn"), F.when(both, F.col("pseg")).alias("pseg"),
                 F.when(both, F.col("pname")).alias("pname"), F.when(both, F.col("idx")).alias("idx"))
    got = (g.groupBy("e", F.least(F.col("pn"), F.lit(2)).alias("pk"), F.least(F.col("nn"), F.lit(2)).alias("nk"),
                     "pseg", "pname", "idx")
           .agg(F.count(F.lit(1)).alias("c"), F.sum("pn").alias("sp"), F.sum("nn").alias("sn")).collect())
    out = {k: 0 for k in ("customers_before", "customers_after", "customers_in_both", "unlabelled",
                          "new_customers", "gone_customers", "duplicate_ids_before", "duplicate_ids_after",
                          "missing_ids_before", "missing_ids_after")}
    cells = []
    for r in got:
        out["customers_before"] += int(r["sp"])
        out["customers_after"] += int(r["sn"])
        if r["e"]:
            out["missing_ids_before"] += int(r["sp"])
            out["missing_ids_after"] += int(r["sn"])
            continue
        c, pk, nk = int(r["c"]), r["pk"], r["nk"]
        if pk == 2:
            out["duplicate_ids_before"] += c
        if nk == 2:
            out["duplicate_ids_after"] += c
        if pk == 1 and nk == 0:
            out["gone_customers"] += c
        elif pk == 0 and nk == 1:
            out["new_customers"] += c
        elif pk == 1 and nk == 1:
            out["customers_in_both"] += c
            if r["pseg"] is None or r["idx"] is None:
                out["unlabelled"] += c
            else:
                cells.append({"from_segment": int(r["pseg"]), "from_name": r["pname"] or "",
                              "to_index": int(r["idx"]), "customers": c})
    out["before"] = shown
    out["cells"] = sorted(cells, key=lambda x: (x["from_segment"], x["from_name"], x["to_index"]))
    return out


#: Order statistics each partition returns per segment and profiled column (and of the
#: distances): the medians' brackets then hold about 2 × rows / PROFILE_KNOTS values of a
#: segment, and the distance quantiles are within rows / PROFILE_KNOTS ranks (exact when
#: no partition holds more than PROFILE_KNOTS + 1 rows of a segment).
PROFILE_KNOTS = 1024
#: Distinct values past which a text column is not profiled (ingest::categories::MAX_TRACKED).
MAX_TEXT_VALUES = 1000
#: The summary's most extreme customers.
MOST_EXTREME = 5


def _knot_positions(n, knots):
    """Positions of the order statistics a partition returns (spark_profile_pass's)."""
    import numpy as np

    if n <= knots + 1:
        return np.arange(n, dtype=np.int64)
    return np.arange(knots + 1, dtype=np.int64) * (n - 1) // knots


def _bracket_from_knots(parts, n, knots, pos_lo, pos_hi):
    """Values ``a <= b`` between which the values at ranks ``pos_lo <= pos_hi`` (0-based,
    of ``n`` sorted values) certainly lie, from each partition's order statistics ``(n_p,
    values at _knot_positions)``: ``a`` is the largest returned value below which at most
    ``pos_lo`` values can lie, ``b`` the smallest at or below which at least ``pos_hi + 1``
    values must lie. None when empty."""
    import numpy as np

    pp = [(n_p, _knot_positions(n_p, knots), v) for n_p, v in parts if n_p > 0]
    if n == 0 or not pp:
        return None
    cand = np.unique(np.concatenate([v for _, _, v in pp]))

    def most_below(x):
        t = 0
        for n_p, r, v in pp:
            j = int(np.searchsorted(v, x, side="left"))
            t += n_p if j == len(v) else int(r[j])
        return t

    def least_up_to(x):
        t = 0
        for _, r, v in pp:
            j = int(np.searchsorted(v, x, side="right")) - 1
            t += 0 if j < 0 else int(r[j]) + 1
        return t

    lo, hi = 0, len(cand) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if most_below(cand[mid]) <= pos_lo:
            lo = mid
        else:
            hi = mid - 1
    a = float(cand[lo])
    lo, hi = 0, len(cand) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if least_up_to(cand[mid]) >= pos_hi + 1:
            hi = mid
        else:
            lo = mid + 1
    return a, float(cand[lo])


def _quantiles_from_knots(parts, n, knots):
    """The distance quantiles of model::baseline::quantiles (interpolated at
    ``(n - 1) * level``), each order statistic standing for the values up to the next:
    exact when every partition returned all its values, else within the ranks between
    two returned ones."""
    import numpy as np

    if n == 0:
        return [0.0] * len(_LEVELS)
    vals, weights = [], []
    for n_p, v in parts:
        if n_p == 0:
            continue
        r = _knot_positions(n_p, knots)
        vals.append(v)
        weights.append(np.diff(np.append(r, n_p)))
    v = np.concatenate(vals)
    w = np.concatenate(weights)
    o = np.argsort(v, kind="stable")
    v, cum = v[o], np.cumsum(w[o])

    def at(rank):
        return float(v[min(int(np.searchsorted(cum, rank, side="right")), len(v) - 1)])

    out = []
    for lv in _LEVELS:
        pos = (n - 1) * lv / 1000.0
        lo = int(np.floor(pos))
        frac = pos - lo
        a = at(lo)
        out.append(a if frac == 0 else a + (at(min(lo + 1, n - 1)) - a) * frac)
    return out


#: Accuracy of the approximate quantiles that bracket each exact order statistic (Spark's
#: percentile_approx: rank error at most n / accuracy).
BRACKET_ACCURACY = 10_000


def _bracket(col, i, levels):
    """Per level, two approximate quantiles a little below and above it: the exact order
    statistic lies between them (percentile_approx's rank guarantee), so only the few
    values in between are needed to find it."""
    from pyspark.sql import functions as F

    e = 3.0 / BRACKET_ACCURACY
    at = []
    for lv in levels:
        at += [max(0.0, lv - e), min(1.0, lv + e)]
    return F.expr(
        f"percentile_approx({col}, array({', '.join(repr(x) for x in at)}), {BRACKET_ACCURACY})"
    ).alias(f"b{i}")


def _pick(bracket, below, at_a, at_b, inside, ranks):
    """The values at ``ranks`` (0-based positions among the sorted values) from the counts
    below and at the ends of ``bracket`` and the sorted values strictly inside it; None if
    a rank falls outside."""
    a, b = bracket
    picked = []
    for pos in ranks:
        j = pos - below
        if 0 <= j < at_a:
            picked.append(float(a))
        elif 0 <= j - at_a < len(inside):
            picked.append(float(inside[j - at_a]))
        elif a != b and 0 <= j - at_a - len(inside) < at_b:
            picked.append(float(b))
        else:
            return None
    return tuple(picked)


def _counter(bracket, below, at_a, at_b, inside):
    """Values at most (``strict``: below) a value x of the bracket, from its tallies."""
    import numpy as np

    a, b = bracket

    def count(x, strict=False):
        if strict:
            return (below + (at_a if a < x else 0) + int(np.searchsorted(inside, x, side="left"))
                    + (at_b if b < x else 0))
        return (below + (at_a if a <= x else 0) + int(np.searchsorted(inside, x, side="right"))
                + (at_b if b <= x else 0))

    return count


def _tallies(parts, slots):
    """The partitions' tallies (``Tally`` of python/src/spark.rs), summed per bracket:
    ``[[(below, at_a, at_b, sorted inside values) per slot] per column]``."""
    import numpy as np

    out = []
    for c, n in enumerate(slots):
        per = []
        for s in range(n):
            below = at_a = at_b = 0
            chunks = []
            for cols, blobs in parts:
                col = cols[c]
                below += col["below"][s]
                at_a += col["at_a"][s]
                at_b += col["at_b"][s]
                chunks.append(blobs[c][s])
            per.append((below, at_a, at_b, np.sort(np.concatenate(chunks)) if chunks else np.zeros(0)))
        out.append(per)
    return out


def _split_blob(cols, blob):
    """Per column and bracket, the float64 values of a kernel's ``inside`` counts."""
    import numpy as np

    data = blob if isinstance(blob, np.ndarray) else np.frombuffer(blob, dtype="<f8")
    off, out = 0, []
    for col in cols:
        per = []
        for cnt in col["inside"]:
            per.append(data[off:off + cnt])
            off += cnt
        out.append(per)
    return out


def _exact_ranks(df, targets, bounds):
    """Exact order statistics of the float64 columns ``__v{i}`` of ``df`` on every row,
    in one pass (the Rust kernel ``spark_rank_pass`` on each partition): ``targets`` are
    ``(i, key, ranks, (a, b))`` with ``(a, b)`` approximate quantiles bracketing the ranks.
    Returns ``{(i, key): (values at ranks, count)}``, ``count(x)`` the values at most x (of
    the bracket). A rank outside its bracket (never, by percentile_approx's guarantee) is
    found by a second pass with the column's min and max as bracket."""
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    schema = StructType([StructField("meta", StringType()), StructField("data", BinaryType())])
    out, todo, wide = {}, list(targets), False
    while todo:
        cols = list(dict.fromkeys(t[0] for t in todo))
        per_col = {i: [t for t in todo if t[0] == i] for i in cols}
        names = [f"__v{i}" for i in cols]
        slots = [len(per_col[i]) for i in cols]
        flat = [float("nan") if x is None else float(x) for i in cols for t in per_col[i] for x in t[3]]

        def rank_partition(batches, names=names, flat=flat, slots=slots):
            import pyarrow as pa

            from cardseg import _cardseg as native

            stream = _streamed(pa, batches)
            if stream is None:
                return
            meta, data = native.spark_rank_pass(stream.__arrow_c_stream__(), names, flat, slots)
            yield pa.RecordBatch.from_pydict({"meta": [meta], "data": [data]},
                                             schema=pa.schema([("meta", pa.string()), ("data", pa.binary())]))

        got = df.select(*names).mapInArrow(rank_partition, schema).collect()
        parts = []
        for r in got:
            cols_meta = json.loads(r["meta"])
            parts.append((cols_meta, _split_blob(cols_meta, r["data"])))
        tallies = _tallies(parts, slots)
        missed = []
        for c, i in enumerate(cols):
            for s, t in enumerate(per_col[i]):
                below, at_a, at_b, inside = tallies[c][s]
                picked = _pick(t[3], below, at_a, at_b, inside, t[2])
                if picked is None:
                    missed.append(t)
                else:
                    out[(t[0], t[1])] = (picked, _counter(t[3], below, at_a, at_b, inside))
        if missed and wide:
            raise RuntimeError("cardseg.spark.run: an order statistic fell outside its column's range")
        todo = [(i, key, ranks, bounds[i]) for i, key, ranks, _ in missed]
        wide = True
    return out


def score_with_outliers(df, model: "cardseg.Model"):
    """Like :func:`score`, with the columns of labels.csv: distance, distance_percentile and
    outlier too (the rule of ``cardseg predict``)."""
    from pyspark.sql.types import BooleanType, DoubleType, IntegerType, StringType, StructField, StructType

    text = model.to_json()
    cols = [model.id_column] + [f for f in model.features if f != model.id_column]
    schema = StructType([
        StructField(model.id_column, StringType(), True),
        StructField("segment", IntegerType(), True),
        StructField("segment_name", StringType(), True),
        StructField("distance", DoubleType(), True),
        StructField("distance_percentile", DoubleType(), True),
        StructField("outlier", BooleanType(), True),
    ])

    def score_batches(batches):
        import pyarrow as pa

        import cardseg as cs

        m = cs.Model.from_json(text)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            yield m.predict_arrow(pa.Table.from_batches([batch]), source_name="Spark partition", outliers=True)

    return df.select(*[_quote(c) for c in cols]).mapInArrow(score_batches, schema)
