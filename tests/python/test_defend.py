"""Segments an analyst can defend, checked from Python: outcome intervals recomputed
independently from the data and labels (Wilson for 0/1 rates, normal approximation for
means), and the package's runs carrying the measured stability like the CLI's."""
import csv
import json
import math

import pytest

Z = 1.959963984540054


def wilson(x, n):
    p = x / n
    denom = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def planted(path):
    """Three separated groups of 300; group 2 defaults at 15%, the others at 5%; revenue
    differs by group."""
    import numpy as np

    rng = np.random.default_rng(4)
    rows = []
    for i in range(900):
        g = i % 3
        j = i // 3
        x, y = [(10, 80), (60, 20), (90, 90)][g]
        rate = 15 if g == 2 else 5
        rows.append(
            (f"C{i}", x + 3 * rng.normal(), y + 3 * rng.normal(), int(j % 100 < rate),
             round(100 * (g + 1) + 20 * rng.normal(), 2))
        )
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "SPEND", "INCOME", "default", "revenue"])
        w.writerows(rows)
    return rows


def test_outcome_intervals_match_an_independent_computation(run_cardseg, tmp_path):
    data = tmp_path / "planted.csv"
    rows = planted(data)
    out = tmp_path / "run"
    run_cardseg("run", "--quiet", "--input", data, "--out", out, "--id-column", "ID",
                "--features", "SPEND,INCOME", "--k", "3", "--outcome", "default,revenue")
    with open(out / "labels.csv") as f:
        seg_of = {r["ID"]: int(r["segment"]) for r in csv.DictReader(f)}
    segs = json.loads((out / "segments.json").read_text())
    groups = {s["id"]: [r for r in rows if seg_of[r[0]] == s["id"]] for s in segs["segments"]}
    groups[0] = rows
    for s in segs["segments"] + [dict(segs["portfolio"], id=0)]:
        mine = groups[s["id"]]
        d = {o["column"]: o for o in s["outcomes"]}
        n = len(mine)
        x = sum(r[3] for r in mine)
        lo, hi = wilson(x, n)
        assert d["default"]["kind"] == "rate"
        assert d["default"]["value"] == pytest.approx(x / n, abs=1e-12)
        assert d["default"]["ci_low"] == pytest.approx(lo, abs=1e-12)
        assert d["default"]["ci_high"] == pytest.approx(hi, abs=1e-12)
        rev = [r[4] for r in mine]
        mean = sum(rev) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in rev) / (n - 1))
        assert d["revenue"]["kind"] == "mean"
        assert d["revenue"]["value"] == pytest.approx(mean, rel=1e-12)
        assert d["revenue"]["ci_low"] == pytest.approx(mean - Z * sd / math.sqrt(n), rel=1e-9)
        assert d["revenue"]["ci_high"] == pytest.approx(mean + Z * sd / math.sqrt(n), rel=1e-9)
    # The 15% group differs on default and leads the findings.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"][0].split(" differs on ")[1].startswith(("default", "revenue"))
    assert any("default rate 15.0%" in f for f in summary["findings"][:3]), summary["findings"]


def test_the_package_run_measures_stability_like_the_cli(cardseg_pkg, run_cardseg, real_data, tmp_path):
    out = tmp_path / "cli"
    run_cardseg("run", "--quiet", "--input", real_data, "--out", out)
    want = json.loads((out / "summary.json").read_text())
    assert want["stability"]["resamples"] == 20
    assert want["structure"]["weak"] is False
    assert all(s["verdict"] in ("stable", "moderate") for s in want["stability"]["segments"])
    got = cardseg_pkg.run(real_data).summary
    assert got["stability"] == want["stability"]
    assert got["structure"] == want["structure"]
