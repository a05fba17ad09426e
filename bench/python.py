#!/usr/bin/env python3
"""The Python package against the CLI and the scikit-learn pipeline (issue 19).

On N generated customers (default 10,000,000; `cardseg generate --seed 42`):

  cli       `cardseg run --quiet --input FILE.csv --out DIR` (the CSV read included)
  python    `cardseg.run(df, out=DIR)` on the same customers already in a pandas DataFrame
            (read with pyarrow, exact values; that read is timed apart, not counted)
  sklearn   bench/sklearn_pipeline.py on the same file (its read stage shown apart, so
            "after read" is the pipeline from the DataFrame on)

Target: python / cli <= 1.2 (crossing into Rust through the Arrow C stream costs nothing
noticeable). The outputs of python and cli are checked byte-identical (labels.csv,
k_selection.csv, model.json with the same source name). Appends a section to
bench/RESULTS.md with machine, date, command and uptime.

Usage: .venv/bin/python bench/python.py [--rows 10000000] [--no-sklearn] [--no-append]
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
    ap.add_argument("--rows", type=int, default=10_000_000)
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
    }
    print(json.dumps(res, indent=1, default=str))
    if a.no_append:
        return 0
    stages = (sk or {}).get("stages", {})
    sk_total = (sk or {}).get("total")
    sk_read = stages.get("read")
    lines = [
        "",
        f"## Python package vs CLI vs scikit-learn, {a.rows:,} customers (issue 19)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {cpu_model()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        f"- command: `.venv/bin/python bench/python.py --rows {a.rows}`",
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
        + f" Target python / CLI ≤ 1.2: {'met' if py_s / cli_s <= 1.2 else 'NOT met'}.",
        "",
    ]
    with open(ROOT / "bench" / "RESULTS.md", "a") as f:
        f.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
