"""`cardseg export` inside DuckDB, Spark SQL (local mode), SQLite (the system library)
and a PMML evaluator (jpmml-evaluator over py4j): for every customer of the real file
(with its missing values), of 100,000 generated customers scored by a model of another
seed (values pushed outside the training range, cells emptied) and of the real file
under hostile column names, the segment must be the one `cardseg predict` wrote, and the
distance within 1e-9 (relative) of the distance recomputed here with numpy from
model.json. PostgreSQL and the bundled SQLite run in tests/export.rs.
"""
import csv
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from conftest import need

HOSTILE = {
    "CUST_ID": 'Customer "ID" `x`',
    "BALANCE": 'Balance ($) "; DROP TABLE x; --',
    "PURCHASES": "Purchases (k$) `; DROP TABLE x; -- it's",
    "CREDIT_LIMIT": "Credit Limit [€] \\ 'q'",
}
HOSTILE_TABLE = 'cust "; DROP TABLE x; -- `'


class Case:
    def __init__(self, name, model_path, data_path, labels_path):
        self.name = name
        self.model_path = model_path
        self.data_path = data_path
        self.model = json.loads(model_path.read_text())["model"]
        m = self.model
        self.id = m["id_column"]
        self.features = m["features"]
        with open(data_path, newline="") as f:
            self.header = next(csv.reader(f))
        self.df = pd.read_csv(
            data_path,
            usecols=[self.id, *self.features],
            dtype={self.id: str},
            float_precision="round_trip",
            keep_default_na=False,
            na_values=[""],
        )[[self.id, *self.features]]
        labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
        assert list(labels.iloc[:, 0]) == list(self.df[self.id])
        self.expected_segment = [int(s) if s else None for s in labels["segment"]]
        # The distance, recomputed independently: fill, x * scale + min, squared
        # distances summed in feature order, nearest (first on ties), square root.
        x = self.df[self.features].to_numpy(dtype=float).copy()
        fills = {c["column"]: c["fill_value"] for c in m["cleaning"]}
        unscored = np.zeros(len(x), dtype=bool)
        for j, f in enumerate(self.features):
            miss = np.isnan(x[:, j])
            if m["missing_policy"] == "drop":
                unscored |= miss
            else:
                x[miss, j] = fills[f]
        if m["scaler"].get("kind", "minmax") == "log-minmax":
            x = np.sign(x) * np.log(1 + np.abs(x))
        z = x * np.array(m["scaler"]["scale"]) + np.array(m["scaler"]["min"])
        c = np.array(m["centroids_scaled"])
        d2 = np.zeros((len(z), len(c)))
        for j in range(len(self.features)):
            t = z[:, [j]] - c[None, :, j]
            d2 += t * t
        best = d2.argmin(axis=1)
        ids = [s["id"] for s in m["segments"]]
        for i, seg in enumerate(self.expected_segment):
            assert seg == (None if unscored[i] else ids[best[i]]), (name, i)
        self.expected_distance = np.sqrt(d2[np.arange(len(z)), best])
        self.names = {s["id"]: s["name"] for s in m["segments"]}

    def compare(self, engine, ids, segments, names, distances):
        """Every customer answered once, like predict (segment), numpy (distance)."""
        assert len(ids) == len(self.df), (engine, self.name, len(ids))
        got = {}
        for i, s, n, d in zip(ids, segments, names, distances):
            assert i not in got, (engine, i)
            got[i] = (s, n, d)
        for i, id_ in enumerate(self.df[self.id]):
            s, n, d = got[id_]
            want = self.expected_segment[i]
            s = None if s is None or (isinstance(s, float) and np.isnan(s)) else int(s)
            assert s == want, f"{engine} {self.name}: customer {id_}: segment {s}, predict {want}"
            if want is None:
                assert d is None or np.isnan(d)
                continue
            assert n == self.names[want], (engine, id_, n)
            e = self.expected_distance[i]
            assert abs(d - e) <= 1e-9 * abs(e), f"{engine} {self.name}: customer {id_}: distance {d} vs {e}"
        print(f"{engine} {self.name}: {len(ids)} customers identical")


@pytest.fixture(scope="module")
def cases(tmp_path_factory, run_cardseg, real_data):
    d = tmp_path_factory.mktemp("export")
    out = {}

    def make(name, train, score, *flags):
        run_cardseg("run", "--quiet", "--no-dashboard", "--input", train, "--out", d / name, *flags)
        labels = d / f"{name}.labels.csv"
        run_cardseg("predict", "--quiet", "--model", d / name / "model.json", "--input", score, "--out", labels)
        out[name] = Case(name, d / name / "model.json", score, labels)

    make("real", real_data, real_data)
    # The other scalers: log-minmax adds g(x) = sign(x) * ln(1 + |x|) to the query/PMML.
    make("log", real_data, real_data, "--scaler", "log-minmax")
    make("robust", real_data, real_data, "--scaler", "robust")
    train, score = d / "train.csv", d / "score.csv"
    run_cardseg("generate", "--rows", 20000, "--seed", 7, "--out", train)
    run_cardseg("generate", "--rows", 100000, "--seed", 8, "--out", score)
    g = pd.read_csv(score, dtype={"CUST_ID": str}, float_precision="round_trip", keep_default_na=False, na_values=[""])
    i = np.arange(len(g))
    g.loc[i % 9 == 0, "BALANCE"] = g.loc[i % 9 == 0, "BALANCE"] * 5 + 250000
    g.loc[i % 13 == 0, "PURCHASES"] = -g.loc[i % 13 == 0, "PURCHASES"] - 1234.5
    g.loc[i % 17 == 0, "CREDIT_LIMIT"] = np.nan
    g.to_csv(score, index=False, float_format="%.17g")
    make("gen100k", train, score)
    h = pd.read_csv(real_data, dtype=str, keep_default_na=False)
    h = h.rename(columns=HOSTILE)
    hostile = d / "hostile.csv"
    h.to_csv(hostile, index=False)
    feats = ",".join(HOSTILE[c] for c in ["BALANCE", "PURCHASES", "CREDIT_LIMIT"])
    make("hostile", hostile, hostile, "--features", feats, "--id-column", HOSTILE["CUST_ID"])
    out["_dir"] = d
    return out


def export(run_cardseg, case, out, *flags):
    run_cardseg("export", "--quiet", "--model", case.model_path, "--out", out, *flags)
    return out.read_text()


# ------------------------------------------------------------------------- DuckDB


def test_duckdb(cases, run_cardseg):
    try:
        import duckdb
    except ImportError:
        need("the duckdb Python package")
    con = duckdb.connect()
    con.execute("CREATE TABLE x (v INTEGER); INSERT INTO x VALUES (1)")
    q = lambda n: '"' + n.replace('"', '""') + '"'
    for name in ["real", "gen100k", "hostile", "log", "robust"]:
        case = cases[name]
        table = HOSTILE_TABLE if name == "hostile" else "customers"
        types = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': '{'VARCHAR' if c == case.id else 'DOUBLE'}'" for c in case.header)
        con.execute(f"DROP TABLE IF EXISTS {q(table)}")
        con.execute(
            f"CREATE TABLE {q(table)} AS SELECT * FROM read_csv(?, header = true, columns = {{{types}}}, quote = '\"', escape = '\"')",
            [str(case.data_path)],
        )
        sql = export(run_cardseg, case, cases["_dir"] / f"{name}.duckdb.sql", "--format", "sql", "--dialect", "duckdb", "--table", table)
        rows = con.execute(sql).fetchall()
        case.compare("duckdb", *zip(*rows))
        assert con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0] == len(case.df)
        assert con.execute("SELECT count(*) FROM x").fetchone()[0] == 1
    case = cases["real"]
    con.execute('CREATE TABLE partial AS SELECT "CUST_ID", "BALANCE", "PURCHASES" FROM customers')
    sql = export(run_cardseg, case, cases["_dir"] / "partial.duckdb.sql", "--format", "sql", "--dialect", "duckdb", "--table", "partial")
    with pytest.raises(duckdb.Error, match="CREDIT_LIMIT"):
        con.execute(sql).fetchall()


# ------------------------------------------------------- SQLite (system library)


def test_sqlite_system_library(cases, run_cardseg):
    """The system's SQLite has SQRT built in (the bundled one of tests/export.rs gets it
    registered); same answers, through the ansi dialect too."""
    con = sqlite3.connect(":memory:")
    try:
        con.execute("SELECT sqrt(4.0)")
    except sqlite3.OperationalError:
        need("an SQLite library with math functions (3.35+, the default build)")
    case = cases["hostile"]
    q = lambda n: '"' + n.replace('"', '""') + '"'
    con.execute(f"CREATE TABLE {q(HOSTILE_TABLE)} ({q(case.id)} TEXT, {', '.join(q(f) + ' REAL' for f in case.features)})")
    rows = [(r[0], *[None if np.isnan(v) else float(v) for v in r[1:]]) for r in case.df.itertuples(index=False)]
    con.executemany(f"INSERT INTO {q(HOSTILE_TABLE)} VALUES ({', '.join('?' * (len(case.features) + 1))})", rows)
    for dialect in ["sqlite", "ansi"]:
        sql = export(run_cardseg, case, cases["_dir"] / f"hostile.{dialect}.sql", "--format", "sql", "--dialect", dialect, "--table", HOSTILE_TABLE, "--force")
        case.compare(f"sqlite {sqlite3.sqlite_version} ({dialect})", *zip(*con.execute(sql).fetchall()))


# ------------------------------------------------------------------- Spark SQL


def spark_frame(spark, case):
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    schema = StructType([StructField(c, StringType() if c == case.id else DoubleType(), True) for c in case.header])
    # An explicit schema; an empty cell is null (nullValue defaults to "").
    return spark.read.csv(str(case.data_path), header=True, schema=schema, escape='"')


def test_spark_sql(cases, run_cardseg, spark):
    from pyspark.sql.utils import AnalysisException

    def view(case):
        spark_frame(spark, case).createOrReplaceTempView("customers")

    for name in ["real", "gen100k", "hostile", "log", "robust"]:
        case = cases[name]
        view(case)
        sql = export(run_cardseg, case, cases["_dir"] / f"{name}.spark.sql", "--format", "sql", "--dialect", "spark", "--force")
        rows = [tuple(r) for r in spark.sql(sql).collect()]
        case.compare("spark", *zip(*rows))
    case = cases["real"]
    view(case)
    spark.sql("SELECT CUST_ID, BALANCE, PURCHASES FROM customers").createOrReplaceTempView("partial")
    sql = export(run_cardseg, case, cases["_dir"] / "partial.spark.sql", "--format", "sql", "--dialect", "spark", "--table", "partial", "--force")
    with pytest.raises(AnalysisException, match="CREDIT_LIMIT"):
        spark.sql(sql).collect()


# ------------------------------------------------------------------------ PMML


def test_pmml_in_jpmml_evaluator(cases, run_cardseg):
    try:
        from jpmml_evaluator import make_evaluator
    except ImportError:
        need("the jpmml_evaluator Python package")
    for name in ["real", "gen100k", "hostile", "log", "robust"]:
        case = cases[name]
        path = cases["_dir"] / f"{name}.pmml"
        export(run_cardseg, case, path, "--format", "pmml")
        # verify() checks the document against the evaluator's 4.4 schema model.
        ev = make_evaluator(str(path), backend="py4j", lax=False).verify()
        res = ev.evaluateAll(case.df[case.features])
        ids = list(case.df[case.id])
        case.compare("jpmml-evaluator", ids, list(res["segment"]), list(res["segment_name"]), list(res["distance"]))


def test_pmml_on_spark(cases, run_cardseg, spark):
    """The same PMML through jpmml-evaluator-pyspark's transformer on a Spark DataFrame
    (the shared session loads its jars, see conftest.py)."""
    try:
        from jpmml_evaluator_pyspark import FlatPMMLTransformer
    except ImportError:
        need("the jpmml_evaluator_pyspark Python package")
    jvm = spark.sparkContext._jvm
    for name in ["real", "gen100k", "hostile", "log", "robust"]:
        case = cases[name]
        path = cases["_dir"] / f"{name}.spark.pmml"
        export(run_cardseg, case, path, "--format", "pmml")
        ev = jvm.org.jpmml.evaluator.LoadingModelEvaluatorBuilder().load(jvm.java.io.File(str(path))).build()
        ev.verify()
        out = FlatPMMLTransformer(ev).transform(spark_frame(spark, case))
        # Columns picked by position: Spark's select() would parse a hostile name.
        pos = [out.columns.index(c) for c in [case.id, "segment", "segment_name", "distance"]]
        rows = [tuple(r[i] for i in pos) for r in out.collect()]
        case.compare("jpmml-evaluator-pyspark", *zip(*rows))
