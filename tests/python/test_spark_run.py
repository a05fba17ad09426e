"""cardseg.spark.run: the whole pipeline on a Spark DataFrame (local mode, the shared
session of conftest.py), checked against `cardseg run` on the same generated customers."""
import json
import os

import pytest

ROWS = int(os.environ.get("CARDSEG_SPARK_RUN_ROWS", "200000"))
SAMPLE = 50_000
PARTITIONS = 4


@pytest.fixture(scope="module")
def data(run_cardseg, tmp_path_factory):
    """The generated customers as Parquet, and the single-machine runs on them."""
    d = tmp_path_factory.mktemp("spark_run")
    path = d / "customers.parquet"
    run_cardseg("generate", "--quiet", "--rows", ROWS, "--seed", 5, "--out", path)
    run_cardseg("run", "--quiet", "--input", path, "--out", d / "cli")
    run_cardseg("run", "--quiet", "--input", path, "--train-sample", SAMPLE, "--out", d / "cli_sample")
    return d


@pytest.fixture(scope="module")
def sdf(spark, data):
    # Several partitions, as a cluster reads a table split in files.
    parts = data / "parts"
    from pyspark.sql import functions as F

    # Two text columns the generator does not make: a region (some missing) and a flag.
    h = F.xxhash64(F.col("CUST_ID"))
    regions = F.array(*[F.lit(r) for r in ("north", "south", "east", "west")])
    spark.read.parquet(str(data / "customers.parquet")).withColumn(
        "REGION", F.when(F.pmod(h, F.lit(10)) != 0, F.element_at(regions, (F.pmod(h, F.lit(4)) + 1).cast("int")))
    ).withColumn("HAS_APP", F.pmod(F.xxhash64(F.col("CUST_ID"), F.lit(1)), F.lit(3)) == 0).repartition(
        PARTITIONS).write.parquet(str(parts))
    df = spark.read.parquet(str(parts))
    return df


@pytest.fixture(scope="module")
def spark_run(cardseg_pkg, sdf, data):
    import cardseg.spark

    res = cardseg.spark.run(sdf, out=data / "spark", train_sample=SAMPLE)
    return res, data / "spark"


def model_of(out):
    return json.loads((out / "model.json").read_text())["model"]


def read_labels(out):
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if (out / "labels.parquet").exists():
        t = pq.read_table(out / "labels.parquet")
    else:
        t = pcsv.read_csv(out / "labels.csv", convert_options=pcsv.ConvertOptions(
            column_types={"CUST_ID": "string"}))
    return dict(zip(t.column("CUST_ID").to_pylist(), t.column("segment").to_pylist()))


def test_the_output_folder_is_a_run_folder_with_spark_labels(spark_run, sdf):
    _, out = spark_run
    names = {p.name for p in out.iterdir()}
    for f in ["model.json", "segments.csv", "segments.json", "summary.md", "summary.json",
              "k_selection.csv", "dashboard.html", "labels.parquet"]:
        assert f in names, names
    assert "labels.csv" not in names
    assert sdf.rdd.getNumPartitions() >= PARTITIONS // 2


def test_same_k_as_the_sample_run_and_the_segments_of_the_full_run(spark_run, data):
    from sklearn.metrics import adjusted_rand_score

    _, out = spark_run
    spark_model, cli, sampled = model_of(out), model_of(data / "cli"), model_of(data / "cli_sample")
    assert spark_model["k"] == sampled["k"]
    assert spark_model["k"] == cli["k"]
    assert spark_model["training_rows"] == ROWS
    got, want = read_labels(out), read_labels(data / "cli")
    assert got.keys() == want.keys() and len(got) == ROWS
    ids = sorted(got)
    ari = adjusted_rand_score([want[i] for i in ids], [got[i] for i in ids])
    assert ari >= 0.99, ari
    assert abs(spark_model["inertia"] - cli["inertia"]) <= 0.005 * cli["inertia"], (
        spark_model["inertia"], cli["inertia"])


def test_predict_with_the_written_model_reproduces_every_spark_label(spark_run, data, run_cardseg):
    _, out = spark_run
    pred = data / "pred.csv"
    run_cardseg("predict", "--quiet", "--model", out / "model.json", "--input",
                data / "customers.parquet", "--out", pred)
    got = read_labels(out)
    want = read_labels_csv(pred)
    assert got == want


def read_labels_csv(path):
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types={"CUST_ID": "string"}))
    return dict(zip(t.column("CUST_ID").to_pylist(), t.column("segment").to_pylist()))


def exact_median(values):
    """stats::median: lo + (hi - lo) / 2 of the two middle values."""
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    hi = v[n // 2]
    lo = v[(n - 1) // 2]
    return lo + (hi - lo) / 2.0


def test_fill_values_and_profile_medians_are_exact(spark_run, data):
    import pyarrow.parquet as pq

    _, out = spark_run
    spark_model, cli = model_of(out), model_of(data / "cli")
    assert spark_model["cleaning"] == cli["cleaning"]
    assert any(c["missing"] > 0 for c in cli["cleaning"]), "the data should have gaps to fill"
    assert spark_model["scaler"] == cli["scaler"]
    seg_spark = json.loads((out / "segments.json").read_text())
    seg_cli = json.loads((data / "cli" / "segments.json").read_text())
    portfolio = {s["column"]: s for s in seg_spark["portfolio"]["stats"]}
    for s in seg_cli["portfolio"]["stats"]:
        assert portfolio[s["column"]]["median"] == s["median"], s["column"]
    # Per segment: the medians of every customer of the Spark segments, filled as the model fills.
    table = pq.read_table(data / "customers.parquet")
    labels = read_labels(out)
    seg_of = [labels[i] for i in table.column("CUST_ID").to_pylist()]
    fills = {c["column"]: c["fill_value"] for c in spark_model["cleaning"]}
    segments = seg_spark["segments"]
    for col in ["BALANCE", "CREDIT_LIMIT", "MINIMUM_PAYMENTS", "TENURE"]:
        values = table.column(col).to_pylist()
        fill = fills.get(col)
        for s in segments:
            p = s.get("profile", s)
            sid = p["id"]
            mine = [fill if v is None else v for v, g in zip(values, seg_of) if g == sid]
            mine = [v for v in mine if v is not None]
            stat = next(x for x in p["stats"] if x["column"] == col)
            assert stat["median"] == exact_median(mine), (col, sid)
            assert p["customers"] == sum(1 for g in seg_of if g == sid)


def test_the_driver_never_collects_the_data(cardseg_pkg, spark, sdf, data):
    """spark.driver.maxResultSize far below the data: collecting the rows fails, the run
    succeeds (it takes statistics, a sample and per-partition sums only). The limit is
    set on the running SparkContext's configuration, which every new stage reads."""
    import cardseg.spark

    features = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
    small = sdf.select("CUST_ID", *features)
    conf = spark.sparkContext._jsc.sc().conf()
    before = conf.get("spark.driver.maxResultSize", "1g")
    # The rows are about 6 MB (ids and three numbers); the limit is 1 MB.
    conf.set("spark.driver.maxResultSize", "1m")
    try:
        with pytest.raises(Exception, match="maxResultSize"):
            small.toArrow()
        res = cardseg.spark.run(small, train_sample=10_000, features=features, profile_features=[],
                                k=4, stability_resamples=0)
        assert res.k == 4
        assert sum(res.summary_counts()) == ROWS
        assert res.model.features == features
    finally:
        conf.set("spark.driver.maxResultSize", before)


def test_bad_dataframes_get_one_line_errors_and_nothing_is_written(cardseg_pkg, spark, tmp_path):
    import cardseg.spark

    rows = [(f"c{i}", str(i), float(i % 7), None) for i in range(50)]
    df = spark.createDataFrame(rows, "CUST_ID string, A string, B double, C double")
    out = tmp_path / "out"
    with pytest.raises(cardseg_pkg.InputError, match="column A is string, not a number; cast it to double"):
        cardseg.spark.run(df, out=out, features=["A", "B"], profile_features=[])
    with pytest.raises(cardseg_pkg.InputError, match="id column ID not found"):
        cardseg.spark.run(df, out=out, features=["B"], id_column="ID", profile_features=[])
    with pytest.raises(cardseg_pkg.InputError, match="column C is empty in every row"):
        cardseg.spark.run(df, out=out, features=["B", "C"], profile_features=[])
    for bad, message in [({"train_sample": 1}, "train_sample takes a whole number from 2"),
                         ({"max_iter": 0}, "max_iter takes a whole number from 1"),
                         ({"tolerance": -1.0}, "tolerance takes a positive number"),
                         ({"write_labels": "sqlite:///x.db"}, "does not take write_labels")]:
        with pytest.raises(cardseg_pkg.UsageError, match=message):
            cardseg.spark.run(df, out=out, features=["B"], profile_features=[], **bad)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_outlier_counts_and_most_extreme_customers_cover_every_row(spark_run, data):
    """The summary's outliers are those of every customer (the flags of labels.parquet,
    the rule of `cardseg predict`), not of the sample the k sweep saw."""
    import pyarrow.parquet as pq

    _, out = spark_run
    summary = json.loads((out / "summary.json").read_text())
    t = pq.read_table(out / "labels.parquet").to_pydict()
    flagged = {}
    for seg, o in zip(t["segment"], t["outlier"]):
        if o:
            flagged[seg] = flagged.get(seg, 0) + 1
    got = {line["id"]: line["outliers"] for line in summary["outliers"]}
    assert got == {s: flagged.get(s, 0) for s in got}
    rows = sorted(((d, i, s) for i, s, d, o in zip(t["CUST_ID"], t["segment"], t["distance"], t["outlier"]) if o),
                  key=lambda r: (-r[0], r[1]))[:5]
    assert [(e["customer"], e["segment"]) for e in summary["most_extreme"]] == [(i, s) for _, i, s in rows]
    for e, (dist, _, _) in zip(summary["most_extreme"], rows):
        assert e["distance"] == pytest.approx(dist, rel=1e-12)


def test_profile_means_and_spreads_equal_the_single_machine_figures(spark_run, data):
    """Per segment means, shares of non-zero values and spreads of every profiled column are
    those of the customers of each Spark segment, as `cardseg run` computes them."""
    import pyarrow.parquet as pq

    _, out = spark_run
    seg_spark = json.loads((out / "segments.json").read_text())
    fills = {c["column"]: c["fill_value"] for c in model_of(out)["cleaning"]}
    table = pq.read_table(data / "customers.parquet")
    labels = read_labels(out)
    seg_of = [labels[i] for i in table.column("CUST_ID").to_pylist()]
    sums = {}
    for col in {st["column"] for s in seg_spark["segments"] for st in s.get("profile", s)["stats"]}:
        fill = fills.get(col)
        for v, g in zip(table.column(col).to_pylist(), seg_of):
            v = fill if v is None else v
            if v is not None:
                acc = sums.setdefault((col, g), [0.0, 0])
                acc[0] += v
                acc[1] += 1
    for s in seg_spark["segments"]:
        p = s.get("profile", s)
        for stat in p["stats"]:
            total, n = sums[(stat["column"], p["id"])]
            assert stat["mean"] == pytest.approx(total / n, rel=1e-9, abs=1e-9), (stat["column"], p["id"])


def test_text_columns_are_profiled_as_category_mixes_of_every_row(spark_run, sdf):
    """A text column (and a boolean one) gets the category mix per segment that a run on a
    CSV file gives: customers per value of every row, "(missing)" for nulls."""
    _, out = spark_run
    seg = json.loads((out / "segments.json").read_text())
    labels = read_labels(out)
    t = sdf.select("CUST_ID", "REGION", "HAS_APP").toArrow().to_pydict()
    for col, shown in [("REGION", lambda v: "(missing)" if v is None else v),
                       ("HAS_APP", lambda v: "true" if v else "false")]:
        want = {}
        for i, v in zip(t["CUST_ID"], t[col]):
            key = (labels[i], shown(v))
            want[key] = want.get(key, 0) + 1
        got = {}
        for s in seg["segments"]:
            p = s.get("profile", s)
            mix = next((m for m in p.get("categories", []) if m["column"] == col), None)
            assert mix is not None, (col, p["id"], [m["column"] for m in p.get("categories", [])])
            for v in mix["values"]:
                if v["customers"]:
                    got[(p["id"], v["value"])] = v["customers"]
        assert got == want, col


def test_previous_counts_the_migration_on_every_row_as_the_cli_does(cardseg_pkg, spark, sdf, data, run_cardseg):
    """Month two on Spark with previous= a Spark run: migration.json is that of
    `cardseg run --previous` on the same rows (as CSV, against the same previous labels)."""
    import shutil

    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    import cardseg.spark

    d = data / "previous"
    d.mkdir()
    cols = [c for c in sdf.columns if c not in ("REGION", "HAS_APP")]
    h = lambda s: F.pmod(F.xxhash64(F.col("CUST_ID"), F.lit(s)), F.lit(100))  # noqa: E731
    month1 = sdf.select(*cols).where(h(11) < 5)
    # Month two: a tenth of the customers gone, new ones, a quarter spending half as much again.
    month2 = sdf.select(*cols).where(((h(11) < 5) & (h(7) >= 10)) | (h(11) == 5)).withColumn(
        "PURCHASES", F.when(h(13) < 25, F.col("PURCHASES") * 1.5).otherwise(F.col("PURCHASES")))

    def as_csv(df, path):
        # In the order of the Spark run's sample (every row here), so both runs seed alike.
        seed = cardseg_pkg._cardseg.defaults()["seed"]
        key = F.xxhash64(F.col("CUST_ID").cast("string"), F.lit(int(seed))).bitwiseAND(F.lit((1 << 53) - 1))
        pcsv.write_csv(df.orderBy(key, "CUST_ID").toArrow(), path)

    cardseg.spark.run(month1, out=d / "m1")
    # The CLI's month two continues the same month one: its model, its labels as labels.csv.
    prev = d / "m1_csv"
    prev.mkdir()
    shutil.copy(d / "m1" / "model.json", prev / "model.json")
    t = pq.read_table(d / "m1" / "labels.parquet").select(["CUST_ID", "segment", "segment_name"])
    pcsv.write_csv(t, prev / "labels.csv")

    cardseg.spark.run(month2, out=d / "m2", previous=d / "m1" / "model.json")
    as_csv(month2, d / "m2.csv")
    run_cardseg("run", "--quiet", "--input", d / "m2.csv", "--previous", prev / "model.json", "--out", d / "m2_cli")

    names = lambda out: [(s["id"], s["name"]) for s in model_of(out)["segments"]]  # noqa: E731
    assert names(d / "m2") == names(d / "m2_cli")
    got = json.loads((d / "m2" / "migration.json").read_text())
    want = json.loads((d / "m2_cli" / "migration.json").read_text())
    for m in (got, want):
        for key in ("before", "after", "model_checksum_before", "model_checksum_after"):
            m.pop(key, None)
    assert got == want
    # The same month one read from its labels.csv (a CLI run's previous) counts the same.
    cardseg.spark.run(month2, out=d / "m2_csv_prev", previous=prev / "model.json")
    again = json.loads((d / "m2_csv_prev" / "migration.json").read_text())
    for key in ("before", "after", "model_checksum_before", "model_checksum_after"):
        again.pop(key, None)
    assert again == got
    n2 = month2.count()
    assert got["customers_after"] == n2 and got["customers_before"] == t.num_rows
    assert got["new_customers"] > 0 and got["gone_customers"] > 0 and got["moved"] > 0
    s_got = json.loads((d / "m2" / "summary.json").read_text())
    s_want = json.loads((d / "m2_cli" / "summary.json").read_text())
    assert json.dumps(s_got).count('"moved"') >= 1
    pick = lambda s: {k: v for k, v in s.items() if k in ("moved", "name_changed")}  # noqa: E731

    def find(o):
        if isinstance(o, dict):
            if "moved" in o:
                return pick(o)
            for v in o.values():
                r = find(v)
                if r:
                    return r
        return None
    assert find(s_got) == find(s_want) and find(s_got)["moved"] == got["moved"]


SEGMENT_LEVELS = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0]


def sorted_quantile(v, p):
    """model::baseline::sorted_quantile: linear interpolation at (n - 1) * p / 100."""
    pos = (len(v) - 1) * p / 100.0
    lo = int(pos // 1)
    hi = min(lo + 1, len(v) - 1)
    frac = pos - lo
    return v[lo] if frac == 0 else v[lo] + (v[hi] - v[lo]) * frac


def test_the_drift_baseline_is_that_of_every_row(spark_run, data):
    """The model's drift baseline (each feature's deciles, bin shares, missing share and
    range; per segment each feature's quantiles and shares around the median) describes
    every customer, not the sample the k sweep saw: the feature baseline equals that of
    `cardseg run` on all rows, the per-segment one equals the definitions applied to the
    raw values of every customer of each Spark segment."""
    import numpy as np
    import pyarrow.parquet as pq

    _, out = spark_run
    spark_model, cli = model_of(out), model_of(data / "cli")
    assert spark_model["train_sample"] is not None and spark_model["train_sample"] < ROWS
    assert spark_model["feature_distributions"] == cli["feature_distributions"]
    table = pq.read_table(data / "customers.parquet")
    labels = read_labels(out)
    seg_of = np.array([labels[i] for i in table.column("CUST_ID").to_pylist()])
    dists = {s["id"]: s for s in spark_model["segment_distributions"]}
    assert sorted(dists) == sorted(s["id"] for s in spark_model["segments"])
    for sid, sd in dists.items():
        assert sd["customers"] == int((seg_of == sid).sum())
        assert sd["share"] == int((seg_of == sid).sum()) / ROWS
        for j, f in enumerate(spark_model["features"]):
            col = table.column(f).to_numpy(zero_copy_only=False).astype(float)
            v = np.sort(col[(seg_of == sid) & ~np.isnan(col)]).tolist()
            got = sd["features"][j]
            assert got["feature"] == f and got["values"] == len(v), (sid, f)
            want = [sorted_quantile(v, p) for p in SEGMENT_LEVELS]
            assert got["quantiles"] == want, (sid, f)
            med = want[4]
            assert got["below_median"] == sum(1 for x in v if x < med) / len(v), (sid, f)
            assert got["above_median"] == sum(1 for x in v if x > med) / len(v), (sid, f)


@pytest.fixture(scope="module")
def float_ids(spark, tmp_path_factory):
    """Customers whose ids are stored as floats (1.0, 2.0, ...), the first month run on Spark."""
    import numpy as np
    import pandas as pd

    import cardseg.spark

    rng = np.random.default_rng(4)
    n = 3000
    centres = np.array([[100.0, 5.0, 1000.0], [2000.0, 300.0, 6000.0], [500.0, 2000.0, 3000.0]])
    x = centres[rng.integers(0, 3, n)] * rng.uniform(0.8, 1.2, (n, 3))
    pdf = pd.DataFrame({"ID": np.arange(1, n + 1, dtype=float), "A": x[:, 0], "B": x[:, 1], "C": x[:, 2]})
    d = tmp_path_factory.mktemp("float_ids")
    opts = dict(id_column="ID", features=["A", "B", "C"], profile_features=[], k=3, stability_resamples=0)
    month1 = spark.createDataFrame(pdf).repartition(3)
    cardseg.spark.run(month1, out=d / "m1", **opts)
    return d, pdf, opts


def test_previous_matches_ids_stored_as_floats_as_the_cli_does(cardseg_pkg, spark, float_ids):
    """Ids read as floats on one side ("1.0") and written as the reader renders them on
    the other ("1") are the same customer: every customer of month two is matched."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    import cardseg.spark

    d, pdf, opts = float_ids
    written = pq.read_table(d / "m1" / "labels.parquet")
    assert written.column("ID").to_pylist()[:1] != ["1.0"]
    month2 = spark.createDataFrame(pdf.iloc[200:]).repartition(3)
    cardseg.spark.run(month2, out=d / "m2", previous=d / "m1" / "model.json", **opts)
    m = json.loads((d / "m2" / "migration.json").read_text())
    assert m["customers_in_both"] == len(pdf) - 200 and m["gone_customers"] == 200, m
    assert m["new_customers"] == 0
    # The other way round: the previous labels hold float ids, this month's ids are whole numbers.
    prev = d / "m1_float"
    prev.mkdir()
    shutil.copy(d / "m1" / "model.json", prev / "model.json")
    floats = written.set_column(0, "ID", pa.array([float(i) for i in written.column("ID").to_pylist()]))
    # Without the Spark schema Spark wrote into the metadata (which would still say string).
    floats = floats.replace_schema_metadata(None)
    pq.write_table(floats, prev / "labels.parquet")
    month2_int = spark.createDataFrame(pdf.iloc[200:].astype({"ID": "int64"}))
    cardseg.spark.run(month2_int, out=d / "m2_int", previous=prev / "model.json", **opts)
    again = json.loads((d / "m2_int" / "migration.json").read_text())
    assert again["customers_in_both"] == len(pdf) - 200, again
    assert again["flows"] == m["flows"]


def test_previous_labels_are_not_read_by_the_first_run_on_the_sample(cardseg_pkg, spark, float_ids):
    """With previous=, the driver's first run on the sample takes only the previous model:
    a labels.csv beside it that cannot be read is never read (the flows are counted by
    Spark from labels.parquet, which comes first), so the run succeeds."""
    import shutil

    import cardseg.spark

    d, pdf, opts = float_ids
    prev = d / "m1_bad_csv"
    shutil.copytree(d / "m1", prev)
    (prev / "labels.csv").write_text("not,a,labels file\n1,2,3\n")
    month2 = spark.createDataFrame(pdf.iloc[100:]).repartition(2)
    cardseg.spark.run(month2, out=d / "m2_bad_csv", previous=prev / "model.json", **opts)
    m = json.loads((d / "m2_bad_csv" / "migration.json").read_text())
    assert m["customers_in_both"] == len(pdf) - 100


def test_an_order_statistic_outside_its_bracket_is_found_exactly(cardseg_pkg, spark):
    """The exact-order-statistics pass takes a second pass, bracketed by the column's range,
    for a rank its approximate bracket missed (here a bracket given wrong on purpose)."""
    import cardseg.spark

    values = [float((i * 37) % 101) for i in range(500)] + [None] * 7
    df = spark.createDataFrame([(v,) for v in values], "__v0 double").repartition(3)
    present = sorted(v for v in values if v is not None)
    bounds = {0: (present[0], present[-1])}
    targets = [(0, "low", (10, 11), (90.0, 95.0)), (0, "median", (249, 250), (40.0, 60.0))]
    got = cardseg.spark._exact_ranks(df, targets, bounds)
    assert got[(0, "low")][0] == (present[10], present[11])
    assert got[(0, "median")][0] == (present[249], present[250])
    count = got[(0, "low")][1]
    assert count(present[11]) == sum(1 for v in present if v <= present[11])
