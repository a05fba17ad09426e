"""cardseg.spark.run against Spark MLlib's KMeans pipeline on the same DataFrame (local mode).

For each size (default 2.5M, 5M and 10M generated customers, as Parquet):
  * cardseg.spark.run(df): statistics, sample sweep k = 2..10 on the driver, Lloyd on every
    row on the executors, profile, labels (written to Parquet): the whole pipeline;
  * MLlib (--mllib-at sizes, default the largest): Imputer(strategy="median") →
    VectorAssembler → MinMaxScaler, then KMeans(k) for k = 2..10 (k-means||, Lloyd on the
    executors), each k's time and training cost (inertia on every row, in the same scaled
    space as cardseg's).
Side by side per k: MLlib's time and inertia; cardseg's sweep inertia (on its sample, scaled
to every row by rows / sample rows) and, at the chosen k, its inertia on every row; with
--per-k, cardseg.spark.run(k_min=k, k_max=k) for every k too (its time and all-row inertia).

  python bench/spark_run.py --sizes 2500000,5000000,10000000 [--per-k] [--work DIR]

Needs the cardseg wheel importable (PYTHONPATH) and CARDSEG_BIN (for `cardseg generate`).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

FEATURES = None  # the package's defaults


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2500000,5000000,10000000")
    ap.add_argument("--mllib-at", default="", help="sizes to run MLlib at (default: the largest)")
    ap.add_argument("--train-sample", type=int, default=None)
    ap.add_argument("--per-k", action="store_true")
    ap.add_argument("--work", default="/tmp/cardseg-spark-bench")
    ap.add_argument("--memory", default="6g")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    mllib_at = [int(s) for s in args.mllib_at.split(",")] if args.mllib_at else [max(sizes)]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bin_ = os.environ.get("CARDSEG_BIN", "target/release/cardseg")

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("cardseg-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", args.memory)
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    import cardseg
    import cardseg.spark

    features = list(cardseg.DEFAULT_FEATURES)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} {platform.node()} "
          f"{os.cpu_count()} cores; load {os.getloadavg()}; Spark {spark.version} local[2]")
    summary = []
    for n in sizes:
        path = work / f"customers_{n}.parquet"
        if not path.exists():
            subprocess.run([bin_, "generate", "--quiet", "--rows", str(n), "--seed", "3", "--out", str(path)],
                           check=True)
        df = spark.read.parquet(str(path))
        out = work / f"spark_{n}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        res = cardseg.spark.run(df, out=out, train_sample=args.train_sample)
        secs = time.perf_counter() - t
        model = json.loads((out / "model.json").read_text())["model"]
        m = model["train_sample"] or n
        sweep = {r["k"]: r["inertia"] * n / m for r in model["k_selection"]["sweep"]}
        print(f"\n## {n:,} customers: cardseg.spark.run {secs:.1f} s, k = {model['k']}, "
              f"inertia (every row) {model['inertia']:.6g}, {res.lloyd_iterations} Lloyd steps, "
              f"sample {m:,}")
        for name, s in res.passes:
            print(f"   pass {name}: {s:.1f} s")
        row = {"rows": n, "cardseg_s": secs, "k": model["k"], "inertia": model["inertia"]}
        per_k = {}
        if args.per_k:
            for k in range(2, 11):
                t = time.perf_counter()
                r = cardseg.spark.run(df, k=k, k_min=k, k_max=k, train_sample=args.train_sample,
                                      stability_resamples=0, dashboard=False)
                per_k[k] = (time.perf_counter() - t, r.model.inertia)
        if n in mllib_at:
            from pyspark.ml import Pipeline
            from pyspark.ml.clustering import KMeans
            from pyspark.ml.feature import Imputer, MinMaxScaler, VectorAssembler

            t = time.perf_counter()
            filled = [f"{c}__f" for c in features]
            prep = Pipeline(stages=[
                Imputer(strategy="median", inputCols=features, outputCols=filled),
                VectorAssembler(inputCols=filled, outputCol="raw"),
                MinMaxScaler(inputCol="raw", outputCol="features"),
            ]).fit(df)
            x = prep.transform(df).select("features").cache()
            x.count()
            prep_s = time.perf_counter() - t
            print(f"   MLlib preparation (median imputer, MinMax, cached): {prep_s:.1f} s")
            print("\n| k | MLlib KMeans s | MLlib inertia (every row) | cardseg sweep inertia (sample × n/m) "
                  "| cardseg all rows | ratio cardseg/MLlib |")
            print("|---|---|---|---|---|---|")
            total = prep_s
            for k in range(2, 11):
                t = time.perf_counter()
                km = KMeans(k=k, seed=1, featuresCol="features").fit(x)
                s = time.perf_counter() - t
                total += s
                cost = km.summary.trainingCost
                mine = per_k[k][1] if k in per_k else (model["inertia"] if k == model["k"] else None)
                ratio = f"{mine / cost:.4f}" if mine else ""
                extra = f" ({per_k[k][0]:.1f} s)" if k in per_k else ""
                print(f"| {k} | {s:.1f} | {cost:.6g} | {sweep.get(k, float('nan')):.6g} | "
                      f"{'' if mine is None else f'{mine:.6g}'}{extra} | {ratio} |")
            x.unpersist()
            print(f"\nMLlib pipeline k = 2..10: {total:.1f} s; cardseg.spark.run (whole pipeline, k = 2..10 "
                  f"sweep, profile, labels): {secs:.1f} s; ratio MLlib / cardseg = {total / secs:.2f}")
            row["mllib_s"] = total
        summary.append(row)
    print("\n## Cost as the data grows\n\n| customers | cardseg.spark.run s | s per million |")
    print("|---|---|---|")
    for r in summary:
        print(f"| {r['rows']:,} | {r['cardseg_s']:.1f} | {r['cardseg_s'] / r['rows'] * 1e6:.1f} |")
    print(f"\n# load after: {os.getloadavg()}")
    spark.stop()


if __name__ == "__main__":
    main()
