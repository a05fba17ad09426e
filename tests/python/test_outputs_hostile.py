"""The Python package's outputs against hostile use, as the CLI: ``run(..., out=, force=True)``
and ``Segmentation.save`` never replace, hold or write into what the run read, and a
re-signed unsound model is refused by ``Model.load`` with the CLI's line."""
import hashlib
import json
import shutil

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, run_cardseg):
    d = tmp_path_factory.mktemp("data")
    data = d / "data.csv"
    run_cardseg("generate", "--rows", "1500", "--seed", "3", "--out", data)
    return data


def quick(cardseg_pkg, data, **kw):
    return cardseg_pkg.run(str(data), k=3, k_max=3, n_init=1, dashboard=False, **kw)


def files(d):
    return {p.relative_to(d): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_run_out_force_never_replaces_its_input(cardseg_pkg, small_data, tmp_path):
    # "hold" is an earlier cardseg result (it has model.json) that holds the input.
    hold = tmp_path / "hold"
    quick(cardseg_pkg, small_data, out=hold)
    shutil.copy(small_data, hold / "data.csv")
    before = files(hold)
    with pytest.raises(cardseg_pkg.UsageError, match="holds this command's input"):
        quick(cardseg_pkg, hold / "data.csv", out=hold, force=True)
    assert files(hold) == before
    # The naming rules are an input too.
    rules = hold / "rules.toml"
    shutil.copy(ROOT / "rules" / "default.toml", rules)
    before = files(hold)
    with pytest.raises(cardseg_pkg.UsageError, match="holds this command's input"):
        quick(cardseg_pkg, small_data, out=hold, force=True, naming_rules=rules)
    assert files(hold) == before


def test_save_never_replaces_what_the_run_read(cardseg_pkg, small_data, tmp_path):
    hold = tmp_path / "hold"
    quick(cardseg_pkg, small_data, out=hold)
    shutil.copy(small_data, hold / "data.csv")
    seg = quick(cardseg_pkg, hold / "data.csv")
    before = files(hold)
    with pytest.raises(cardseg_pkg.UsageError, match="holds this command's input"):
        seg.save(hold, force=True)
    assert files(hold) == before
    # The result lives in memory: it has no folder of its own that a save could write into.
    assert seg.directory is None
    # The model a run continues (and its labels) are inputs too.
    nxt = quick(cardseg_pkg, small_data, previous=hold / "model.json")
    with pytest.raises(cardseg_pkg.UsageError, match="holds this command's input"):
        nxt.save(hold, force=True)
    assert files(hold) == before
    # Elsewhere it saves.
    seg.save(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "model.json").is_file()


def test_a_resigned_unsound_model_is_refused_with_the_cli_line(cardseg_pkg, small_data, tmp_path, run_cardseg):
    out = tmp_path / "a"
    quick(cardseg_pkg, small_data, out=out)
    env = json.loads((out / "model.json").read_text())
    env["model"]["centroids_scaled"][0][0] = 1e300
    compact = json.dumps(env["model"], sort_keys=True, separators=(",", ":"))
    env["checksum"] = "sha256:" + hashlib.sha256(compact.encode()).hexdigest()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    p = run_cardseg("predict", "--model", bad, "--input", small_data, "--out", tmp_path / "x.csv", check=False)
    assert p.returncode == 1, p.stderr
    with pytest.raises(cardseg_pkg.ModelError, match="centroid 1 has the value 1e300") as e:
        cardseg_pkg.Model.load(bad)
    assert p.stderr.strip() == f"error: {e.value}"
