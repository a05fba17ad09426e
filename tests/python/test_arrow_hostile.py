"""Hostile Arrow input to the Python package: malformed streams, null records, decimals,
null-typed columns, and the dashboard copy.

A malformed Arrow stream must raise a ``cardseg.CardsegError`` subclass, never kill the
interpreter: every such case runs in a child interpreter (a segmentation fault or an abort
there is a failed test, not a dead pytest), which prints a marker when it caught the error.
"""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

HERE = pathlib.Path(__file__).resolve().parent
CAUGHT = "CARDSEG-CAUGHT"

PRELUDE = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import cardseg
import pyarrow as pa

def refused(f):
    try:
        f()
    except cardseg.CardsegError as e:
        print({CAUGHT!r}, type(e).__name__, str(e))
    else:
        print("NOT REFUSED")
"""


def in_child(code, *args, timeout=300):
    """Runs ``code`` in a fresh interpreter; returns its output, asserting that it ended
    normally (not by a signal: a crash or an abort)."""
    p = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    how = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exited {p.returncode}"
    assert p.returncode == 0, f"the child {how}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-3000:]}"
    return p.stdout


def frame(n, seed=3):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "CUST_ID": [f"C{i:05d}" for i in range(n)],
            "BALANCE": rng.uniform(0, 5000, n).round(2),
            "PURCHASES": rng.uniform(0, 3000, n).round(2),
            "CREDIT_LIMIT": rng.uniform(500, 9000, n).round(2),
            "PAYMENTS": rng.uniform(0, 4000, n).round(2),
            "TENURE": rng.integers(6, 13, n),
        }
    )


@pytest.fixture(scope="module")
def model_path(cardseg_pkg, tmp_path_factory):
    seg = cardseg_pkg.run(frame(80), k=2, dashboard=False)
    path = tmp_path_factory.mktemp("model") / "model.json"
    path.write_text(seg.model.to_json(), encoding="utf-8")
    return path


SCHEMA = """
schema = pa.schema([("CUST_ID", pa.string()), ("BALANCE", pa.float64()),
                    ("PURCHASES", pa.float64()), ("CREDIT_LIMIT", pa.float64())])
"""  # the stream's schema in the cases below: an id and the model's three features


def test_a_batch_with_fewer_columns_than_its_schema_is_refused(cardseg_pkg, model_path):
    out = in_child(
        SCHEMA
        + textwrap.dedent("""
        m = cardseg.Model.load(sys.argv[1])
        batches = pa.table({"A": [1] * 5}).to_batches()
        refused(lambda: m.predict(pa.RecordBatchReader.from_batches(schema, batches)))
        refused(lambda: cardseg.run(pa.RecordBatchReader.from_batches(schema, batches), k=2))
        """),
        model_path,
    )
    assert out.count(f"{CAUGHT} InputError") == 2, out
    assert "malformed" in out and "batch 1: 1 children for a struct of 4 fields, which has 4" in out, out


def test_an_int64_id_under_a_string_schema_is_refused(cardseg_pkg, model_path):
    out = in_child(
        SCHEMA
        + textwrap.dedent("""
        m = cardseg.Model.load(sys.argv[1])
        t = pa.table({"CUST_ID": [1, 2, 3, 4, 5], "BALANCE": [1.0] * 5,
                      "PURCHASES": [2.0] * 5, "CREDIT_LIMIT": [3.0] * 5})
        refused(lambda: m.predict(pa.RecordBatchReader.from_batches(schema, t.to_batches())))
        """),
        model_path,
    )
    assert f"{CAUGHT} InputError" in out and "batch 1, column CUST_ID: 2 buffers for type Utf8" in out, out


def test_a_null_record_is_refused_naming_its_row(cardseg_pkg, model_path):
    """A null row of a struct column is a missing record: its children's values under the
    null are not the customer's (pyarrow keeps whatever was there)."""
    import pyarrow as pa

    names = ["CUST_ID", "BALANCE", "PURCHASES", "CREDIT_LIMIT"]

    def chunk(ids, mask=None):
        n = len(ids)
        cols = [pa.array(ids), pa.array([100.0] * n), pa.array([50.0] * n), pa.array([1000.0] * n)]
        return pa.StructArray.from_arrays(cols, names=names, mask=mask)

    data = pa.chunked_array(
        [chunk(["a", "b", "c"]), chunk(["d", "e", "f", "g"], mask=pa.array([False, False, True, False]))]
    )
    m = cardseg_pkg.Model.load(model_path)
    with pytest.raises(cardseg_pkg.InputError) as e:
        m.predict(data)
    assert "row 6 is a null record" in str(e.value)


def test_random_malformed_streams_raise_cardseg_errors(cardseg_pkg, model_path):
    """A property test: seeded random breakages of the C structs of random small tables
    (arrow_fuzz.py), fed to Model.predict and cardseg.run. Each chunk runs in one child."""
    total = {"refused": 0, "answered": 0, "control": 0}
    for seed in (1, 2, 3):
        out = in_child(
            """
            import arrow_fuzz
            arrow_fuzz.main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
            """,
            model_path,
            seed,
            70,
        )
        # A panic of the import is caught at the boundary ("could not import"), but the
        # checks before it are meant to leave none.
        bad = [
            l
            for l in out.splitlines()
            if "NOT A CARDSEG ERROR" in l or "WRONG ANSWER" in l or "could not import" in l
        ]
        assert not bad, "\n".join(bad)
        counts = [l for l in out.splitlines() if l.startswith("COUNTS ")]
        assert counts, out
        refused, answered, control = map(int, counts[0].split()[1:])
        assert refused + answered == 70, out
        total["refused"] += refused
        total["answered"] += answered
        total["control"] += control
    # The breakages are exercised: most cases are refused, and unbroken ones answered right.
    assert total["refused"] > 120 and total["control"] > 10, total


def test_decimal_columns_are_numbers_as_from_parquet(cardseg_pkg, run_cardseg, tmp_path):
    """pandas Decimal objects (exported as decimal128) and decimal256: the numbers the CLI
    reads from the same table written as Parquet DECIMAL, so the same files byte for byte."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    df = frame(120)
    for c in ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]:
        df[c] = [decimal.Decimal(f"{v:.2f}") for v in df[c]]
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert pa.types.is_decimal128(table.schema.field("BALANCE").type)
    wide = table.set_column(
        table.schema.get_field_index("PURCHASES"),
        "PURCHASES",
        table["PURCHASES"].cast(pa.decimal256(38, 2)),
    )
    for name, data in [("pandas", df), ("decimal256", wide)]:
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False) if name == "pandas" else wide, path)
        cli = tmp_path / f"cli-{name}"
        run_cardseg("run", "--quiet", "--input", path, "--out", cli)
        seg = cardseg_pkg.run(data, source_name=str(path))
        got = seg.save(tmp_path / f"py-{name}")
        for f in sorted(os.listdir(cli)):
            assert (got / f).read_bytes() == (cli / f).read_bytes(), f"{name}: {f} differs from the CLI's"
        # Scoring reads them the same way.
        want = seg.model.predict(df.astype({c: float for c in ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]}))
        assert seg.model.predict(data).equals(want)


def test_float16_and_wide_decimal_parquet_columns_are_read_as_numbers(run_cardseg, tmp_path):
    """Parquet FLOAT16 and DECIMAL of more than 38 digits (stored in more than 16 bytes)
    holding ordinary values: the CLI reads the numbers they hold, so the labels, the k
    selection and the segments equal those of the same values stored as doubles."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    df = frame(150)
    half = df["PURCHASES"].astype("float16")
    plain = df.assign(PURCHASES=half.astype("float64"))
    table = pa.Table.from_pandas(plain, preserve_index=False)
    odd = table.set_column(
        table.schema.get_field_index("PURCHASES"), "PURCHASES", pa.array(half.to_numpy(), pa.float16())
    )
    odd = odd.set_column(
        odd.schema.get_field_index("BALANCE"),
        "BALANCE",
        pa.array([decimal.Decimal(f"{v:.2f}") for v in df["BALANCE"]], pa.decimal256(50, 2)),
    )
    outs = {}
    for name, t in [("plain", table), ("odd", odd)]:
        (tmp_path / name).mkdir()
        pq.write_table(t, tmp_path / name / "data.parquet")
        outs[name] = tmp_path / name / "out"
        run_cardseg("run", "--quiet", "--input", tmp_path / name / "data.parquet", "--out", outs[name])
    for f in ["labels.csv", "k_selection.csv", "segments.csv"]:
        assert (outs["odd"] / f).read_bytes() == (outs["plain"] / f).read_bytes(), f


def same_as_cli(cardseg_pkg, run_cardseg, df, tmp_path, name):
    """Runs the frame through the package and, written as Parquet, through the CLI: the
    same error message, or the same files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    cli = tmp_path / f"cli-{name}"
    p = run_cardseg("run", "--quiet", "--input", path, "--out", cli, check=False)
    if p.returncode != 0:
        assert p.stderr.startswith("error: "), p.stderr
        with pytest.raises(cardseg_pkg.CardsegError) as e:
            cardseg_pkg.run(df, source_name=str(path))
        assert str(e.value) == p.stderr.strip()[len("error: "):]
        return False
    got = cardseg_pkg.run(df, source_name=str(path)).save(tmp_path / f"py-{name}")
    for f in sorted(os.listdir(cli)):
        assert (got / f).read_bytes() == (cli / f).read_bytes(), f"{name}: {f} differs from the CLI's"
    return True


def test_a_null_typed_column_is_a_column_of_missing_values(cardseg_pkg, run_cardseg, tmp_path):
    """pandas makes an all-None column Arrow's null type: read as missing values, as the
    CLI reads the same table in Parquet (not refused with an Arrow type code)."""
    import pyarrow as pa

    df = frame(50)
    df["CREDIT_LIMIT"] = None
    assert pa.types.is_null(pa.Table.from_pandas(df).schema.field("CREDIT_LIMIT").type)
    assert not same_as_cli(cardseg_pkg, run_cardseg, df, tmp_path, "feature")
    # polars' null columns (exported with a validity slot the format does not have).
    import polars as pl

    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(pl.from_arrow(pa.Table.from_pandas(df, preserve_index=False)))
    assert str(e.value) == "polars DataFrame: column CREDIT_LIMIT is empty in every row; it cannot be used as a feature"
    # As an optional column (profiled, not clustered).
    df = frame(50)
    df["PAYMENTS"] = None
    same_as_cli(cardseg_pkg, run_cardseg, df, tmp_path, "profiled")


def test_an_unread_type_is_named_in_words(cardseg_pkg, model_path):
    import pyarrow as pa

    t = pa.table(
        {
            "CUST_ID": ["a", "b"],
            "BALANCE": pa.array([1, 2], pa.date32()),
            "PURCHASES": [1.0, 2.0],
            "CREDIT_LIMIT": [1.0, 2.0],
        }
    )
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.Model.load(model_path).predict(t)
    assert "column BALANCE is of Arrow type Date32, which cannot be read as numbers" in str(e.value)


def test_write_dashboard_into_a_missing_folder_is_a_cardseg_error(cardseg_pkg, tmp_path):
    seg = cardseg_pkg.run(frame(60), k=2)
    with pytest.raises(cardseg_pkg.CardsegIOError) as e:
        seg.write_dashboard(tmp_path / "missing" / "dash.html")
    assert isinstance(e.value, cardseg_pkg.CardsegError) and "dash.html" in str(e.value)
    # Over a folder (force=True replaces files, not folders): refused, nothing left behind.
    (tmp_path / "dir").mkdir()
    with pytest.raises(cardseg_pkg.CardsegIOError):
        seg.write_dashboard(tmp_path / "dir", force=True)
    assert sorted(os.listdir(tmp_path)) == ["dir"]
    assert os.listdir(tmp_path / "dir") == []
    # Without force an existing file stays as it was; with force it is replaced.
    target = tmp_path / "dash.html"
    target.write_text("mine")
    with pytest.raises(cardseg_pkg.OutputExistsError):
        seg.write_dashboard(target)
    assert target.read_text() == "mine"
    seg.write_dashboard(target, force=True)
    assert target.read_text().startswith("<!")
    assert sorted(os.listdir(tmp_path)) == ["dash.html", "dir"]


def test_an_astronomic_value_in_a_frame_is_refused(cardseg_pkg):
    """1e300 is a finite double but no amount of money: the shared table builder refuses
    it for every source (this test needs the builder's value check, branch harden-ingest)."""
    df = frame(30)
    df.loc[11, "PURCHASES"] = 1e300
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, k=2, dashboard=False)
    assert "row 12" in str(e.value) and "PURCHASES" in str(e.value)


def test_an_exception_of_a_readers_producer_is_raised_as_itself(cardseg_pkg, model_path):
    """A RecordBatchReader whose producer raises (a database cursor losing its connection,
    Ctrl-C landing in the producer's Python code): the call raises that exception, not an
    InputError holding its escaped traceback."""
    import pyarrow as pa

    t = pa.Table.from_pandas(frame(80), preserve_index=False)

    def failing(exc):
        def batches():
            yield t.to_batches(max_chunksize=40)[0]
            raise exc
        return pa.RecordBatchReader.from_batches(t.schema, batches())

    model = cardseg_pkg.Model.load(model_path)
    calls = [
        lambda r: cardseg_pkg.run(r, k=2, dashboard=False),
        lambda r: model.predict(r),
        lambda r: model.predict_arrow(r),
        lambda r: cardseg_pkg.drift(model, r),
    ]
    for call in calls:
        with pytest.raises(ConnectionError, match="^database went away$"):
            call(failing(ConnectionError("database went away")))
        with pytest.raises(KeyboardInterrupt):
            call(failing(KeyboardInterrupt()))


def test_streams_cardseg_cannot_read_are_named(cardseg_pkg, model_path):
    """A column of a type arrow-rs cannot import (polars' Int128) is named with what to do;
    a RecordBatchReader read twice says so; a capsule that is not a stream is an InputError."""
    import pyarrow as pa

    df = frame(80)
    t = pa.Table.from_pandas(df, preserve_index=False)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    cardseg_pkg.run(reader, k=2, dashboard=False)
    with pytest.raises(cardseg_pkg.InputError, match="^pyarrow table: this RecordBatchReader was already read"):
        cardseg_pkg.run(reader, k=2, dashboard=False)

    class SchemaOnly:
        def __arrow_c_stream__(self, requested_schema=None):
            return t.schema.__arrow_c_schema__()

    with pytest.raises(cardseg_pkg.InputError, match='returned a capsule named "arrow_schema", not an Arrow stream'):
        cardseg_pkg.run(SchemaOnly())
    pl = pytest.importorskip("polars")
    p = pl.from_pandas(df).with_columns(pl.col("PURCHASES").cast(pl.Int128))
    with pytest.raises(cardseg_pkg.InputError, match=(
        '^polars DataFrame: column PURCHASES has an Arrow type cardseg cannot read '
        r'\(format "_pli128"\); cast it to Int64 or Float64, or drop it$'
    )):
        cardseg_pkg.run(p, k=2)
