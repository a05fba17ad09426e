#!/usr/bin/env python3
"""Exact silhouette side by side: scikit-learn's silhouette_score on cardseg's own labels.

Reads the raw customer CSV and cardseg's labels.csv (same rows, same order), fills missing
feature cells with the column median and MinMax-scales BALANCE, PURCHASES, CREDIT_LIMIT
exactly as cardseg does (so the matrix is the same to the last bit), writes the scaled
matrix with the labels to --scaled-out (for benches/silhouette_bench.rs, cardseg's side),
then times sklearn.metrics.silhouette_score(X, labels) with no sampling.

Usage:
  python bench/silhouette.py --input FILE.csv --labels cardseg_out/labels.csv \
         --scaled-out scaled.csv [--skip-sklearn]
Prints one JSON object on stdout (seconds, silhouette, peak RSS, threads).
"""

import argparse
import json
import resource
import sys
import time

FEATURES = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--labels", required=True, help="cardseg's labels.csv")
    ap.add_argument("--scaled-out", required=True)
    ap.add_argument("--skip-sklearn", action="store_true", help="only write the scaled matrix")
    a = ap.parse_args()

    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import MinMaxScaler
    from threadpoolctl import threadpool_info

    df = pd.read_csv(a.input, usecols=lambda c: c in FEATURES or c == "CUST_ID")
    df[FEATURES] = df[FEATURES].fillna(df[FEATURES].median())
    X = MinMaxScaler().fit_transform(df[FEATURES])
    lab = pd.read_csv(a.labels)
    if len(lab) != len(df):
        sys.exit(f"{a.labels} has {len(lab)} rows but {a.input} has {len(df)}")
    if "CUST_ID" in df.columns and "CUST_ID" in lab.columns and not (lab["CUST_ID"].values == df["CUST_ID"].values).all():
        sys.exit("labels and input rows are not in the same order")
    labels = lab["segment"].to_numpy()
    out = pd.DataFrame(X, columns=FEATURES)
    out["label"] = labels
    out.to_csv(a.scaled_out, index=False, float_format="%.17g")

    result = {
        "tool": "scikit-learn silhouette_score",
        "rows": int(len(X)),
        "k": int(len(np.unique(labels))),
        "scikit-learn": sklearn.__version__,
        "threads": {p.get("internal_api", "?"): p.get("num_threads") for p in threadpool_info()},
    }
    if not a.skip_sklearn:
        t = time.perf_counter()
        value = silhouette_score(X, labels, metric="euclidean")
        result["seconds"] = time.perf_counter() - t
        result["silhouette"] = float(value)
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
