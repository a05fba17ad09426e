#!/usr/bin/env python3
"""cardseg against scikit-learn and Spark MLlib on the same customers, side by side in one run
(issues 28 and 29).

One run measures, one after the other on the same machine, each system in its own process:

  cardseg-csv      `cardseg run --quiet --timings --force` on the CSV (per-stage times from
                   --timings, inertia per k from k_selection.csv), under /usr/bin/time -v
  cardseg-parquet  the same on the Parquet twin (same rows)
  cardseg-scaling  the same on every Parquet file listed in --scaling (the scaling curve:
                   cardseg only)
  cardseg-spark    cardseg.spark.run(spark.read.parquet(P)) in Spark local mode: its passes,
                   k, every-row inertia at the chosen k, the sweep's inertia per k (on its
                   sample, scaled by rows / sample rows); with --spark-sizes, also at those
                   sizes (the cost as the data doubles); cardseg-spark-sizes: those sizes only
  sklearn          bench/sklearn_pipeline.py on the CSV (per stage), under /usr/bin/time -v
  mllib            MLlib's pipeline on spark.read.parquet(P): Imputer(strategy="median") ->
                   VectorAssembler -> MinMaxScaler (cached), then KMeans(k, seed=1) for
                   k = 2..10, each k's time and training cost (every-row inertia in the same
                   min-max space as cardseg's), written to a JSON-lines file as each k ends, so
                   a run stopped at --deadline still reports the k it finished

`uptime` is recorded before and after each system; wall time and peak RSS of each (for the
Spark systems the peak of the summed RSS of the whole process tree: driver Python, JVM,
Python workers, sampled every 0.2 s). Ratios are computed within the run only.

Raw files go to bench/out/cross-<time>/ (results.json, one file per system); the markdown
section is printed and, with --append, appended to bench/RESULTS.md.
`--report DIR` rebuilds the section from a run directory (after a stop, say).

  PYTHONPATH=<wheel dir> CARDSEG_BIN=target/release/cardseg .venv/bin/python bench/cross_system.py \\
      --rows 1000000 --csv customers_1000000.csv --parquet customers_1000000.parquet \\
      [--systems cardseg-csv,cardseg-parquet,cardseg-spark,sklearn,mllib] [--spark-sizes 2500000=P,...] \\
      [--scaling 100000000=P,...] [--deadline HH:MM] [--memory 4g] [--append]
"""
import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KS = list(range(2, 11))


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def utc():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def tree_rss_kb(pid):
    """Summed RSS (kB) of pid and every descendant."""
    children = {}
    rss = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def measure(name, cmd, out_dir, env=None, deadline=None, timeout=None):
    """Runs cmd under /usr/bin/time -v in its own process group; returns a record."""
    rec = {"system": name, "command": " ".join(map(str, cmd)), "load_before": uptime(),
           "start": utc()}
    print(f"\n[{rec['start']}] {name}: {rec['command']}\n  {rec['load_before']}", flush=True)
    timef = out_dir / f"{name}.time"
    stdout = open(out_dir / f"{name}.stdout", "w")
    stderr = open(out_dir / f"{name}.stderr", "w")
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(timef)] + [str(c) for c in cmd],
                         stdout=stdout, stderr=stderr, env=env, start_new_session=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_kb(p.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stopped = None
    while p.poll() is None:
        now = time.time()
        if deadline and now >= deadline:
            stopped = f"stopped at the deadline {utc()}"
        elif timeout and time.perf_counter() - t0 > timeout:
            stopped = f"stopped after the {timeout} s time limit"
        if stopped:
            print(f"  {stopped}", flush=True)
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    stdout.close()
    stderr.close()
    rec.update(wall_s=wall, exit=p.returncode, stopped=stopped, tree_peak_rss_kb=peak[0],
               load_after=uptime(), end=utc())
    try:
        tv = timef.read_text()
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv)
        rec["maxrss_kb"] = int(m.group(1)) if m else None
        u = re.search(r"User time \(seconds\): ([\d.]+)", tv)
        s = re.search(r"System time \(seconds\): ([\d.]+)", tv)
        rec["cpu_s"] = float(u.group(1)) + float(s.group(1)) if u and s else None
    except OSError:
        rec["maxrss_kb"] = rec["cpu_s"] = None
    print(f"  exit {p.returncode}, wall {wall:.1f} s, peak RSS {max(peak[0], rec.get('maxrss_kb') or 0) / 1024:.0f} MB"
          f"\n  {rec['load_after']}", flush=True)
    return rec


def cardseg_record(rec, out, out_dir, name):
    stages = {}
    for line in (out_dir / f"{name}.stderr").read_text().splitlines():
        m = re.match(r"timing (.+?)\s+([\d.]+) s$", line.strip())
        if m:
            stages[m.group(1)] = float(m.group(2))
    rec["stages"] = stages
    ks = out / "k_selection.csv"
    if ks.exists():
        rows = [r.split(",") for r in ks.read_text().splitlines()[1:]]
        rec["inertia"] = {int(r[0]): float(r[1]) for r in rows}
        rec["chosen_k"] = next((int(r[0]) for r in rows if r[-1] == "true"), None)
    return rec


def sample_rows(df, model, n):
    """How many rows cardseg.spark.run's sweep saw: every row up to its default train sample,
    else the rows its hash draw keeps (counted again here, outside the timed call)."""
    import cardseg.spark
    from pyspark.sql import functions as F

    m = cardseg.spark.DEFAULT_TRAIN_SAMPLE
    if n <= m:
        return n
    key = F.xxhash64(F.col(model["id_column"]).cast("string"), F.lit(int(model["seed"]))).bitwiseAND(
        F.lit((1 << 53) - 1))
    return df.where(key < F.lit(int(m / n * (1 << 53)))).count()


def spark_child(a):
    """One Spark local-mode process: cardseg.spark.run or MLlib's pipeline on a Parquet file.
    Writes JSON lines to a.events as it goes."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    ev = open(a.events, "a")

    def emit(**kw):
        kw["t"] = utc()
        ev.write(json.dumps(kw) + "\n")
        ev.flush()
        print(json.dumps(kw), flush=True)

    t_start = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("cardseg-cross")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", a.memory)
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    emit(event="session", s=time.perf_counter() - t_start, spark=spark.version)
    import cardseg

    features = list(cardseg.DEFAULT_FEATURES)
    df = spark.read.parquet(a.parquet)
    if a.child == "cardseg-spark":
        import shutil

        import cardseg.spark

        out = Path(a.work)
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        res = cardseg.spark.run(df, out=out)
        secs = time.perf_counter() - t
        model = json.loads((out / "model.json").read_text())["model"]
        m = sample_rows(df, model, a.rows)
        emit(event="cardseg-spark", s=secs, k=model["k"], inertia=model["inertia"],
             lloyd_steps=res.lloyd_iterations, sample=m, passes=res.passes,
             sweep={r["k"]: r["inertia"] * a.rows / m for r in model["k_selection"]["sweep"]})
        shutil.rmtree(out, ignore_errors=True)
    else:
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
        emit(event="mllib-prep", s=time.perf_counter() - t)
        for k in KS:
            t = time.perf_counter()
            km = KMeans(k=k, seed=1, featuresCol="features").fit(x)
            emit(event="mllib-k", k=k, s=time.perf_counter() - t, inertia=km.summary.trainingCost,
                 iterations=km.summary.numIter)
        x.unpersist()
    emit(event="done", s=time.perf_counter() - t_start)
    spark.stop()


def events(path):
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def run(a):
    ts = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out_dir = ROOT / "bench" / "out" / f"cross-{a.rows}-{ts}{'-' + a.lane if a.lane else ''}"
    out_dir.mkdir(parents=True)
    bin_ = os.path.abspath(os.environ.get("CARDSEG_BIN", ROOT / "target" / "release" / "cardseg"))
    py = a.python
    deadline = None
    if a.deadline:
        h, m = map(int, a.deadline.split(":"))
        now = datetime.now(timezone.utc)
        deadline = now.replace(hour=h, minute=m, second=0, microsecond=0).timestamp()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "python"],
                           capture_output=True, text=True).stdout.strip()
    version = subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    mem_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    res = {"rows": a.rows, "csv": a.csv, "parquet": a.parquet, "start": utc(), "note": a.note,
           "machine": f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem_gib:.1f} GiB, "
                      f"Linux {platform.release()}",
           "commit": commit + (" (src/python modified)" if dirty else ""), "cardseg_version": version,
           "command": " ".join(sys.argv), "load_start": uptime(), "records": [], "deadline": a.deadline,
           "lane": a.lane}
    save = lambda: (out_dir / "results.json").write_text(json.dumps(res, indent=1))  # noqa: E731
    save()
    print(f"# {res['start']} {res['machine']}; commit {res['commit']}; {version}\n# {res['load_start']}")
    env = dict(os.environ)
    spark_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [a.pylib, env.get("PYTHONPATH")])))
    me = os.path.abspath(__file__)

    def late(name, n):
        if deadline and time.time() >= deadline - 60:
            res["records"].append({"system": name, "rows": n, "skipped": f"not started: the deadline {a.deadline} UTC"})
            save()
            return True
        return False

    def spark(name, rows, parquet, dl=None):
        while a.wait_for and not Path(a.wait_for).exists():
            time.sleep(5)
        evf = out_dir / f"{name}.events.jsonl"
        cmd = [py, me, "--child", name.split("@")[0], "--rows", rows, "--parquet", parquet,
               "--events", evf, "--memory", a.memory, "--work", out_dir / f"{name}.out"]
        rec = measure(name, cmd, out_dir, env=spark_env, deadline=deadline)
        rec["rows"] = int(rows)
        rec["events"] = events(evf)
        return rec

    for system in a.systems.split(","):
        if system in ("cardseg-csv", "cardseg-parquet", "cardseg-scaling"):
            inputs = [] if system == "cardseg-scaling" else [(a.rows, a.csv if system == "cardseg-csv" else a.parquet)]
            if system == "cardseg-scaling":
                for spec in filter(None, a.scaling.split(",")):
                    n, p = spec.split("=", 1)
                    inputs.append((int(n), p))
            for n, path in inputs:
                name = f"{system.replace('scaling', 'parquet')}@{n}"
                if not Path(path).exists():
                    res["records"].append({"system": name, "rows": n, "skipped": f"{path} does not exist"})
                    print(f"\n{name}: skipped, {path} does not exist")
                    save()
                    continue
                if late(name, n):
                    continue
                out = out_dir / f"{name}.out"
                rec = measure(name, [bin_, "--quiet", "run", "--timings", "--force", "--input", path,
                                     "--out", out], out_dir, timeout=a.cardseg_timeout, deadline=deadline)
                rec["rows"] = n
                res["records"].append(cardseg_record(rec, out, out_dir, name))
                subprocess.run(["rm", "-rf", str(out)])
                save()
        elif system == "sklearn":
            if late("sklearn", a.rows):
                continue
            out = out_dir / "sklearn.out"
            rec = measure("sklearn", [py, ROOT / "bench" / "sklearn_pipeline.py", "--input", a.csv, "--out", out],
                          out_dir, deadline=deadline)
            rec["rows"] = a.rows
            try:
                rec["result"] = json.loads((out_dir / "sklearn.stdout").read_text())
            except ValueError:
                rec["result"] = None
            res["records"].append(rec)
            subprocess.run(["rm", "-rf", str(out)])
            save()
        elif system in ("cardseg-spark", "cardseg-spark-sizes"):
            sizes = [] if system == "cardseg-spark-sizes" else [(a.rows, a.parquet)]
            sizes += [tuple(s.split("=", 1)) for s in filter(None, a.spark_sizes.split(","))]
            for n, path in sizes:
                if late(f"cardseg-spark@{n}", int(n)):
                    continue
                res["records"].append(spark(f"cardseg-spark@{n}", n, path))
                save()
        elif system == "mllib":
            if late(f"mllib@{a.rows}", a.rows):
                continue
            res["records"].append(spark(f"mllib@{a.rows}", a.rows, a.parquet))
            save()
        else:
            sys.exit(f"unknown system {system}")
    res["end"] = utc()
    res["load_end"] = uptime()
    save()
    return out_dir


def fmt_s(x):
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.1f}")


def mb(kb):
    return "—" if not kb else f"{kb / 1024:,.0f} MB"


def rss(rec):
    return max(rec.get("maxrss_kb") or 0, rec.get("tree_peak_rss_kb") or 0)


def load1(u):
    m = re.search(r"load average: ([\d.]+)", u or "")
    return m.group(1) if m else "?"


def spark_event(out_dir, rec):
    """The cardseg.spark.run result of a record; when the child stopped after the call but
    before reporting it, what its model.json says (the time in the call unknown)."""
    ev = next((e for e in rec["events"] if e["event"] == "cardseg-spark"), None)
    if ev:
        return ev
    mj = Path(rec.get("dir", out_dir)) / f"{rec['system']}.out" / "model.json"
    if not mj.exists():
        return None
    model = json.loads(mj.read_text())["model"]
    n = rec["rows"]
    if n > 1_000_000:
        return None  # the sample size is not in the model: no honest scaling of the sweep
    return {"event": "cardseg-spark", "s": None, "k": model["k"], "inertia": model["inertia"],
            "lloyd_steps": "?", "sample": n, "passes": [], "salvaged": True,
            "sweep": {r["k"]: r["inertia"] for r in model["k_selection"]["sweep"]}}


def report(out_dirs, note=""):
    dirs = [Path(d) for d in str(out_dirs).split(",")]
    runs = [json.loads((d / "results.json").read_text()) for d in dirs]
    res = dict(runs[0])
    if note:
        res["note"] = note
    res["records"] = []
    for d, r in zip(dirs, runs):
        for rec in r["records"]:
            rec["dir"] = str(d)
            rec["lane"] = r.get("lane") or ""
            res["records"].append(rec)
    out_dir = dirs[0]
    n = res["rows"]
    by = {r["system"]: r for r in res["records"]}
    L = []
    w = L.append
    how = "one run" if len(runs) == 1 else f"{len(runs)} runs side by side (lanes {', '.join(r.get('lane') or '?' for r in runs)})"
    w(f"## {res['start']} — issues 28/29: cardseg vs scikit-learn vs Spark MLlib, {n:,} customers, {how}"
      " (bench/cross_system.py)\n")
    note = f"; {res['note']}" if res.get("note") else ""
    w(f"- machine: {res['machine']}{note}")
    w(f"- code measured: commit `{res['commit']}`, `{res['cardseg_version']}`")
    for r in runs:
        w(f"- command{' (lane ' + r['lane'] + ')' if r.get('lane') else ''}: `{r['command']}`, started {r['start']},"
          f" `uptime` then `{r['load_start']}`, at its end `{r.get('load_end', '(stopped)')}`")
    w(f"- inputs: `{res['csv']}` and its Parquet twin `{res['parquet']}` (same rows, `cardseg generate --seed 3`)")
    w("")
    w("| system | lane | input | start | wall | CPU | peak RSS | load before → after (1 min) | exit |")
    w("|---|---|---|---|---:|---:|---:|---|---|")
    for r in res["records"]:
        if r.get("skipped"):
            w(f"| {r['system']} | {r['lane']} | | | not run: {r['skipped']} | | | | |")
            continue
        inp = "Parquet" if ("parquet" in r["system"] or "spark" in r["system"] or "mllib" in r["system"]) else "CSV"
        ex = r.get("stopped") or r.get("exit")
        cpu = "(JVM not seen)" if "spark" in r["system"] or "mllib" in r["system"] else f"{fmt_s(r.get('cpu_s'))} s"
        w(f"| {r['system']} | {r['lane']} | {inp} | {r['start'][11:19]} | {fmt_s(r['wall_s'])} s | {cpu} | {mb(rss(r))} | "
          f"{load1(r['load_before'])} → {load1(r['load_after'])} | {ex} |")
    w("\nPeak RSS: `/usr/bin/time -v` of the process, or for Spark the largest sampled sum over the whole"
      " process tree (driver Python, JVM, Python workers), whichever is larger.\n")

    cs = by.get(f"cardseg-csv@{n}")
    sk = by.get("sklearn")
    ml = by.get(f"mllib@{n}")
    csp = by.get(f"cardseg-spark@{n}")
    ml_ev = ml["events"] if ml else []
    ml_k = {e["k"]: e for e in ml_ev if e["event"] == "mllib-k"}
    ml_prep = next((e["s"] for e in ml_ev if e["event"] == "mllib-prep"), None)
    ml_session = next((e["s"] for e in ml_ev if e["event"] == "session"), None)
    ml_complete = len(ml_k) == len(KS)
    skr = sk.get("result") if sk else None

    # Stages.
    if cs and cs.get("stages"):
        w("**cardseg `run --timings` stages** (CSV):\n")
        w("| stage | " + " | ".join(cs["stages"]) + " | wall |")
        w("|" + "---:|" * (len(cs["stages"]) + 2))
        w("| s | " + " | ".join(f"{v:.2f}" for v in cs["stages"].values()) + f" | {cs['wall_s']:.2f} |\n")
    if skr:
        st = skr["stages"]
        w("**scikit-learn stages** (`bench/sklearn_pipeline.py`):\n")
        w("| stage | " + " | ".join(st) + " | wall |")
        w("|" + "---:|" * (len(st) + 2))
        w("| s | " + " | ".join(fmt_s(v) for v in st.values()) + f" | {fmt_s(sk['wall_s'])} |\n")
    if ml:
        parts = [f"Spark session start {fmt_s(ml_session)} s"] if ml_session is not None else []
        if ml_prep is not None:
            parts.append(f"preparation (median Imputer, VectorAssembler, MinMaxScaler, cached) {fmt_s(ml_prep)} s")
        parts += [f"KMeans k={k} {fmt_s(e['s'])} s ({e['iterations']} iterations)" for k, e in sorted(ml_k.items())]
        w("**MLlib stages**: " + "; ".join(parts) + (
            "" if ml_complete else f". **PARTIAL: stopped ({ml.get('stopped') or 'exit ' + str(ml.get('exit'))})"
                                   f" after k = {max(ml_k) if ml_k else 'none'}**") + "\n")
    if csp:
        ev = spark_event(out_dir, csp)
        if ev and ev.get("passes"):
            w(f"**cardseg.spark.run passes** ({n:,}): " + "; ".join(f"{p} {s:.1f} s" for p, s in ev["passes"])
              + f"; total {ev['s']:.1f} s in the call, k = {ev['k']}, {ev['lloyd_steps']} Lloyd steps on every"
                f" row, sweep sample {ev['sample']:,} rows\n")

    # Ratios.
    w("**Ratios within this run** (wall, whole process; peak RSS):\n")
    w("| comparison | wall ratio | peak RSS ratio |")
    w("|---|---:|---:|")

    def ratio(x, y, label):
        if x and y and not x.get("skipped") and not y.get("skipped") and x.get("exit") == 0 and y.get("exit") == 0:
            w(f"| {label} | **{x['wall_s'] / y['wall_s']:.1f}×** | {rss(x) / max(rss(y), 1):.1f}× |")

    ratio(sk, cs, "scikit-learn / cardseg run (CSV)")
    # Each MLlib ratio needs only its own pair: a run of the Spark systems alone still
    # gets MLlib / cardseg.spark.run.
    if ml and ml_complete:
        if cs:
            w(f"| MLlib (whole process: session, preparation, k = 2..10) / cardseg run (CSV) | "
              f"**{ml['wall_s'] / cs['wall_s']:.1f}×** | {rss(ml) / max(rss(cs), 1):.1f}× |")
        cp = by.get(f"cardseg-parquet@{n}")
        if cp and cp.get("exit") == 0:
            w(f"| MLlib / cardseg run (same Parquet file) | **{ml['wall_s'] / cp['wall_s']:.1f}×** | "
              f"{rss(ml) / max(rss(cp), 1):.1f}× |")
        if csp and spark_event(out_dir, csp):
            w(f"| MLlib / cardseg.spark.run (same Parquet, each its own Spark process) | "
              f"**{ml['wall_s'] / csp['wall_s']:.2f}×** | {rss(ml) / max(rss(csp), 1):.1f}× |")
    elif ml:
        done_s = (ml_session or 0) + (ml_prep or 0) + sum(e["s"] for e in ml_k.values())
        if cs:
            w(f"| MLlib PARTIAL (session + preparation + k = {', '.join(map(str, sorted(ml_k))) or 'none'}:"
              f" {done_s:.1f} s, a lower bound) / cardseg run (CSV) | ≥ {done_s / cs['wall_s']:.1f}× | |")
        if csp and spark_event(out_dir, csp):
            w(f"| MLlib PARTIAL (lower bound) / cardseg.spark.run | ≥ {done_s / csp['wall_s']:.2f}× | |")
    w("")

    # Inertia per k.
    w("**Inertia per k** (sum of squared distances in the min-max space of BALANCE, PURCHASES,"
      " CREDIT_LIMIT, median-filled, every row unless said):\n")
    ev = spark_event(out_dir, csp) if csp else None
    w("| k | cardseg run | scikit-learn | MLlib (time) | cardseg.spark.run sweep (sample × n/m) |"
      " cardseg / sklearn | cardseg / MLlib |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for k in KS:
        c = cs.get("inertia", {}).get(str(k)) if cs else None
        s = skr["inertia"][skr["k"].index(k)] if skr and k in skr["k"] else None
        m = ml_k.get(k)
        sp = None
        if ev:
            sp = ev["sweep"].get(str(k), ev["sweep"].get(k))
        sp_txt = "" if sp is None else f"{sp:.6g}" + (f"; every row {ev['inertia']:.6g}" if k == ev["k"] else "")
        w(f"| {k} | {'' if c is None else f'{c:.6g}'} | {'' if s is None else f'{s:.6g}'} | "
          f"{'' if m is None else '%.6g (%s s)' % (m['inertia'], fmt_s(m['s']))} | {sp_txt} | "
          f"{'' if not (c and s) else '%.6f' % (c / s)} | {'' if not (c and m) else '%.4f' % (c / m['inertia'])} |")
    w("")
    if cs or skr:
        w(f"Chosen k: cardseg {cs.get('chosen_k') if cs else '—'}, scikit-learn (knee) "
          f"{skr['chosen_k'] if skr else '—'}, cardseg.spark.run {ev['k'] if ev else '—'}.\n")

    # Scaling / doubling.
    curve = [r for r in res["records"] if r["system"].startswith("cardseg-parquet@")]
    if len(curve) > 1:
        w("**cardseg scaling curve** (`cardseg run` on Parquet):\n")
        w("| customers | wall | s per million | peak RSS | read | k sweep | profile+names | write outputs |"
          " load before → after |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in sorted(curve, key=lambda r: r["rows"]):
            if r.get("skipped"):
                w(f"| {r['rows']:,} | not run: {r['skipped']} | | | | | | | |")
                continue
            st = r.get("stages", {})
            bad = "" if r.get("exit") == 0 else f" (exit {r.get('exit')}{', ' + r['stopped'] if r.get('stopped') else ''})"
            per_m = f"{r['wall_s'] / r['rows'] * 1e6:.2f}" if r.get("exit") == 0 else "—"
            w(f"| {r['rows']:,} | {fmt_s(r['wall_s'])} s{bad} | {per_m} | {mb(rss(r))} | "
              f"{fmt_s(st.get('read'))} | {fmt_s(st.get('kmeans sweep'))} | {fmt_s(st.get('profile+names'))} | "
              f"{fmt_s(st.get('write outputs'))} | {load1(r['load_before'])} → {load1(r['load_after'])} |")
        w("")
    dbl = [r for r in res["records"] if r["system"].startswith("cardseg-spark@")]
    if len(dbl) > 1:
        w("**cardseg.spark.run as the data doubles** (each size its own Spark process, same settings):\n")
        w("| customers | wall (process) | in the call | s per million | k | Lloyd steps | peak RSS | load before → after |")
        w("|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in sorted(dbl, key=lambda r: r["rows"]):
            e = spark_event(out_dir, r)
            if not e:
                w(f"| {r['rows']:,} | failed (exit {r.get('exit')}) | | | | | | |")
                continue
            e_s = e["s"] if e.get("s") is not None else r["wall_s"]
            w(f"| {r['rows']:,} | {r['wall_s']:.1f} s | {fmt_s(e.get('s'))} s | {e_s / r['rows'] * 1e6:.1f} | {e['k']} |"
              f" {e['lloyd_steps']} | {mb(rss(r))} | {load1(r['load_before'])} → {load1(r['load_after'])} |")
        w("")
    text = "\n".join(L) + "\n"
    (dirs[0] / "report.md").write_text(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int)
    ap.add_argument("--csv")
    ap.add_argument("--parquet")
    ap.add_argument("--systems", default="cardseg-csv,cardseg-parquet,cardseg-spark,sklearn,mllib")
    ap.add_argument("--spark-sizes", default="", help="more cardseg.spark.run sizes: N=PARQUET,...")
    ap.add_argument("--scaling", default="", help="more cardseg run (Parquet) sizes: N=PARQUET,...")
    ap.add_argument("--deadline", default="", help="UTC HH:MM at which a running system is stopped (none starts later)")
    ap.add_argument("--lane", default="", help="a name for this run when two run side by side")
    ap.add_argument("--cardseg-timeout", type=float, default=1800)
    ap.add_argument("--memory", default="4g", help="Spark driver memory")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--pylib", default="", help="the cardseg wheel's directory (prepended to PYTHONPATH)")
    ap.add_argument("--wait-for", default="", help="before a Spark system, wait for this file (a wheel build)")
    ap.add_argument("--note", default="", help="what else ran on the machine (goes into the report)")
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--report", help="rebuild the markdown of this run directory")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--events", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return spark_child(a)
    out_dir = a.report if a.report else run(a)
    text = report(out_dir, a.note)
    print("\n" + text)
    if a.append:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
