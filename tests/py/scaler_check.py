"""Independent reference for the scaler cross-check (run by tests/scalers.rs).

Reads the raw CSV with pandas, drops rows missing a used column, scales the clustering
features with scikit-learn's StandardScaler or RobustScaler, fits KMeans(n_clusters=k,
n_init=10, random_state=42) for each k and prints the inertias as JSON.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import RobustScaler, StandardScaler

data_path, kind, features, used, ks = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(","), [int(k) for k in sys.argv[5].split(",")]
df = pd.read_csv(data_path).dropna(subset=used)
scaler = {"standard": StandardScaler(), "robust": RobustScaler()}[kind]
X = scaler.fit_transform(df[features].to_numpy(dtype=np.float64))
out = {"rows": len(X), "scale": [float(v) for v in np.atleast_1d(scaler.scale_)], "inertia": []}
for k in ks:
    out["inertia"].append(float(KMeans(n_clusters=k, n_init=10, random_state=42).fit(X).inertia_))
print(json.dumps(out))
