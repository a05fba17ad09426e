#!/usr/bin/env python3
"""Turns one bench/run.sh run directory into a markdown section for bench/RESULTS.md.

Usage: python3 bench/report.py bench/out/runs/<mode>-<timestamp>   (standard library only)

For every measurement it reads /usr/bin/time -v (wall clock, peak RSS, CPU), the tool's
own output (JSON or `timing` lines), and /proc/stat before and after, from which it
computes the share of the machine's CPU that *other* processes used during the run
(busy jiffies of the whole machine minus the tool's own user + system time): the honest
measure of how contended a measurement was on a shared machine.
"""

import csv
import glob
import json
import os
import re
import sys

CONTENDED = 0.10  # other processes above 10% of the machine: the row is marked


def kv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def parse_time(path):
    t = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            parts = line.rsplit(": ", 1)[1].split(":")
            secs = 0.0
            for p in parts:
                secs = secs * 60 + float(p)
            t["wall"] = secs
        elif line.startswith("Maximum resident set size"):
            t["rss_kb"] = int(line.rsplit(": ", 1)[1])
        elif line.startswith("Percent of CPU this job got"):
            t["cpu_pct"] = line.rsplit(": ", 1)[1]
        elif line.startswith("User time (seconds)"):
            t["user"] = float(line.rsplit(": ", 1)[1])
        elif line.startswith("System time (seconds)"):
            t["sys"] = float(line.rsplit(": ", 1)[1])
    return t


def stat_fields(line):
    f = [int(x) for x in line.split()[1:9]]
    busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
    return busy, sum(f)


def load_measure(pfx, clk_tck):
    """One measurement: dict with wall, rss_kb, cpu, load_before, others (share), out, err."""
    if not os.path.exists(pfx + ".time"):
        return None
    m = parse_time(pfx + ".time")
    m["rc"] = int(open(pfx + ".rc").read().strip() or 1)
    pre = open(pfx + ".pre").read().splitlines()
    m["load_before"] = float(pre[0].split()[0])
    b0, t0 = stat_fields(pre[1])
    b1, t1 = stat_fields(open(pfx + ".post").read().splitlines()[0])
    own = (m.get("user", 0) + m.get("sys", 0)) * clk_tck
    m["others"] = max(0.0, (b1 - b0) - own) / max(1, t1 - t0)
    m["out"] = open(pfx + ".out").read()
    m["err"] = open(pfx + ".err").read()
    m["cmd"] = open(pfx + ".cmd").read().strip() if os.path.exists(pfx + ".cmd") else ""
    m["prefix"] = pfx
    return m


def best(dirpath, tool, clk_tck):
    """The fastest successful repetition of a tool, and how many were run."""
    runs = [load_measure(p[: -len(".time")], clk_tck) for p in sorted(glob.glob(f"{dirpath}/{tool}.r*.time"))]
    ok = [r for r in runs if r and r["rc"] == 0]
    if not ok:
        return (runs[0] if runs else None), len(runs)
    return min(ok, key=lambda r: r["wall"]), len(runs)


def secs(v):
    if v is None:
        return "–"
    if v < 0.0005:
        return "<1 ms"  # cardseg prints its stage times in whole milliseconds
    if v >= 100:
        return f"{v:,.0f} s"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 0.01:
        return f"{v:.3f} s"
    return f"{v * 1000:.2f} ms"


def mb(kb):
    return "–" if kb is None else f"{kb / 1024:,.0f} MB" if kb >= 10240 else f"{kb / 1024:.1f} MB"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "–"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def contention(m):
    if m is None:
        return "–"
    mark = " ⚠" if m["others"] > CONTENDED else ""
    return f"{m['others'] * 100:.0f}%{mark}"


def header(meta, title):
    busy = meta.get("busy_start") == "1"
    lines = [f"## {meta.get('date', '?')} — {title}" + (" — **BUSY, not valid**" if busy else ""), ""]
    if busy:
        lines += ["> The 1-minute load average was above the threshold when the run started "
                  f"({meta.get('threshold')}): measured with `--force-busy`; **not a valid result**.", ""]
    lines += [
        f"- command: `{meta.get('command', '?')}`",
        f"- machine: `{meta.get('uname', '?')}`",
        f"- CPU: {meta.get('cpu', '?')} (cache {meta.get('cache', '?')}), {meta.get('cores', '?')} cores, {meta.get('mem', '?')} RAM",
        f"- uptime at start: `{meta.get('uptime_start', '?').strip()}` (threshold {meta.get('threshold')} = load per core limit × cores)",
    ]
    if "cardseg_bin" in meta:
        lines.append(f"- cardseg: `{meta.get('cardseg_version', '?')}` from `{meta['cardseg_bin']}`")
    lines.append(f"- checkout: {meta.get('git', '?')} (the benches/ programs are built from it)")
    if "python" in meta:
        lines.append(f"- reference: {meta['python']}")
    lines.append("")
    return lines


def cardseg_timings(err):
    st = {}
    for line in err.splitlines():
        m = re.match(r"timing (.+?)\s+([0-9.]+) s$", line.strip())
        if m:
            st[m.group(1).strip()] = float(m.group(2))
    return st


def jload(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


# Comparable stage groups: (label, sklearn stages, linfa stages, cardseg stages).
GROUPS = [
    ("read CSV", ["read"], ["read"], ["read"]),
    ("clean (median fill)", ["clean"], ["clean"], ["clean"]),
    ("MinMax scale", ["scale"], ["scale"], ["scale"]),
    ("K-Means sweep k=2..10, 10 inits", ["kmeans sweep"], ["kmeans sweep"], ["kmeans sweep"]),
    ("silhouette per k", ["silhouette"], ["silhouette"], ["silhouette"]),
    ("choose k, final labels, profile", ["knee", "final fit (reused)", "profile"], ["labels+inertia"], ["profile+names"]),
    ("outputs (dashboard, model, labels…)", ["dashboard", "model dump", "labels csv"], [], ["write outputs"]),
]


def pipeline_section(run, meta, clk):
    lines = header(meta, "pipeline: scikit-learn vs linfa vs cardseg")
    lines += [
        "Wall clock is the whole process under `/usr/bin/time -v` (start-up and imports included); "
        "CPU time is its user + system time (less sensitive to other processes than wall clock, but "
        "OpenMP spin-waiting counts in it); "
        "stage times are each tool's own clock. *others* = share of the machine's CPU used by other "
        f"processes during the run (⚠ above {CONTENDED:.0%}). linfa does read, clean, scale, the K-Means "
        "sweep and (up to 20,000 rows) its silhouette; it writes no outputs. cardseg and scikit-learn both write "
        "every output (labels, summaries, model, scaler, a plotly 3D dashboard page).",
        "",
    ]
    summary = []
    ok_fail = {}
    for d in sorted(glob.glob(os.path.join(run, "*", "input.txt")), key=lambda p: int(kv(p).get("rows", 0))):
        dirpath = os.path.dirname(d)
        info = kv(d)
        n = int(info.get("rows", 0))
        size = info.get("size", "?")
        name = "the real CC GENERAL file" if size == "real" else "generated (`cardseg generate --seed 42`)"
        sk, skn = best(dirpath, "sklearn", clk)
        li, lin = best(dirpath, "linfa", clk)
        cs, csn = best(dirpath, "cardseg", clk)
        skj = jload(sk["out"]) if sk and sk["rc"] == 0 else None
        lij = jload(li["out"]) if li and li["rc"] == 0 else None
        cst = cardseg_timings(cs["err"]) if cs and cs["rc"] == 0 else {}
        ksel = []
        if cs:
            kp = cs["prefix"] + ".k_selection.csv"
            if os.path.exists(kp):
                ksel = list(csv.DictReader(open(kp)))

        def status(m, j, tool):
            if os.path.exists(os.path.join(dirpath, f"{tool}.skipped")):
                return open(os.path.join(dirpath, f"{tool}.skipped")).read().strip()
            if m is None:
                return "not run"
            if m["rc"] != 0:
                return f"failed (exit {m['rc']})"
            return None

        lines += [f"### {n:,} customers — {name}", "", f"input: `{info.get('input')}`; best of {max(skn, lin, csn)} run(s) per tool", ""]
        notes = [f"{t}: {s}" for t, s in (("scikit-learn", status(sk, skj, "sklearn")), ("linfa", status(li, lij, "linfa")), ("cardseg", status(cs, None, "cardseg"))) if s]
        if notes:
            lines += ["- " + "; ".join(notes), ""]
        w = lambda m: m["wall"] if m and m["rc"] == 0 else None
        rss = lambda m: m.get("rss_kb") if m and m["rc"] == 0 else None
        cpu = lambda m: m.get("user", 0) + m.get("sys", 0) if m and m["rc"] == 0 else None
        lines += [
            "| | scikit-learn | linfa | cardseg | sklearn / cardseg | linfa / cardseg |",
            "|---|---:|---:|---:|---:|---:|",
            f"| **wall clock** | {secs(w(sk))} | {secs(w(li))} | **{secs(w(cs))}** | **{ratio(w(sk), w(cs))}** | {ratio(w(li), w(cs))} |",
            f"| CPU time (user + sys) | {secs(cpu(sk))} | {secs(cpu(li))} | {secs(cpu(cs))} | {ratio(cpu(sk), cpu(cs))} | {ratio(cpu(li), cpu(cs))} |",
            f"| peak RSS | {mb(rss(sk))} | {mb(rss(li))} | {mb(rss(cs))} | {ratio(rss(sk), rss(cs))} | {ratio(rss(li), rss(cs))} |",
            f"| CPU (100% = one core) | {sk['cpu_pct'] if sk else '–'} | {li['cpu_pct'] if li else '–'} | {cs['cpu_pct'] if cs else '–'} | | |",
            f"| load before / others during | {sk['load_before'] if sk else '–'} / {contention(sk)} | {li['load_before'] if li else '–'} / {contention(li)} | {cs['load_before'] if cs else '–'} / {contention(cs)} | | |",
        ]
        sks = skj["stages"] if skj else {}
        lis = dict(lij["stages"]) if lij else {}
        if lij and lij.get("silhouette_method") == "not run":
            lis.pop("silhouette", None)  # the stage ran empty: not comparable
        tot = lambda st, keys: sum(st[k] for k in keys if k in st) if st and any(k in st for k in keys) else None
        for label, a, b, c in GROUPS:
            x, y, z = tot(sks, a), tot(lis, b), tot(cst, c)
            lines.append(f"| {label} | {secs(x)} | {secs(y)} | {secs(z)} | {ratio(x, z)} | {ratio(y, z)} |")
        # /usr/bin/time reports wall clock in 10 ms steps: clamp the tiny negatives that gives.
        start = lambda m, st, drop=(): max(0.0, m["wall"] - sum(v for k, v in st.items() if k not in drop)) if m and st else None
        lines.append(
            f"| process start, imports, exit | {secs(start(sk, sks, ('import',)))} | {secs(start(li, lis))} | {secs(start(cs, cst))} | | |"
        )
        lines.append("")

        # Inertia and silhouette per k.
        ks = skj["k"] if skj else [int(r["k"]) for r in ksel]
        cs_in = {int(r["k"]): float(r["inertia"]) for r in ksel}
        cs_sil = {int(r["k"]): (float(r["silhouette"]), r["silhouette_method"]) for r in ksel}
        cs_chosen = next((int(r["k"]) for r in ksel if r["chosen"] == "true"), None)
        sk_in = dict(zip(skj["k"], skj["inertia"])) if skj else {}
        sk_sil = dict(zip(skj["k"], skj["silhouette"])) if skj else {}
        li_in = dict(zip(lij["k"], lij["inertia"])) if lij else {}
        li_sil = dict(zip(lij["k"], lij["silhouette"])) if lij else {}
        all_ok = True
        ok_fail[n] = []
        if ks:
            lines += [
                "| k | inertia sklearn | inertia cardseg | inertia linfa | cardseg ≤ sklearn × (1+1e-6) | silhouette sklearn | silhouette cardseg | silhouette linfa |",
                "|---:|---:|---:|---:|:---:|---:|---:|---:|",
            ]
            for kk in ks:
                a, b, c = sk_in.get(kk), cs_in.get(kk), li_in.get(kk)
                if a is not None and b is not None:
                    ok = b <= a * (1 + 1e-6)
                    all_ok &= ok
                    if not ok:
                        ok_fail[n].append(f"k={kk}")
                    check = "✅" if ok else f"❌ (+{(b / a - 1) * 100:.3f}%)"
                else:
                    check = "–"
                f = lambda v: "–" if v is None else f"{v:.6f}"
                s = cs_sil.get(kk)
                lines.append(
                    f"| {kk} | {f(a)} | {f(b)} | {f(c)} | {check} | {f(sk_sil.get(kk))} | "
                    f"{'–' if s is None else f'{s[0]:.6f} ({s[1]})'} | {f(li_sil.get(kk))} |"
                )
            lines += [
                "",
                f"chosen k: scikit-learn + kneed {skj['chosen_k'] if skj else '–'}, cardseg {cs_chosen if cs_chosen else '–'}; "
                f"silhouette method: scikit-learn {skj['silhouette_method'] if skj else '–'}, linfa {lij['silhouette_method'] if lij else '–'}.",
                "",
            ]
        summary.append((n, name, w(sk), w(li), w(cs), rss(sk), rss(cs), all_ok if skj else None, cpu(sk), cpu(cs), max(
            (m["others"] for m in (sk, li, cs) if m), default=0)))

    if summary:
        lines += [
            "### Summary",
            "",
            "| customers | sklearn / cardseg (wall) | sklearn / cardseg (CPU time) | linfa / cardseg (wall) | sklearn / cardseg (peak RSS) | inertia check | most CPU taken by others |",
            "|---:|---:|---:|---:|---:|:---:|---:|",
        ]
        for n, name, a, b, c, ra, rc, ok, ca, cc, oth in summary:
            okt = "–" if ok is None else ("all k ✅" if ok else "❌ at " + ", ".join(str(x) for x in ok_fail.get(n, [])))
            lines.append(f"| {n:,} | {ratio(a, c)} | {ratio(ca, cc)} | {ratio(b, c)} | {ratio(ra, rc)} | {okt} | {oth * 100:.0f}% |")
        lines += ["", "Targets of issue 6: sklearn / cardseg ≥ 50× on the real file and ≥ 30× at 10,000,000 customers.", ""]
    return lines


def silhouette_section(run, meta, clk):
    dirpath = os.path.join(run, "silhouette")
    info = kv(os.path.join(dirpath, "input.txt"))
    lines = header(meta, f"exact silhouette, {int(info.get('rows', 0)):,} customers, k = {info.get('k')}")
    cs, _ = best(dirpath, "cardseg", clk)
    sk, _ = best(dirpath, "sklearn", clk)
    cj = jload(cs["out"]) if cs and cs["rc"] == 0 else None
    sj = jload(sk["out"]) if sk and sk["rc"] == 0 else None
    lines += [
        "Both score cardseg's own labels (`cardseg run --k K`) on the same scaled matrix (written by "
        "`bench/silhouette.py`, read by `benches/silhouette_bench.rs`). Times are the silhouette call "
        "alone; peak RSS is the whole process.",
        "",
        "| | sklearn.metrics.silhouette_score | cardseg exact_many | sklearn / cardseg |",
        "|---|---:|---:|---:|",
        f"| time | {secs(sj['seconds'] if sj else None)} | {secs(cj['best_seconds'] if cj else None)} | "
        f"**{ratio(sj['seconds'] if sj else None, cj['best_seconds'] if cj else None)}** |",
        f"| silhouette | {sj['silhouette']:.12f} | {cj['silhouette']:.12f} | diff {abs(sj['silhouette'] - cj['silhouette']):.1e} |"
        if sj and cj else "| silhouette | – | – | |",
        f"| peak RSS (process) | {mb(sk.get('rss_kb') if sk else None)} | {mb(cs.get('rss_kb') if cs else None)} | "
        f"{ratio(sk.get('rss_kb') if sk else None, cs.get('rss_kb') if cs else None)} |",
        f"| threads | {sj['threads'] if sj else '–'} | {cj['threads'] if cj else '–'} | |",
        f"| load before / others during | {sk['load_before'] if sk else '–'} / {contention(sk)} | "
        f"{cs['load_before'] if cs else '–'} / {contention(cs)} | |",
        "",
    ]
    if cj:
        lines += [
            f"cardseg: {cj['pairs_per_second']:.3g} point pairs per second (n² distances, each "
            "computed in f32 with an IEEE square root and summed in short f32 runs into f64; the "
            "silhouette row above is the accuracy check against scikit-learn's f64).",
            "",
        ]
    return lines


def lloyd_section(run, meta, clk):
    dirpath = os.path.join(run, "lloyd")
    m = load_measure(os.path.join(dirpath, "lloyd"), clk)
    j = jload(m["out"]) if m and m["rc"] == 0 else None
    lines = header(meta, "one Lloyd pass vs a streaming read")
    if not j:
        return lines + [f"failed: {m['err'][-500:] if m else 'not run'}", ""]
    med = lambda v: sorted(v)[len(v) // 2]
    lines += [
        f"{j['rows']:,} × {j['d']} f64 ({j['matrix_bytes'] / 1e6:,.0f} MB, {j['source']}), k = {j['k']}, "
        f"{j['threads']} threads, {len(j['final_assign_seconds'])} interleaved repetitions; load before "
        f"{m['load_before']}, others during {contention(m)}.",
        "",
        "| pass | min | median | GB/s | × streaming read |",
        "|---|---:|---:|---:|---:|",
        f"| streaming read (parallel sum of every value) | {secs(min(j['stream_read_seconds']))} | {secs(med(j['stream_read_seconds']))} | {j['stream_gb_per_s']:.2f} | 1 |",
        f"| `final_assign` (assignment, labels written) | {secs(min(j['final_assign_seconds']))} | {secs(med(j['final_assign_seconds']))} | {j['assign_gb_per_s']:.2f} | {j['assign_over_stream']:.1f} |",
        f"| `final_assign` + separate centroid-update pass | {secs(min(j['assign_plus_update_seconds']))} | {secs(med(j['assign_plus_update_seconds']))} | | {j['iteration_over_stream']:.1f} |",
    ]
    if "lloyd_step_seconds" in j:
        lines.append(
            f"| `lloyd::lloyd_step` (one fused Lloyd iteration: assignment + sums + counts) | {secs(min(j['lloyd_step_seconds']))} | {secs(med(j['lloyd_step_seconds']))} | | {j['lloyd_step_over_stream']:.1f} |"
        )
    simd = j.get("simd")
    lines += [
        "",
        f"k-means++ seeding at this size: {secs(j['seeding_seconds'])}; assignment: {j['ns_per_row_assign']:.2f} ns per row"
        + (f"; distance kernel: {simd}." if simd else "."),
        "Target (issue 6): one Lloyd iteration within 3x the streaming read.",
        "",
    ]
    return lines


def predict_section(run, meta, clk):
    dirpath = os.path.join(run, "predict")
    info = kv(os.path.join(dirpath, "input.txt"))
    lines = header(meta, f"predict on {int(info.get('rows', 0)):,} customers: parsing vs scoring")
    p, _ = best(dirpath, "predict", clk)
    i, _ = best(dirpath, "inspect", clk)
    s, _ = best(dirpath, "split", clk)
    sj = jload(s["out"]) if s and s["rc"] == 0 else None
    w = lambda m: m["wall"] if m and m["rc"] == 0 else None
    lines += [
        "| command | wall clock | peak RSS | others during |",
        "|---|---:|---:|---:|",
        f"| `cardseg predict` (parse 4 columns, score, write labels) | {secs(w(p))} | {mb(p.get('rss_kb') if p else None)} | {contention(p)} |",
        f"| `cardseg inspect --json` (parse every column, statistics) | {secs(w(i))} | {mb(i.get('rss_kb') if i else None)} | {contention(i)} |",
        "",
    ]
    if sj:
        lines += [
            "The same library calls as `predict`, timed one by one (`benches/predict_split.rs`):",
            "",
            "| stage | time | share |",
            "|---|---:|---:|",
            f"| read (CSV parse: id + features) | {secs(sj['read_seconds'])} | {sj['read_share']:.0%} |",
            f"| score (fill, scale, nearest centre) | {secs(sj['score_seconds'])} | **{sj['score_share']:.1%}** |",
            f"| write labels CSV | {secs(sj['write_seconds'])} | {sj['write_share']:.0%} |",
            f"| total (incl. model load) | {secs(sj['total_seconds'])} | |",
            "",
        ]
    return lines


def micro_section(run, meta, clk):
    m = load_measure(os.path.join(run, "micro", "criterion"), clk)
    lines = header(meta, "criterion micro-benchmarks (benches/kernels.rs)")
    if not m:
        return lines + ["not run", ""]
    # Absolute times only: criterion's "change" lines compare with whatever ran before.
    keep = [l for l in (m["out"] + m["err"]).splitlines()
            if re.search(r"time:|thrpt:|^[a-z_].*(k=|thread|parallel|numeric)", l) and "%" not in l]
    lines += [f"load before {m['load_before']}, others during {contention(m)}.", "", "```", *keep, "```", ""]
    return lines


def main():
    run = sys.argv[1]
    meta = kv(os.path.join(run, "meta.txt"))
    clk = int(meta.get("clk_tck", 100))
    mode = meta.get("mode", "pipeline")
    section = {
        "pipeline": pipeline_section,
        "silhouette": silhouette_section,
        "lloyd": lloyd_section,
        "predict": predict_section,
        "micro": micro_section,
    }[mode]
    print("\n".join(section(run, meta, clk)))


if __name__ == "__main__":
    main()
