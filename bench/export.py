"""Scoring at scale and training on a sample (issue 20).

1. N generated customers (default 10,000,000) scored three ways, each reading the same CSV
   file and writing its labels: `cardseg predict`; the exported SQL in DuckDB
   (`COPY (query over read_csv) TO ...`); the exported SQL in Spark local mode
   (`spark.sql(query)` over a CSV DataFrame with an explicit schema, written as CSV).
   Segments are compared between the three (every customer).
2. `cardseg run --k 5` trained on all customers, on a 1% and on a 0.1% sample
   (`--train-sample`): the model's inertia is that of EVERY customer in each case; the 1%
   one must be within 0.5% of the full training's.

Usage: .venv/bin/python bench/export.py [--rows N] [--out bench/RESULTS.md]
Prints the figures and appends them, with machine, date, command and uptime, to RESULTS.md.
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = os.environ.get("CARDSEG_BIN", str(ROOT / "target" / "release" / "cardseg"))


def sh(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{p.stderr}")
    return p.stdout


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = ap.parse_args()
    n = args.rows
    up_before = sh("uptime").strip()
    work = pathlib.Path(tempfile.mkdtemp(prefix="cardseg-bench-export-"))
    lines = []

    def say(s):
        print(s, flush=True)
        lines.append(s)

    try:
        data = work / "customers.csv"
        sh(BIN, "generate", "--rows", n, "--seed", 11, "--out", data)
        # --- training: full, 1 %, 0.1 %
        train = {}
        for label, sample in [("full", None), ("1%", n // 100), ("0.1%", n // 1000)]:
            out = work / f"model-{label}"
            flags = ["--train-sample", sample] if sample else []
            secs, _ = timed(lambda: sh(BIN, "run", "--quiet", "--no-dashboard", "--k", 5, "--input", data, "--out", out, *flags))
            m = json.loads((out / "model.json").read_text())["model"]
            train[label] = (secs, m["inertia"], m.get("train_sample"))
        full_inertia = train["full"][1]
        say(f"training, k = 5, inertia of all {n:,} customers (scaled units):")
        for label, (secs, inertia, sample) in train.items():
            say(f"  {label:>5} ({sample or n:,} customers trained on): {secs:7.2f} s, inertia {inertia:.6f} ({(inertia / full_inertia - 1) * 100:+.3f}% vs full)")
        ok = train["1%"][1] <= full_inertia * 1.005
        say(f"  1% sample within 0.5% of full training: {'yes' if ok else 'NO'}")

        # --- scoring N customers three ways with the full model
        model = work / "model-full" / "model.json"
        header = data.open().readline().strip().split(",")
        res = {}
        secs, _ = timed(lambda: sh(BIN, "predict", "--quiet", "--model", model, "--input", data, "--out", work / "predict.csv"))
        res["cardseg predict"] = secs
        import duckdb

        cols = ", ".join(f"'{c}': '{'VARCHAR' if c == 'CUST_ID' else 'DOUBLE'}'" for c in header)
        q = f"SELECT * FROM read_csv('{data}', header = true, columns = {{{cols}}})"
        sh(BIN, "export", "--quiet", "--model", model, "--format", "sql", "--dialect", "duckdb", "--query", q, "--out", work / "duck.sql")
        sql = (work / "duck.sql").read_text()
        con = duckdb.connect()
        secs, _ = timed(lambda: con.execute(f"COPY ({sql}) TO '{work / 'duck.csv'}' (HEADER)"))
        res["DuckDB, exported SQL"] = secs
        agree_duck = con.execute(
            f"SELECT count(*) FROM read_csv('{work / 'predict.csv'}', all_varchar = true) p JOIN read_csv('{work / 'duck.csv'}', all_varchar = true) d USING (CUST_ID) WHERE p.segment = d.segment"
        ).fetchone()[0]

        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession
        from pyspark.sql.types import DoubleType, StringType, StructField, StructType

        spark = (
            SparkSession.builder.master("local[2]").appName("cardseg-bench")
            .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        sh(BIN, "export", "--quiet", "--model", model, "--format", "sql", "--dialect", "spark", "--out", work / "spark.sql")
        ssql = (work / "spark.sql").read_text()
        schema = StructType([StructField(c, StringType() if c == "CUST_ID" else DoubleType(), True) for c in header])

        def spark_score():
            spark.read.csv(str(data), header=True, schema=schema).createOrReplaceTempView("customers")
            spark.sql(ssql).write.mode("overwrite").csv(str(work / "spark_out"), header=True)

        secs, _ = timed(spark_score)
        res["Spark local[2], exported SQL"] = secs
        spark.stop()
        agree_spark = con.execute(
            f"SELECT count(*) FROM read_csv('{work / 'predict.csv'}', all_varchar = true) p JOIN read_csv('{work / 'spark_out'}/*.csv', all_varchar = true) s USING (CUST_ID) WHERE p.segment = s.segment"
        ).fetchone()[0]
        say(f"scoring {n:,} customers (read CSV, score, write labels), model k = 5:")
        for k, v in res.items():
            say(f"  {k:<30} {v:8.2f} s  ({v / res['cardseg predict']:.1f}x predict)")
        say(f"  segments equal to predict's: DuckDB {agree_duck:,} / {n:,}, Spark {agree_spark:,} / {n:,}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    up_after = sh("uptime").strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    with open(args.out, "a") as f:
        f.write(f"\n## Export and --train-sample (bench/export.py), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n\n")
        f.write(f"Machine: {cpu}, {os.cpu_count()} cores; command: `.venv/bin/python bench/export.py --rows {n}`\n")
        f.write(f"uptime before: `{up_before}`; after: `{up_after}`\n\n```\n")
        f.write("\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
