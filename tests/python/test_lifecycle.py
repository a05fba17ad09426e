"""Segment lifecycle cross-checked with pandas: the migration table against an
independent crosstab of two labels files, PSI per feature recomputed from the bins the
model stores, and one far-away customer flagged with the same distance and percentile by
run, predict and serve (JSON and CSV answers)."""
import csv
import hashlib
import json
import math
import os
import pathlib
import subprocess
import urllib.request

import numpy as np
import pandas as pd
import pytest



@pytest.fixture(scope="module")
def data(real_data_or_env):
    return real_data_or_env


@pytest.fixture(scope="module")
def real_data_or_env(request):
    env = os.environ.get("CARDSEG_REAL_DATA")
    if env:
        return pathlib.Path(env)
    return request.getfixturevalue("real_data")


def labels(path):
    return pd.read_csv(path, dtype={"segment": "Int64"}, keep_default_na=False, na_values=[""])


def next_month(data, path):
    """A share of customers' PURCHASES and BALANCE changed, some removed, some added."""
    df = pd.read_csv(data)
    rng = np.random.default_rng(11)
    df = df.drop(index=rng.choice(len(df), 400, replace=False)).reset_index(drop=True)
    changed = rng.random(len(df)) < 0.4
    df.loc[changed, "PURCHASES"] = df.loc[changed, "PURCHASES"] * 3 + 500
    df.loc[changed, "BALANCE"] = df.loc[changed, "BALANCE"] * 4 + 1000
    new = df.sample(300, random_state=5).copy()
    new["CUST_ID"] = [f"N{i:05d}" for i in range(len(new))]
    pd.concat([df, new]).to_csv(path, index=False)


def psi(expected, actual, floor=1e-4):
    return sum((max(a, floor) - max(e, floor)) * math.log(max(a, floor) / max(e, floor)) for e, a in zip(expected, actual))


def test_migration_matches_a_pandas_crosstab_and_psi_matches_the_stored_bins(tmp_path, data, run_cardseg):
    a, b, nm = tmp_path / "a", tmp_path / "b", tmp_path / "next.csv"
    run_cardseg("run", "--quiet", "--input", data, "--out", a, "--no-dashboard")
    next_month(data, nm)
    run_cardseg("run", "--quiet", "--input", nm, "--out", b, "--no-dashboard", "--previous", a / "model.json")
    run_cardseg("compare", "--quiet", "--before", a, "--after", b, "--out", tmp_path / "cmp")

    la, lb = labels(a / "labels.csv"), labels(b / "labels.csv")
    joined = la.merge(lb, on="CUST_ID", suffixes=("_b", "_a"))
    expected = pd.crosstab(joined.segment_b, joined.segment_a)
    for mig_dir in (b, tmp_path / "cmp"):
        got = pd.read_csv(mig_dir / "migration.csv")
        table = got.pivot(index="from_segment", columns="to_segment", values="customers").fillna(0).astype(int)
        table = table.reindex(index=expected.index, columns=expected.columns, fill_value=0)
        assert (table.values == expected.values).all()
        # Every non-empty cell is listed, and only those.
        assert len(got) == int((expected.values > 0).sum())
        share = expected.div(expected.sum(axis=1), axis=0)
        for r in got.itertuples():
            assert r.share_of_from == pytest.approx(share.loc[r.from_segment, r.to_segment], abs=1e-15)
        m = json.loads((mig_dir / "migration.json").read_text())
        assert m["new_customers"] == len(set(lb.CUST_ID) - set(la.CUST_ID)) == 300
        assert m["gone_customers"] == len(set(la.CUST_ID) - set(lb.CUST_ID)) == 400
        assert m["moved"] == int((joined.segment_b != joined.segment_a).sum())
        assert m["name_changed"] == int((joined.segment_name_b != joined.segment_name_a).sum())
    summary = (b / "summary.md").read_text()
    assert "## What changed since the previous run" in summary

    # Drift of the next-month file, recomputed from the stored bins.
    model = json.loads((a / "model.json").read_text())["model"]
    nm_df = pd.read_csv(nm)
    p = run_cardseg("drift", "--json", "--model", a / "model.json", "--input", nm, check=False)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    verdict = {}
    for fd, fr in zip(model["feature_distributions"], report["features"]):
        values = nm_df[fd["feature"]].dropna().to_numpy()
        edges = np.array(fd["edges"])
        bins = np.searchsorted(edges, values, side="left")  # edges strictly below v
        now = np.bincount(bins, minlength=len(edges) + 1) / len(values)
        assert abs(psi(fd["shares"], now) - fr["psi"]) <= 1e-9, fd["feature"]
        verdict[fd["feature"]] = fr["verdict"]
    assert verdict["PURCHASES"] != "stable" and verdict["BALANCE"] != "stable", verdict
    assert verdict["CREDIT_LIMIT"] == "stable", verdict
    # The training data itself: PSI 0 everywhere.
    p = run_cardseg("drift", "--json", "--model", a / "model.json", "--input", data, "--fail-above", "0")
    report = json.loads(p.stdout)
    assert all(f["psi"] == 0 for f in report["features"]) and report["segment_psi"] == 0


def post(port, body, ctype):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/score", data=body, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.read().decode()


def test_far_customer_is_flagged_alike_by_run_predict_and_serve(tmp_path, data, run_cardseg, cardseg_bin):
    df = pd.read_csv(data)
    far = df.iloc[[0]].copy()
    far["CUST_ID"] = "FAR"
    for c in ("BALANCE", "PURCHASES", "CREDIT_LIMIT"):
        far[c] = df[c].max() * 3
    src = tmp_path / "with_far.csv"
    pd.concat([df, far]).to_csv(src, index=False)
    out = tmp_path / "run"
    run_cardseg("run", "--quiet", "--input", src, "--out", out, "--no-dashboard")
    pred = tmp_path / "pred.csv"
    run_cardseg("predict", "--quiet", "--model", out / "model.json", "--input", far_only(far, tmp_path), "--out", pred)

    def row(path):
        with open(path, newline="") as f:
            return next(r for r in csv.DictReader(f) if r["CUST_ID"] == "FAR")

    r_run, r_pred = row(out / "labels.csv"), row(pred)
    assert r_run["outlier"] == "true" and float(r_run["distance_percentile"]) > 99.5
    for k in ("segment", "distance", "distance_percentile", "outlier"):
        assert r_run[k] == r_pred[k], k
    summary = json.loads((out / "summary.json").read_text())
    seg = [o for o in summary["outliers"] if str(o["id"]) == r_run["segment"]][0]
    assert seg["outliers"] >= 1

    srv = subprocess.Popen([cardseg_bin, "serve", "--model", str(out / "model.json"), "--addr", "127.0.0.1:0",
                            "--drain-seconds", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        body = json.dumps({c: float(far[c].iloc[0]) for c in ("BALANCE", "PURCHASES", "CREDIT_LIMIT")} | {"CUST_ID": "FAR"})
        res = json.loads(post(port, body.encode(), "application/json"))["results"][0]
        assert res["outlier"] is True
        assert res["distance"] == float(r_run["distance"])
        assert res["distance_percentile"] == float(r_run["distance_percentile"])
        text = post(port, far_only(far, tmp_path).read_bytes(), "text/csv")
        r_csv = next(csv.DictReader(text.splitlines()))
        for k in ("segment", "distance", "distance_percentile", "outlier"):
            assert r_csv[k] == r_run[k], k
    finally:
        srv.terminate()
        srv.wait(timeout=20)


def far_only(far, tmp_path):
    p = tmp_path / "far.csv"
    far.to_csv(p, index=False)
    return p


def test_month_two_counts_match_pandas_and_segment_medians_match_the_labels(tmp_path, data, run_cardseg):
    """+10% BALANCE for segment 3's customers: the summary's moved and renamed counts
    equal an independent count from the two labels files, and drift's per-segment
    medians equal pandas' medians of the customers predict puts in each segment."""
    a, b, m2 = tmp_path / "a", tmp_path / "b", tmp_path / "m2.csv"
    fast = ("--no-dashboard", "--stability-resamples", "0")
    run_cardseg("run", "--quiet", "--input", data, "--out", a, *fast)
    df = pd.read_csv(data)
    la = labels(a / "labels.csv")
    touched = df.CUST_ID.isin(la.CUST_ID[la.segment == 3])
    df.loc[touched, "BALANCE"] = df.loc[touched, "BALANCE"] * 1.1
    df.to_csv(m2, index=False)
    p = run_cardseg("run", "--input", m2, "--out", b, *fast, "--previous", a / "model.json")
    lb = labels(b / "labels.csv")
    j = la.merge(lb, on="CUST_ID", suffixes=("_b", "_a"))
    moved = int((j.segment_b != j.segment_a).sum())
    renamed = int((j.segment_name_b != j.segment_name_a).sum())
    m = json.loads((b / "migration.json").read_text())
    assert (m["moved"], m["name_changed"], m["customers_compared"]) == (moved, renamed, len(j))
    line = f"{moved:,} moved (segment id changed), {renamed:,} changed segment name"
    assert line in (b / "summary.md").read_text()
    assert line in p.stdout
    summary = json.loads((b / "summary.json").read_text())
    assert summary["changes"]["migration"]["name_changed"] == renamed
    assert summary["changes"]["renamed"] == []

    pred = tmp_path / "p.csv"
    run_cardseg("predict", "--quiet", "--model", a / "model.json", "--input", m2, "--out", pred)
    seg = labels(pred).segment
    p = run_cardseg("drift", "--json", "--model", a / "model.json", "--input", m2, check=False)
    report = json.loads(p.stdout)
    for sh in report["segment_shifts"]:
        values = df.loc[(seg == sh["segment"]).to_numpy(), sh["feature"]].dropna()
        assert sh["customers_now"] == len(values)
        assert sh["median_now"] == pytest.approx(float(np.median(values)), rel=1e-12)
    kinds = [(x["kind"], x["segment"], x["feature"]) for x in report["alerts"]]
    assert ("segment_shift", 3, "BALANCE") in kinds
    assert [k for k in kinds if k[0] == "segment_shift"] == [("segment_shift", 3, "BALANCE")]


def test_a_model_without_the_new_fields_still_scores_and_says_what_is_missing(tmp_path, data, run_cardseg):
    out = tmp_path / "run"
    run_cardseg("run", "--quiet", "--input", data, "--out", out, "--no-dashboard")
    env = json.loads((out / "model.json").read_text())
    model = env["model"]
    for k in ("lineage", "feature_distributions", "distance_quantiles", "outlier_percentile"):
        del model[k]
    env["checksum"] = "sha256:" + hashlib.sha256(
        json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    old = tmp_path / "old.json"
    old.write_text(json.dumps(env, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    pred = tmp_path / "p.csv"
    p = run_cardseg("predict", "--quiet", "--model", old, "--input", data, "--out", pred)
    assert "without distance quantiles" in p.stderr
    got = labels(pred)
    ran = labels(out / "labels.csv")
    assert (got.segment == ran.segment).all() and (got.distance == ran.distance).all()
    assert got.distance_percentile.isna().all() and got.outlier.isna().all()
    p = run_cardseg("drift", "--model", old, "--input", data, check=False)
    assert p.returncode == 1 and "retrain it with this cardseg" in p.stderr, p.stderr
