"""``cardseg.compare`` and ``cardseg.drift``: the library's migration and drift reports as
Python objects whose ``to_dict()`` is the JSON ``cardseg compare`` and ``cardseg drift``
write (migration.json, drift.json), tables as DataFrames, verdicts as attributes."""
import json

import pytest


@pytest.fixture(scope="module")
def two_runs(run_cardseg, real_data, tmp_path_factory):
    """Two CLI runs on the same customers (k=3, then k=4) and new customers to score."""
    d = tmp_path_factory.mktemp("reports")
    for k in (3, 4):
        run_cardseg("run", "--quiet", "--input", real_data, "--out", d / f"k{k}", "--k", k, "--no-dashboard")
    new = d / "new.csv"
    run_cardseg("generate", "--quiet", "--rows", 3000, "--seed", 5, "--out", new)
    return d, new


def test_compare_equals_the_cli(cardseg_pkg, run_cardseg, real_data, two_runs):
    d, _ = two_runs
    run_cardseg("compare", "--quiet", "--before", d / "k3", "--after", d / "k4", "--out", d / "mig")
    want = json.loads((d / "mig" / "migration.json").read_text())
    got = cardseg_pkg.compare(d / "k3", d / "k4")
    assert got.to_dict() == want
    assert got.moved == want["moved"] and got.stayed == want["stayed"]
    assert got.flows["customers"].sum() == want["customers_compared"]
    assert got.matrix.values.sum() == want["customers_compared"]
    assert "moved" in got.text
    # Runs held in memory compare the same (the names are theirs).
    a = cardseg_pkg.run(real_data, k=3, dashboard=False)
    b = cardseg_pkg.run(real_data, k=4, dashboard=False)
    mem = cardseg_pkg.compare(a, b).to_dict()
    assert (mem.pop("before"), mem.pop("after")) == ("before", "after")
    want.pop("before"), want.pop("after")
    assert mem == want
    # out= writes what the CLI writes.
    got = cardseg_pkg.compare(d / "k3", d / "k4", out=d / "mig-py")
    assert (d / "mig-py" / "migration.json").read_bytes() == (d / "mig" / "migration.json").read_bytes()
    assert (d / "mig-py" / "migration.csv").read_bytes() == (d / "mig" / "migration.csv").read_bytes()


def test_drift_equals_the_cli(cardseg_pkg, run_cardseg, two_runs):
    import pandas as pd

    d, new = two_runs
    model = d / "k4" / "model.json"
    p = run_cardseg("drift", "--quiet", "--model", model, "--input", new, "--out", d / "drift", "--fail-above", "0.1", check=False)
    # Status 3: a PSI is above --fail-above (generated customers are not the real ones).
    assert p.returncode == 3, p.stderr
    want = json.loads((d / "drift" / "drift.json").read_text())
    got = cardseg_pkg.drift(model, new, fail_above=0.1)
    assert got.to_dict() == want
    # drift.md, naming the keyword where the CLI names its flag.
    assert got.text == (d / "drift" / "drift.md").read_text().replace("--fail-above 0.1", "fail_above=0.1")
    assert got.verdict == want["verdict"] and got.failed is want["failed"] is True
    assert list(got.features["feature"]) == [f["feature"] for f in want["features"]]
    assert len(got.bins) == sum(len(f["bins"]) for f in want["features"])
    assert list(got.segments["share_now"]) == [s["share_now"] for s in want["segments"]]
    # The same customers in a DataFrame, against the loaded model.
    frame = pd.read_csv(new, dtype={"CUST_ID": str})
    m = cardseg_pkg.Model.load(model)
    assert cardseg_pkg.drift(m, frame, fail_above=0.1, source_name=str(new)).to_dict() == want
    with pytest.raises(cardseg_pkg.UsageError, match="fail_above=-1"):
        cardseg_pkg.drift(m, frame, fail_above=-1)
    # The alert gates are the CLI's flags as keywords, with its defaults and its figures.
    assert got.to_dict()["alerts"] and list(got.alerts["kind"]) == [a["kind"] for a in want["alerts"]]
    p = run_cardseg("drift", "--quiet", "--model", model, "--input", new, "--out", d / "drift2",
                    "--shift", "0.5", "--alpha", "0.01", "--psi-alert", "0.2", check=False)
    want2 = json.loads((d / "drift2" / "drift.json").read_text())
    got2 = cardseg_pkg.drift(m, frame, shift=0.5, alpha=0.01, psi_alert=0.2, source_name=str(new))
    assert got2.to_dict() == want2 and want2["thresholds"]["shift"] == 0.5
    with pytest.raises(cardseg_pkg.UsageError, match="alpha=2"):
        cardseg_pkg.drift(m, frame, alpha=2)
