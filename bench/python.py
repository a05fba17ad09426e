#!/usr/bin/env python3
"""The Python package against the CLI and the scikit-learn pipeline (issues 19 and 25).

On N generated customers (default 1,000,000; `cardseg generate --seed 42`):

  cli       `cardseg run --quiet --input FILE.csv --out DIR` (the CSV read included)
  python    `cardseg.run(df, out=DIR)` on the same customers already in a pandas DataFrame
            (read with pyarrow, exact values; that read is timed apart, not counted)
  sklearn   bench/sklearn_pipeline.py on the same file (its read stage shown apart, so
            "after read" is the pipeline from the DataFrame on); off with --no-sklearn

Then scoring P generated customers (default 10,000,000; `--seed 43`) with the model of
the CLI run:

  cli       `cardseg predict --quiet --model M --input FILE.csv --out labels.csv`
  python    `Model.predict(df)` on the same customers in a pandas DataFrame (a DataFrame of
            the labels in memory; the read is timed apart, not counted)

Targets: run python / cli <= 1.0 (the DataFrame skips parsing); predict cli / python >= 2.
The outputs of python and cli are checked identical (run: labels.csv, k_selection.csv,
model.json, segments.csv, summary.json byte for byte; predict: every customer's segment).
Appends a section to bench/RESULTS.md with machine, date, command and uptime.

Usage: .venv/bin/python bench/python.py [--rows 1000000] [--predict-rows 10000000]
       [--no-sklearn] [--no-append] [--bin target/release/cardseg]
Needs the wheel installed (scripts/test.sh) and target/release/cardseg.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sh(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--predict-rows", type=int, default=10_000_000)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "cardseg"))
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "python"))
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--no-append", action="store_true")
    a = ap.parse_args()

    import pyarrow.csv as pcsv

    import cardseg

    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"customers-{a.rows}.csv"
    if not data.exists():
        sh(a.bin, "generate", "--quiet", "--rows", a.rows, "--seed", 42, "--out", data)
    uptime_before = sh("uptime").stdout.strip()

    # CLI, CSV read included.
    cli_out = work / "cli"
    shutil.rmtree(cli_out, ignore_errors=True)
    t = time.perf_counter()
    sh(a.bin, "run", "--quiet", "--input", data, "--out", cli_out)
    cli_s = time.perf_counter() - t
    cli_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # The same customers in a pandas DataFrame (exact values), then cardseg.run.
    t = time.perf_counter()
    df = pcsv.read_csv(data).to_pandas()
    read_s = time.perf_counter() - t
    py_out = work / "python"
    shutil.rmtree(py_out, ignore_errors=True)
    t = time.perf_counter()
    seg = cardseg.run(df, out=py_out, source_name=str(data))
    py_s = time.perf_counter() - t
    py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    same = all(
        (py_out / n).read_bytes() == (cli_out / n).read_bytes()
        for n in ["labels.csv", "k_selection.csv", "model.json", "segments.csv", "summary.json"]
    )
    k = seg.k
    del seg, df

    # Scoring: `cardseg predict` on the CSV against Model.predict on the DataFrame.
    pdata = work / f"customers-{a.predict_rows}-seed43.csv"
    if not pdata.exists():
        sh(a.bin, "generate", "--quiet", "--rows", a.predict_rows, "--seed", 43, "--out", pdata)
    model_path = cli_out / "model.json"
    pred_csv = work / "predict-cli.csv"
    if pred_csv.exists():
        pred_csv.unlink()
    t = time.perf_counter()
    sh(a.bin, "predict", "--quiet", "--model", model_path, "--input", pdata, "--out", pred_csv)
    cli_pred_s = time.perf_counter() - t
    t = time.perf_counter()
    pdf = pcsv.read_csv(pdata).to_pandas()
    pread_s = time.perf_counter() - t
    model = cardseg.Model.load(model_path)
    t = time.perf_counter()
    labels = model.predict(pdf)
    py_pred_s = time.perf_counter() - t
    import pyarrow as pa

    want = pcsv.read_csv(
        pred_csv, convert_options=pcsv.ConvertOptions(column_types={"segment": pa.int64()})
    ).column("segment").to_numpy(zero_copy_only=False)
    pred_same = bool((labels["segment"].to_numpy(dtype="int64", na_value=-1) == want).all())
    del pdf, labels

    sk = None
    if not a.no_sklearn:
        sk_out = work / "sklearn"
        shutil.rmtree(sk_out, ignore_errors=True)
        t = time.perf_counter()
        p = sh(sys.executable, ROOT / "bench" / "sklearn_pipeline.py", "--input", data, "--out", sk_out)
        sk_wall = time.perf_counter() - t
        sk = json.loads(p.stdout)
        sk["wall"] = sk_wall
    uptime_after = sh("uptime").stdout.strip()

    res = {
        "rows": a.rows,
        "cli_s": cli_s,
        "python_s": py_s,
        "ratio": py_s / cli_s,
        "pandas_read_s": read_s,
        "identical_outputs": same,
        "chosen_k": k,
        "cli_peak_rss_mb": cli_rss,
        "python_process_peak_rss_mb": py_rss,
        "sklearn": sk,
        "predict_rows": a.predict_rows,
        "cli_predict_s": cli_pred_s,
        "python_predict_s": py_pred_s,
        "predict_speedup": cli_pred_s / py_pred_s,
        "predict_pandas_read_s": pread_s,
        "predict_identical_segments": pred_same,
    }
    print(json.dumps(res, indent=1, default=str))
    if a.no_append:
        return 0
    stages = (sk or {}).get("stages", {})
    sk_total = (sk or {}).get("total")
    sk_read = stages.get("read")
    lines = [
        "",
        f"## Python package vs CLI: run on {a.rows:,}, predict on {a.predict_rows:,} customers (issues 19, 25)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {cpu_model()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        f"- command: `.venv/bin/python bench/python.py --rows {a.rows} --predict-rows {a.predict_rows}"
        + (" --no-sklearn`" if a.no_sklearn else "`"),
        f"- uptime before: `{uptime_before}`; after: `{uptime_after}`",
        f"- data: `cardseg generate --rows {a.rows} --seed 42` (CSV); the DataFrame read with pyarrow "
        f"({read_s:.1f} s, not counted)",
        "",
        "| | wall clock | vs CLI |",
        "|---|---:|---:|",
        f"| `cardseg run` CLI on the CSV (read included) | {cli_s:.2f} s | 1.00× |",
        f"| `cardseg.run(df)` from the pandas DataFrame | {py_s:.2f} s | {py_s / cli_s:.2f}× |",
    ]
    if sk:
        lines.append(
            f"| scikit-learn pipeline (bench/sklearn_pipeline.py), whole | {sk_total:.1f} s | {sk_total / cli_s:.1f}× |"
        )
        if sk_read is not None:
            after = sk_total - sk_read
            lines.append(
                f"| scikit-learn pipeline after its pandas read (from the DataFrame) | {after:.1f} s | "
                f"{after / py_s:.1f}× `cardseg.run(df)` |"
            )
    lines += [
        "",
        f"Outputs of `cardseg.run(df)` and the CLI byte-identical (labels, k_selection, model, segments, "
        f"summary): {'yes' if same else 'NO'}; chosen k {k}"
        + (f" (scikit-learn + kneed: {sk.get('chosen_k')})" if sk else "")
        + f". Peak RSS: CLI {cli_rss:,.0f} MB; the Python process (DataFrame + run) {py_rss:,.0f} MB."
        + f" Target python / CLI ≤ 1.0: {'met' if py_s / cli_s <= 1.0 else 'NOT met'}.",
        "",
        f"Scoring {a.predict_rows:,} customers (`cardseg generate --rows {a.predict_rows} --seed 43`) with the model "
        f"of the CLI run; the DataFrame read with pyarrow ({pread_s:.1f} s, not counted):",
        "",
        "| | wall clock | speed-up |",
        "|---|---:|---:|",
        f"| `cardseg predict` CLI on the CSV (read and labels file included) | {cli_pred_s:.2f} s | 1.00× |",
        f"| `Model.predict(df)` from the pandas DataFrame (labels DataFrame in memory) | {py_pred_s:.2f} s "
        f"| {cli_pred_s / py_pred_s:.2f}× |",
        "",
        f"Every customer's segment identical: {'yes' if pred_same else 'NO'}. Target ≥ 2×: "
        f"{'met' if cli_pred_s / py_pred_s >= 2 else 'NOT met'}.",
        "",
    ]
    with open(ROOT / "bench" / "RESULTS.md", "a") as f:
        f.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
