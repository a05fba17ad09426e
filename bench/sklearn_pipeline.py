#!/usr/bin/env python3
"""The scikit-learn reference pipeline for cardseg's benchmark (GitHub issue 6).

Written the way an analyst's notebook would do it, but complete and timed per stage:

  read       pandas.read_csv
  clean      median imputation of the used columns (features + PAYMENTS, TENURE, as
             cardseg does), or --missing drop (drop customers with a missing used column)
  scale      MinMaxScaler on BALANCE, PURCHASES, CREDIT_LIMIT
  kmeans     KMeans(n_clusters=k, n_init=10, random_state=42) for k = 2..10
  silhouette silhouette_score, exact up to --silhouette-exact-max rows (20,000), else
             sample_size=20,000, random_state=42
  knee       kneed.KneeLocator(curve="convex", direction="decreasing")
  final      the fit of the chosen k is reused (no refit), labels = its labels_
  profile    groupby(segment) mean and median of every numeric column
  dashboard  plotly 3D scatter, write_html(include_plotlyjs=True); above 50,000 customers
             a random sample of 50,000 points is drawn (as cardseg's dashboard does)
  model      joblib.dump({"model": KMeans, "scaler": MinMaxScaler})
  labels     labels CSV (id, segment 1..k)

Prints one JSON object on stdout: per-stage seconds, total, peak RSS (ru_maxrss), inertia
and silhouette per k, chosen k, thread counts. Outputs go to --out (created).

Usage:
  python bench/sklearn_pipeline.py --input FILE.csv --out DIR [--missing median|drop]
         [--k-min 2] [--k-max 10] [--n-init 10] [--seed 42] [--no-dashboard]
         [--silhouette-exact-max 20000] [--silhouette-sample 20000]
Needs scripts/requirements.txt (scikit-learn, pandas, numpy, kneed, plotly, joblib).
"""

import argparse
import json
import os
import resource
import sys
import time

FEATURES = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
PROFILE_FEATURES = ["PAYMENTS", "TENURE"]
ID = "CUST_ID"
DASHBOARD_MAX_POINTS = 50_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--missing", choices=["median", "drop"], default="median")
    ap.add_argument("--k-min", type=int, default=2)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--silhouette-exact-max", type=int, default=20_000)
    ap.add_argument("--silhouette-sample", type=int, default=20_000)
    ap.add_argument("--no-dashboard", action="store_true")
    a = ap.parse_args()

    stages = {}
    t_all = time.perf_counter()
    t = [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        stages[name] = now - t[0]
        t[0] = now

    # Imports count as the notebook's first cell; timed apart from the stages.
    import joblib
    import numpy as np
    import pandas as pd
    import sklearn
    from kneed import KneeLocator
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import MinMaxScaler
    from threadpoolctl import threadpool_info
    lap("import")

    os.makedirs(a.out, exist_ok=True)

    df = pd.read_csv(a.input)
    lap("read")

    used = FEATURES + [c for c in PROFILE_FEATURES if c in df.columns]
    rows_in = len(df)
    if a.missing == "median":
        df[used] = df[used].fillna(df[used].median())
    else:
        df = df.dropna(subset=used).reset_index(drop=True)
    lap("clean")

    scaler = MinMaxScaler()
    X = scaler.fit_transform(df[FEATURES])
    lap("scale")

    ks = list(range(a.k_min, a.k_max + 1))
    fits = {}
    fit_seconds = []
    for k in ks:
        tk = time.perf_counter()
        fits[k] = KMeans(n_clusters=k, n_init=a.n_init, random_state=a.seed).fit(X)
        fit_seconds.append(time.perf_counter() - tk)
    inertia = [float(fits[k].inertia_) for k in ks]
    lap("kmeans sweep")

    sampled = len(X) > a.silhouette_exact_max
    sil = [
        float(
            silhouette_score(
                X,
                fits[k].labels_,
                sample_size=a.silhouette_sample if sampled else None,
                random_state=a.seed,
            )
        )
        for k in ks
    ]
    lap("silhouette")

    knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    chosen = int(knee) if knee is not None else ks[int(np.argmax(sil))]
    lap("knee")

    km = fits[chosen]  # the sweep's fit is the final model: no refit
    df["segment"] = km.labels_ + 1
    lap("final fit (reused)")

    numeric = df.select_dtypes("number")
    profile = numeric.groupby("segment").agg(["mean", "median"])
    profile.to_csv(os.path.join(a.out, "profile.csv"))
    lap("profile")

    if not a.no_dashboard:
        import plotly.express as px

        view = df if len(df) <= DASHBOARD_MAX_POINTS else df.sample(DASHBOARD_MAX_POINTS, random_state=a.seed)
        fig = px.scatter_3d(
            view,
            x="BALANCE",
            y="PURCHASES",
            z="CREDIT_LIMIT",
            color=view["segment"].astype(str),
            title=f"{len(df):,} customers, {chosen} segments",
        )
        fig.write_html(os.path.join(a.out, "dashboard.html"), include_plotlyjs=True)
        lap("dashboard")

    joblib.dump({"model": km, "scaler": scaler}, os.path.join(a.out, "model.joblib"))
    lap("model dump")

    id_col = ID if ID in df.columns else None
    labels = df[[id_col, "segment"]] if id_col else df[["segment"]]
    labels.to_csv(os.path.join(a.out, "labels.csv"), index=False)
    lap("labels csv")

    total = time.perf_counter() - t_all
    ru = resource.getrusage(resource.RUSAGE_SELF)
    pools = threadpool_info()
    out = {
        "tool": "scikit-learn",
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
        "input": a.input,
        "rows_in": rows_in,
        "rows": len(df),
        "missing": a.missing,
        "stages": stages,
        "total": total,
        "total_without_import": total - stages["import"],
        "peak_rss_kb": ru.ru_maxrss,
        "cpu_user_s": ru.ru_utime,
        "cpu_sys_s": ru.ru_stime,
        "threads": {p.get("internal_api", "?"): p.get("num_threads") for p in pools},
        "k": ks,
        "inertia": inertia,
        "fit_seconds": fit_seconds,
        "n_iter": [int(fits[k].n_iter_) for k in ks],
        "silhouette": sil,
        "silhouette_method": "sampled" if sampled else "exact",
        "knee": None if knee is None else int(knee),
        "chosen_k": chosen,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
