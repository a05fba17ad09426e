"""Scoring a Spark DataFrame with a cardseg model, on the executors.

:func:`score` ships the model's JSON text to the executors and scores each Arrow batch
there with ``mapInArrow`` through the same Rust code as ``cardseg predict``. The
``cardseg`` wheel must be installed on every executor (in local mode they run the
driver's Python, so the driver's venv is enough; on a cluster install the wheel with the
job's Python environment, e.g. ``spark.archives`` with a packed venv).
"""

from __future__ import annotations

import os
from typing import Union

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
