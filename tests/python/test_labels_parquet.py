"""`--labels-format parquet`: labels.parquet loads directly into DuckDB and pyarrow with typed
columns, holds the same labels as labels.csv for every customer, carries the model checksum,
and is byte-identical across thread counts and between `run` and `predict`."""
import json
import os
import subprocess

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cardseg_bin, real_data):
    """The real file run three times: CSV at full precision, Parquet on 2 and on 1 thread."""
    d = tmp_path_factory.mktemp("labels_parquet")
    common = ["--quiet", "run", "--input", str(real_data), "--no-dashboard",
              "--stability-resamples", "0"]

    def run(out, *extra, threads="2"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        subprocess.run([cardseg_bin, *common, "--out", str(d / out), *extra],
                       check=True, env=env, capture_output=True)
        return d / out

    return {
        "csv": run("csv", "--full-precision"),
        "compact": run("compact"),
        "pq2": run("pq2", "--labels-format", "parquet"),
        "pq1": run("pq1", "--labels-format", "parquet", threads="1"),
        "dir": d,
    }


def test_parquet_labels_equal_labels_csv_for_every_customer(runs):
    path = runs["pq2"] / "labels.parquet"
    assert not (runs["pq2"] / "labels.csv").exists()
    csv = pd.read_csv(runs["csv"] / "labels.csv", dtype=str, keep_default_na=False)
    got = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").df()
    assert list(got.columns) == list(csv.columns)
    assert len(got) == len(csv) == 8950
    assert (got["CUST_ID"] == csv["CUST_ID"]).all()
    assert (got["segment"].astype(int) == csv["segment"].astype(int)).all()
    assert (got["segment_name"] == csv["segment_name"]).all()
    # Full-precision CSV text reads back as the same f64: equality, not closeness.
    assert (got["distance"] == csv["distance"].astype(float)).all()
    assert (got["distance_percentile"] == csv["distance_percentile"].astype(float)).all()
    assert (got["outlier"] == (csv["outlier"] == "true")).all()
    # The compact CSV is the same numbers rounded: 6 significant digits, 2 decimals.
    compact = pd.read_csv(runs["compact"] / "labels.csv", dtype=str, keep_default_na=False)
    for d, text in zip(got["distance"], compact["distance"]):
        assert float(text) == float(f"{d:.5e}")
    for p, text in zip(got["distance_percentile"], compact["distance_percentile"]):
        assert text == f"{p:.2f}".rstrip("0").rstrip(".")


def test_parquet_labels_have_warehouse_types_and_the_model_checksum(runs):
    path = runs["pq2"] / "labels.parquet"
    schema = pq.read_schema(path)
    types = {f.name: str(f.type) for f in schema}
    assert types == {"CUST_ID": "string", "segment": "int32", "segment_name": "string",
                     "distance": "double", "distance_percentile": "double", "outlier": "bool"}
    assert not schema.field("CUST_ID").nullable
    meta = pq.read_metadata(path).metadata
    model = json.loads((runs["pq2"] / "model.json").read_text())
    assert meta[b"cardseg.model_checksum"].decode() == model["checksum"]
    assert meta[b"cardseg.rows"].decode() == str(pq.read_metadata(path).num_rows)
    duck = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [(c[0], c[1]) for c in duck] == [
        ("CUST_ID", "VARCHAR"), ("segment", "INTEGER"), ("segment_name", "VARCHAR"),
        ("distance", "DOUBLE"), ("distance_percentile", "DOUBLE"), ("outlier", "BOOLEAN")]


def test_parquet_labels_are_byte_identical_across_threads_and_predict(runs, run_cardseg, real_data):
    a = (runs["pq2"] / "labels.parquet").read_bytes()
    assert a == (runs["pq1"] / "labels.parquet").read_bytes()
    out = runs["dir"] / "predicted.parquet"
    run_cardseg("--quiet", "predict", "--model", runs["pq2"] / "model.json", "--input", real_data,
                "--out", out, "--labels-format", "parquet")
    assert out.read_bytes() == a
    # The flag and the name must agree.
    p = run_cardseg("--quiet", "predict", "--model", runs["pq2"] / "model.json", "--input",
                    real_data, "--out", runs["dir"] / "x.parquet", check=False)
    assert p.returncode != 0 and "--labels-format parquet" in p.stderr
    assert not (runs["dir"] / "x.parquet").exists()


def test_row_number_ids_are_int64_and_unscored_customers_null(runs, run_cardseg, tmp_path):
    src = pd.DataFrame({"BALANCE": [1.0, 2.0, None, 40.0, 41.0, 80.0],
                        "PURCHASES": [0.0, 1.0, 2.0, 50.0, 52.0, 90.0],
                        "CREDIT_LIMIT": [10.0, 11.0, 12.0, 60.0, 61.0, 99.0]})
    src.to_csv(tmp_path / "in.csv", index=False)
    run_cardseg("--quiet", "run", "--input", tmp_path / "in.csv", "--out", tmp_path / "o",
                "--k", "2", "--k-max", "3", "--missing", "drop", "--no-dashboard", "--stability-resamples", "0",
                "--labels-format", "parquet")
    t = pq.read_table(tmp_path / "o" / "labels.parquet")
    assert str(t.schema.field("row").type) == "int64"
    rows = t.to_pylist()
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2]["segment"] is None and rows[2]["distance"] is None
    assert all(r["segment"] is not None for i, r in enumerate(rows) if i != 2)


def test_commands_that_read_labels_csv_say_so_for_a_parquet_run(runs, run_cardseg):
    d = runs["dir"]
    p = run_cardseg("--quiet", "compare", "--before", runs["csv"], "--after", runs["pq2"],
                    "--out", d / "cmp", check=False)
    err = p.stderr.strip()
    assert p.returncode == 1 and len(err.splitlines()) == 1, err
    assert "labels of this run are in Parquet" in err and "labels.csv" in err, err
    assert not (d / "cmp").exists()
