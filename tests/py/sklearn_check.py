"""Independent reference for the core cross-check (run by tests/core.rs).

Reads the raw CSV with pandas, drops rows missing a used column, MinMax-scales the
clustering features with scikit-learn, fits KMeans(n_clusters=k, n_init=10,
random_state=42) for each k, and scores cardseg's own labels with
sklearn.metrics.silhouette_score. The knee of cardseg's inertia curve comes from kneed.
Prints one JSON object.
"""
import json
import sys

import numpy as np
import pandas as pd
from kneed import KneeLocator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import MinMaxScaler

data_path, labels_path, features, used = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
df = pd.read_csv(data_path)
df = df.dropna(subset=used)
X = MinMaxScaler().fit_transform(df[features].to_numpy(dtype=np.float64))
ours = pd.read_csv(labels_path)
assert len(ours) == len(X), (len(ours), len(X))
ks = [int(c[1:]) for c in ours.columns if c.startswith("k")]
out = {"rows": len(X), "k": ks, "sklearn_inertia": [], "silhouette_of_our_labels": [], "inertia_of_our_labels": []}
for k in ks:
    km = KMeans(n_clusters=k, n_init=10, random_state=42).fit(X)
    out["sklearn_inertia"].append(float(km.inertia_))
    lab = ours[f"k{k}"].to_numpy()
    out["silhouette_of_our_labels"].append(float(silhouette_score(X, lab)))
    centers = np.vstack([X[lab == c].mean(axis=0) for c in range(k)])
    out["inertia_of_our_labels"].append(float(((X - centers[lab]) ** 2).sum()))
our_inertia = [float(v) for v in sys.argv[5].split(",")]
knee = KneeLocator(ks, our_inertia, curve="convex", direction="decreasing").knee
out["kneed_knee"] = None if knee is None else int(knee)
print(json.dumps(out))
