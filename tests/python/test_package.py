"""The Python package (issue 19): the same results as the CLI, whatever the input form.

Every comparison is against the release binary (CARDSEG_BIN) on the same data, for every
customer: the files `cardseg run --out` writes, byte for byte, and `cardseg predict`'s
labels. Bad DataFrames must raise the right exception with the message the CLI prints
for the same data (written as Parquet, which the CLI reads through the same table builder).
"""
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, need

RUN_FILES = [
    "labels.csv",
    "k_selection.csv",
    "segments.csv",
    "segments.json",
    "summary.md",
    "summary.json",
    "model.json",
    "dashboard.html",
]


def files_of(d):
    return {n: (pathlib.Path(d) / n).read_bytes() for n in RUN_FILES}


def assert_same_files(got_dir, want_dir, names=RUN_FILES):
    for n in names:
        got = (pathlib.Path(got_dir) / n).read_bytes()
        want = (pathlib.Path(want_dir) / n).read_bytes()
        assert got == want, f"{n} differs from the CLI's"
    assert sorted(os.listdir(got_dir)) == sorted(os.listdir(want_dir))


@pytest.fixture(scope="session")
def cli_run(run_cardseg, real_data, tmp_path_factory):
    """`cardseg run` on the real file with the default parameters."""
    out = tmp_path_factory.mktemp("cli") / "run"
    run_cardseg("run", "--quiet", "--input", real_data, "--out", out)
    return out


@pytest.fixture(scope="session")
def py_run(cardseg_pkg, real_data):
    """`cardseg.run` on the same file, by path."""
    return cardseg_pkg.run(real_data)


def read_labels_file(path, id_header):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types={id_header: pa.string(), "segment": pa.int64(), "segment_name": pa.string()},
            strings_can_be_null=False,
        ),
    )


def test_run_on_the_file_is_byte_identical_to_the_cli(py_run, cli_run, tmp_path):
    saved = py_run.save(tmp_path / "saved")
    assert_same_files(saved, cli_run)
    # What the object shows is what the files hold.
    labels = read_labels_file(cli_run / "labels.csv", "CUST_ID")
    assert py_run.labels["CUST_ID"].tolist() == labels.column("CUST_ID").to_pylist()
    assert py_run.labels["segment"].tolist() == labels.column("segment").to_pylist()
    assert py_run.labels["segment_name"].tolist() == labels.column("segment_name").to_pylist()
    import json

    model = json.loads((cli_run / "model.json").read_text())["model"]
    ks = py_run.k_selection
    assert ks["k"].tolist() == [r["k"] for r in model["k_selection"]["sweep"]]
    assert ks["inertia"].tolist() == [r["inertia"] for r in model["k_selection"]["sweep"]]
    assert py_run.k == model["k_selection"]["chosen"] == model["k"]
    assert py_run.summary == json.loads((cli_run / "summary.json").read_text())
    assert py_run.summary_markdown == (cli_run / "summary.md").read_text()
    assert len(py_run.segments) == model["k"]
    assert py_run.model.checksum == json.loads((cli_run / "model.json").read_text())["checksum"]


def test_save_refuses_an_existing_directory(py_run, tmp_path, cardseg_pkg):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(cardseg_pkg.UsageError, match="not a cardseg output directory"):
        py_run.save(target, force=True)
    with pytest.raises(cardseg_pkg.OutputExistsError, match="already exists"):
        py_run.save(target)
    assert os.listdir(target) == ["notes.txt"]


def read_pandas(path):
    """pandas' C parser: before pandas 3 its default float parser is not always correctly
    rounded (float_precision="round_trip" is); pandas 3 made that the default."""
    import pandas as pd

    if int(pd.__version__.split(".")[0]) >= 3:
        return pd.read_csv(path, dtype={"CUST_ID": str})
    return pd.read_csv(path, float_precision="round_trip", dtype={"CUST_ID": str})


def frames(real_data):
    """The real file as a pandas, a pyarrow and a polars DataFrame."""
    import pandas as pd
    import pyarrow.csv as pcsv

    try:
        import polars as pl
    except ImportError:
        need("polars")
    return {
        "pandas": read_pandas(real_data),
        "pandas-pyarrow-engine": pd.read_csv(real_data, engine="pyarrow"),
        "pyarrow": pcsv.read_csv(real_data),
        "pyarrow-reader": pcsv.read_csv(real_data).to_reader(max_chunksize=1000),
        "polars": pl.read_csv(real_data, infer_schema_length=None),
    }


def test_dataframe_inputs_give_the_cli_files(cardseg_pkg, real_data, cli_run, tmp_path):
    for kind, frame in frames(real_data).items():
        # The source name is what model.json records as training_source: the file's, here.
        seg = cardseg_pkg.run(frame, source_name=str(real_data))
        saved = seg.save(tmp_path / kind)
        assert_same_files(saved, cli_run)


def test_dataframe_source_name_defaults(cardseg_pkg, real_data):
    import json

    seg = cardseg_pkg.run(frames(real_data)["pandas"], k=3, dashboard=False)
    model = json.loads(seg.model.to_json())["model"]
    assert model["training_source"] == "pandas DataFrame"
    with pytest.raises(cardseg_pkg.UsageError, match="no dashboard"):
        seg.dashboard()


def test_model_predict_equals_cli_predict(cardseg_pkg, run_cardseg, cli_run, real_data, tmp_path):
    out = tmp_path / "pred.csv"
    run_cardseg("predict", "--quiet", "--model", cli_run / "model.json", "--input", real_data, "--out", out,
                "--full-precision")
    want = read_labels_file(out, "CUST_ID").to_pandas()
    model = cardseg_pkg.Model.load(cli_run / "model.json")
    # The outlier columns as the CLI wrote them with --full-precision: shortest round-trip
    # text, so parsing it back gives the exact float64; "" where unknown.
    import pandas as pd

    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    cols = ["CUST_ID", "segment", "segment_name", "distance", "distance_percentile", "outlier"]
    assert list(raw.columns) == cols
    for data in [real_data, *frames(real_data).values()]:
        got = model.predict(data)
        assert list(got.columns) == cols
        assert got["CUST_ID"].tolist() == want["CUST_ID"].tolist()
        assert got["segment"].tolist() == want["segment"].tolist()
        assert got["segment_name"].tolist() == want["segment_name"].tolist()
        assert [float(x) for x in raw["distance"]] == got["distance"].tolist()
        assert [float(x) for x in raw["distance_percentile"]] == got["distance_percentile"].tolist()
        assert raw["outlier"].tolist() == [str(x).lower() for x in got["outlier"]]
        assert got["outlier"].any() and not got["outlier"].all()


def test_model_to_sql_and_pmml_equal_cardseg_export(cardseg_pkg, run_cardseg, cli_run, tmp_path):
    """Model.to_sql / to_pmml are the library's export (the engines check that text in
    test_export.py): byte for byte what `cardseg export` writes, for every dialect."""
    model_path = cli_run / "model.json"
    model = cardseg_pkg.Model.load(model_path)
    for dialect in ["postgres", "sqlite", "duckdb", "spark", "bigquery", "ansi"]:
        for source in [("--table", "bank.Customers 2026"), ("--query", "SELECT * FROM t WHERE x > 0")]:
            out = tmp_path / f"{dialect}{source[0]}.sql"
            run_cardseg("export", "--model", model_path, "--format", "sql", "--dialect", dialect, *source, "--out", out)
            kw = {"table": source[1]} if source[0] == "--table" else {"query": source[1]}
            assert model.to_sql(dialect, **kw) == out.read_text(), (dialect, source)
    out = tmp_path / "model.pmml"
    run_cardseg("export", "--model", model_path, "--format", "pmml", "--out", out)
    assert model.to_pmml() == out.read_text()
    with pytest.raises(cardseg_pkg.UsageError):
        model.to_sql("oracle")


def test_model_errors_are_model_errors(cardseg_pkg, run_cardseg, tmp_path, cardseg_bin):
    bad = tmp_path / "model.json"
    bad.write_text('{"format": "cardseg-model", "model": ')
    p = run_cardseg("predict", "--model", bad, "--input", bad, "--out", tmp_path / "x.csv", check=False)
    assert p.returncode != 0
    with pytest.raises(cardseg_pkg.ModelError) as e:
        cardseg_pkg.Model.load(bad)
    assert p.stderr.strip() == f"error: {e.value}"


def cli_message(run_cardseg, args):
    """The CLI's error line, with its flags named as the Python package names the same
    parameters (keywords: ``--k-min 5`` reads ``k_min=5``): the library words the message
    once and each front end names the parameters its own way."""
    p = run_cardseg(*args, check=False)
    assert p.returncode != 0, p
    line = p.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    line = line[len("error: "):]
    for flag, keyword in FLAG_WORDS:
        line = line.replace(flag, keyword)
    return line


#: How the CLI's flags read as the package's keywords, in the messages tested here.
FLAG_WORDS = [
    ("--profile-features", "profile_features"),
    ("--features", "features"),
    ("--k-min 5", "k_min=5"),
    ("--k-max 3", "k_max=3"),
    ("--max-columns", "max_columns"),
    ("--query", "query"),
    ("--table", "table"),
    ("--k ", "k="),
]


@pytest.mark.parametrize("case", ["missing column", "text in a feature", "all-NaN feature", "empty frame"])
def test_bad_dataframes_raise_the_cli_message(case, cardseg_pkg, run_cardseg, tmp_path):
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 50
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "CUST_ID": [f"c{i}" for i in range(n)],
            "BALANCE": rng.uniform(0, 1000, n),
            "PURCHASES": rng.uniform(0, 1000, n),
            "CREDIT_LIMIT": rng.uniform(0, 1000, n),
            "PAYMENTS": rng.uniform(0, 1000, n),
            "TENURE": rng.integers(6, 13, n),
        }
    )
    if case == "missing column":
        df = df.drop(columns=["PURCHASES"])
    elif case == "text in a feature":
        df["PURCHASES"] = df["PURCHASES"].astype(str)
        df.loc[17, "PURCHASES"] = "12,5 EUR"
    elif case == "all-NaN feature":
        df["CREDIT_LIMIT"] = np.nan
    elif case == "empty frame":
        df = df.iloc[0:0]
    table = pa.Table.from_pandas(df, preserve_index=False)
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    want = cli_message(run_cardseg, ["run", "--quiet", "--input", path, "--out", tmp_path / "o"])
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, source_name=str(path))
    assert str(e.value) == want
    assert isinstance(e.value, cardseg_pkg.CardsegError) and isinstance(e.value, ValueError)
    # The same frame through pyarrow and polars: the same message.
    import polars as pl

    for other in (table, pl.from_arrow(table)):
        with pytest.raises(cardseg_pkg.InputError) as e2:
            cardseg_pkg.run(other, source_name=str(path))
        assert str(e2.value) == want


def test_usage_errors(cardseg_pkg, run_cardseg, real_data, tmp_path):
    want = cli_message(run_cardseg, ["run", "--input", real_data, "--out", tmp_path / "o", "--k-min", "5", "--k-max", "3"])
    with pytest.raises(cardseg_pkg.UsageError) as e:
        cardseg_pkg.run(real_data, k_min=5, k_max=3)
    assert str(e.value) == want


def test_estimator_fit_predict_equals_the_cli(cardseg_pkg, run_cardseg, real_data, cli_run, tmp_path):
    import numpy as np
    import pandas as pd

    from cardseg.sklearn import CardsegKMeans

    features = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
    X = read_pandas(real_data)[features]
    # k fixed: the CLI swept only that k.
    out = tmp_path / "k4"
    run_cardseg("run", "--quiet", "--input", real_data, "--out", out, "--k", 4, "--k-min", 4, "--k-max", 4, "--seed", 7, "--no-dashboard")
    want = read_labels_file(out / "labels.csv", "CUST_ID").column("segment").to_numpy() - 1
    est = CardsegKMeans(n_clusters=4, random_state=7)
    got = est.fit_predict(X)
    assert np.array_equal(got, want)
    assert np.array_equal(est.predict(X), want)
    import json

    model = json.loads((out / "model.json").read_text())["model"]
    assert est.inertia_ == model["inertia"]
    assert np.array_equal(est.cluster_centers_, np.array(model["centroids"]))
    assert est.n_features_in_ == 3 and list(est.feature_names_in_) == features
    # transform: the distance to the own centroid is the smallest.
    d = est.transform(X)
    assert d.shape == (len(X), 4) and np.array_equal(d.argmin(axis=1), want)
    # "auto" is the default run (k sweep 2..10, knee).
    auto = CardsegKMeans(n_clusters="auto").fit(X)
    want_auto = read_labels_file(cli_run / "labels.csv", "CUST_ID").column("segment").to_numpy() - 1
    assert np.array_equal(auto.labels_, want_auto)


def test_check_estimator(cardseg_pkg):
    from sklearn.utils.estimator_checks import check_estimator

    from cardseg.sklearn import SKIPPED_CHECKS, CardsegKMeans

    check_estimator(CardsegKMeans(n_clusters=3, n_init=2), expected_failed_checks=SKIPPED_CHECKS)


def test_spark_score_equals_predict_on_a_million(cardseg_pkg, spark, run_cardseg, cli_run, tmp_path):
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    import cardseg.spark

    rows = int(os.environ.get("CARDSEG_SPARK_ROWS", "1000000"))
    data = tmp_path / "customers.csv"
    run_cardseg("generate", "--quiet", "--rows", rows, "--seed", 11, "--out", data)
    out = tmp_path / "pred.csv"
    run_cardseg("predict", "--quiet", "--model", cli_run / "model.json", "--input", data, "--out", out)
    want = read_labels_file(out, "CUST_ID")
    header = data.open().readline().strip().split(",")
    schema = StructType(
        [StructField(c, StringType() if c == "CUST_ID" else DoubleType(), True) for c in header]
    )
    df = spark.read.csv(str(data), header=True, schema=schema)
    scored = cardseg.spark.score(df, cli_run / "model.json")
    got = scored.toArrow()
    assert got.num_rows == want.num_rows == rows
    got = got.sort_by("CUST_ID")
    want = want.sort_by("CUST_ID")
    assert got.column("CUST_ID").to_pylist() == want.column("CUST_ID").to_pylist()
    assert got.column("segment").to_pylist() == want.column("segment").to_pylist()
    assert got.column("segment_name").to_pylist() == want.column("segment_name").to_pylist()


def test_ctrl_c_interrupts_a_long_run_and_stops_the_rust_work(cardseg_pkg, run_cardseg, tmp_path):
    """SIGINT during a long k sweep: KeyboardInterrupt at once, the Rust work stops too
    (the process stops using CPU within seconds instead of finishing the sweep in the
    background), and nothing is written to out. The child sends itself the signal once the
    run has used 1.5 s of CPU, so the signal always lands inside the sweep (n_init=200
    sizes the sweep far beyond that)."""
    data = tmp_path / "big.csv"
    run_cardseg("generate", "--quiet", "--rows", 300000, "--out", data)
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading, time, cardseg

        def worker_tids():
            tids = []
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{{tid}}/comm") as f:
                        if f.read().strip() == "cardseg":
                            tids.append(tid)
                except OSError:
                    pass
            return tids

        def interrupt_when_busy():
            deadline = time.time() + 120
            while time.time() < deadline:
                # Inside the run: its worker exists and has read the file and begun the
                # sweep (the process's CPU time, all threads, passed 1.5 s).
                if worker_tids() and time.process_time() > 1.5:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.02)

        threading.Thread(target=interrupt_when_busy, daemon=True).start()
        t = time.time()
        try:
            cardseg.run({str(data)!r}, out={str(out)!r}, k_max=30, n_init=200)
        except KeyboardInterrupt:
            print("interrupted", round(time.time() - t, 2), flush=True)
            # Idle = under 0.02 s of CPU (all threads) in a quarter second; the sweep uses
            # about half a second per quarter second on two cores.
            start = time.time()
            while time.time() - start < 30:
                before = time.process_time()
                time.sleep(0.25)
                if time.process_time() - before < 0.02:
                    print("stopped", round(time.time() - start, 2), flush=True)
                    sys.exit(0)
            print("still running", round(time.time() - start, 2), flush=True)
            sys.exit(0)
        print("finished", flush=True)
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    lines = p.stdout.splitlines()
    assert lines and lines[0].startswith("interrupted"), (p.stdout, p.stderr)
    assert lines[1].startswith("stopped"), p.stdout
    assert float(lines[1].split()[1]) < 10, p.stdout
    assert not out.exists()


def test_ctrl_c_interrupts_predict_and_drift_and_stops_the_rust_work(cardseg_pkg):
    """SIGINT during Model.predict_arrow, Model.predict and cardseg.drift on a few million
    rows: KeyboardInterrupt within half a second (not when the scoring ends), and the
    process idle soon after (the Rust work stopped). The child sends itself the signal
    once the call has used 0.3 s of CPU, well inside each call."""
    script = textwrap.dedent(
        """
        import os, signal, sys, threading, time
        import numpy as np, pyarrow as pa, cardseg
        cardseg._cardseg.set_quiet(True)
        rng = np.random.default_rng(7)

        def table(n):
            return pa.table({"CUST_ID": pa.array(np.arange(n)).cast(pa.string()),
                             "a": rng.random(n), "b": rng.random(n), "c": rng.random(n)})

        model = cardseg.run(table(3000), features=["a", "b", "c"], profile_features=[],
                            k=3, dashboard=False).model
        big = table(4_000_000)
        calls = {"predict_arrow": lambda: model.predict_arrow(big),
                 "predict": lambda: model.predict(big),
                 "drift": lambda: cardseg.drift(model, big)}
        for name, call in calls.items():
            fired = []
            def interrupt():
                start = time.process_time()
                while time.process_time() - start < 0.3:
                    time.sleep(0.005)
                fired.append(time.time())
                os.kill(os.getpid(), signal.SIGINT)
            threading.Thread(target=interrupt, daemon=True).start()
            try:
                call()
                print(name, "finished", flush=True)
                continue
            except KeyboardInterrupt:
                late = time.time() - fired[0]
            # Idle = under 0.02 s of CPU (all threads) in a quarter second.
            start = time.time()
            while time.time() - start < 10:
                before = time.process_time()
                time.sleep(0.25)
                if time.process_time() - before < 0.02:
                    break
            print(name, "interrupted", round(late, 3), "stopped", round(time.time() - start, 2), flush=True)
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    lines = [l.split() for l in p.stdout.splitlines()]
    assert [l[0] for l in lines] == ["predict_arrow", "predict", "drift"], (p.stdout, p.stderr)
    for l in lines:
        assert l[1] == "interrupted", p.stdout
        assert float(l[2]) < 0.5, p.stdout
        assert float(l[4]) < 5, p.stdout


def test_notebook_executes(cardseg_pkg, real_data, monkeypatch):
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        need("nbclient and nbformat")
    path = ROOT / "examples" / "segmentation.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("CARDSEG_DATA", str(real_data))
    # The kernel is this Python (the venv with the wheel): ipykernel's own kernelspec.
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # The month-two retrain, the migration, the drift verdict and the DuckDB export ran.
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "moved" in printed and "failed: True — alerts:" in printed, printed
    assert "DuckDB and predict agree on 100.00% of customers" in printed, printed


def test_out_dashboard_and_repr(cardseg_pkg, real_data, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("x")
    with pytest.raises(cardseg_pkg.OutputExistsError, match="already exists"):
        cardseg_pkg.run(real_data, out=taken)
    assert os.listdir(taken) == ["mine.txt"]
    seg = cardseg_pkg.run(real_data, k=3, out=tmp_path / "o")
    assert seg.directory == tmp_path / "o"
    assert seg.k == 3 and "k=3" in repr(seg)
    html = seg.dashboard()._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "plotly" in html.lower()
    path = seg.write_dashboard(tmp_path / "d.html")
    assert path.read_bytes() == (tmp_path / "o" / "dashboard.html").read_bytes()
    with pytest.raises(cardseg_pkg.OutputExistsError):
        seg.write_dashboard(path)


def test_nan_is_a_missing_value(cardseg_pkg, real_data, cli_run, tmp_path):
    """polars keeps NaN apart from null: cardseg reads both as missing, like an empty CSV cell."""
    import polars as pl

    df = pl.read_csv(real_data, infer_schema_length=None)
    assert df["CREDIT_LIMIT"].null_count() > 0 and df["MINIMUM_PAYMENTS"].null_count() > 0
    df = df.with_columns(pl.col("CREDIT_LIMIT", "MINIMUM_PAYMENTS").fill_null(float("nan")))
    assert df["CREDIT_LIMIT"].null_count() == 0
    seg = cardseg_pkg.run(df, source_name=str(real_data))
    assert_same_files(seg.save(tmp_path / "nan"), cli_run)


def test_estimator_names_output_and_k_search_follow_the_cli(cardseg_pkg, run_cardseg, real_data, cli_run, tmp_path):
    """A DataFrame's column names are the features' names, so the segment names are the
    CLI's on the same columns; transform is the Rust distance; k_search chooses k as the CLI."""
    import json

    import numpy as np
    import pandas as pd

    from cardseg.sklearn import CardsegKMeans, k_search

    features = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
    X = read_pandas(real_data)[features]
    path = tmp_path / "x.csv"
    X.to_csv(path, index=False)
    out = tmp_path / "cli"
    run_cardseg("run", "--quiet", "--input", path, "--out", out, "--features", ",".join(features),
                "--k", 4, "--k-min", 4, "--k-max", 4, "--seed", 7, "--no-dashboard")
    model = json.loads((out / "model.json").read_text())["model"]
    est = CardsegKMeans(n_clusters=4, random_state=7).fit(X)
    assert est.segment_names_ == [s["name"] for s in model["segments"]]
    assert not any("x0" in n for n in est.segment_names_)
    # transform: the distances the library assigned segments by, as labels carry them.
    labels = cardseg_pkg.run(X, features=features, k=4, k_min=4, k_max=4, seed=7, dashboard=False).labels
    est.set_output(transform="pandas")
    d = est.transform(X)
    assert isinstance(d, pd.DataFrame) and list(d.columns) == [f"cardsegkmeans{j}" for j in range(4)]
    assert d.index.equals(X.index)
    own = d.to_numpy()[np.arange(len(X)), est.labels_]
    assert np.array_equal(own, labels["distance"].to_numpy(dtype=np.float64))
    # k_search: the CLI's k (knee of the sweep), where scoring by -inertia takes the largest.
    cli_k = json.loads((cli_run / "model.json").read_text())["model"]["k"]
    found = k_search(X)
    assert found.n_clusters_ == cli_k
    assert list(found.k_selection_["k"]) == list(range(2, 11))
    scores = {k: CardsegKMeans(n_clusters=k, n_init=2).fit(X).score(X) for k in (cli_k, 10)}
    assert scores[10] > scores[cli_k] and cli_k < 10


def test_import_cardseg_loads_sklearn_and_spark_lazily():
    """``import cardseg`` imports neither scikit-learn nor PySpark; ``cardseg.sklearn`` and
    ``cardseg.spark`` load on first use."""
    script = textwrap.dedent(
        """
        import sys, cardseg
        assert "sklearn" not in sys.modules and "pyspark" not in sys.modules, sorted(sys.modules)
        assert "sklearn" in dir(cardseg) and "spark" in dir(cardseg)
        assert cardseg.sklearn.CardsegKMeans.__name__ == "CardsegKMeans"
        assert callable(cardseg.spark.score)
        assert "pyspark" not in sys.modules
        try:
            cardseg.nope
        except AttributeError:
            print("ok")
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
