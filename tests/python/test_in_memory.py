"""The notebook is home: ``cardseg.run`` keeps its result in memory (a Rust object), writes
no file unless asked, takes every ``cardseg run`` flag as a keyword with the CLI's default,
shows the CLI's tables from the segmentation itself, and its messages name keywords."""
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT


#: ``cardseg run`` flags that are not a keyword of the same name, and why.
NOT_KEYWORDS = {
    "input": "the first argument, data",
    "quiet": "a CLI display switch; the package never prints a table",
    "json": "a CLI output switch; the package returns objects",
    "timings": "Segmentation.timings holds them",
    "no-dashboard": "dashboard=False",
    "help": "help",
}


def help_flags(cardseg_bin):
    """{flag: default or None} from ``cardseg run --help``."""
    text = subprocess.run([cardseg_bin, "run", "--help"], capture_output=True, text=True, check=True).stdout
    flags = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^\s+(?:-\w, )?--([a-z0-9-]+)", line)
        if m:
            current = m.group(1)
            flags[current] = None
            line = line[m.end():]
        d = re.search(r"\[default: ([^\]]*)\]", line)
        if d and current:
            flags[current] = d.group(1)
    return flags


def shown(default):
    """A Python default as clap shows it (None: no default shown)."""
    if default is None or default is False:
        return None
    if isinstance(default, (list, tuple)):
        return ",".join(default)
    return str(default)


def test_every_run_flag_is_a_keyword_with_the_cli_default(cardseg_pkg, cardseg_bin):
    flags = help_flags(cardseg_bin)
    assert len(flags) > 30, flags
    params = inspect.signature(cardseg_pkg.run).parameters
    for flag, default in flags.items():
        if flag in NOT_KEYWORDS:
            continue
        key = flag.replace("-", "_")
        assert key in params, f"--{flag} has no keyword {key} in cardseg.run"
        assert shown(params[key].default) == default, (flag, params[key].default, default)
    assert params["dashboard"].default is True
    # And the other way: every keyword is a flag (source_name names a DataFrame).
    for key in params:
        if key in ("data", "source_name", "dashboard"):
            continue
        assert key.replace("_", "-") in flags, f"keyword {key} has no flag --{key.replace('_', '-')}"
    # One source: the defaults come from the Rust library.
    assert cardseg_pkg.defaults()["k_max"] == params["k_max"].default == 10


def test_run_writes_no_file(cardseg_pkg, real_data, tmp_path):
    """Without out=, nothing is written: not in the temporary folder, not in the cwd."""
    tmp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    script = textwrap.dedent(
        f"""
        import os, pandas as pd, cardseg
        df = pd.read_csv({str(real_data)!r})
        seg = cardseg.run(df, k=3)
        assert len(seg.labels) == len(df)
        assert isinstance(seg.summary, dict)
        assert len(seg.segments) == 3 and len(seg.k_selection) == 9
        assert seg.model.k == 3 and seg.summary_markdown
        assert "plotly" in seg.dashboard()._repr_html_().lower()
        assert seg.directory is None
        # While the results are alive: nothing in the temporary folder or the cwd.
        assert os.listdir({str(tmp)!r}) == [] and os.listdir(".") == []
        seg2 = cardseg.run({str(real_data)!r}, k=3)
        assert len(seg2.labels) == len(df)
        assert os.listdir({str(tmp)!r}) == [] and os.listdir(".") == []
        print("done")
        """
    )
    env = dict(os.environ, TMPDIR=str(tmp), TMP=str(tmp), TEMP=str(tmp))
    p = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "done" in p.stdout, p.stderr
    assert list(tmp.iterdir()) == [] and list(cwd.iterdir()) == []


def read_labels_csv(path, header):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types={header: pa.string(), "segment": pa.int32(), "segment_name": pa.string(),
                          "distance": pa.float64(), "distance_percentile": pa.float64(), "outlier": pa.bool_()},
            strings_can_be_null=False,
        ),
    )
    return t.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}.get)


def test_labels_are_labels_csv_and_predict_has_the_same_types(cardseg_pkg, real_data, tmp_path):
    import pandas as pd

    # missing="drop" leaves customers unlabelled: their cells are null, in input order.
    seg = cardseg_pkg.run(real_data, k=4, missing="drop", dashboard=False)
    out = seg.write(tmp_path / "o")
    assert seg.directory == out
    want = read_labels_csv(out / "labels.csv", "CUST_ID")
    # labels.csv writes an unlabelled customer's name as an empty cell; the frame has null.
    want["segment_name"] = want["segment_name"].where(want["segment"].notna(), None)
    got = seg.labels
    assert list(got.columns) == list(want.columns)
    assert got["segment"].isna().sum() > 0
    # The frame holds full-precision floats; labels.csv rounds distances to 6 significant
    # digits and percentiles to 2 decimals (exact decimal rounding of the same numbers).
    rounded = got.copy()
    rounded["distance"] = got["distance"].map(lambda d: float(f"{d:.5e}"), na_action="ignore")
    rounded["distance_percentile"] = got["distance_percentile"].map(lambda p: float(f"{p:.2f}"), na_action="ignore")
    pd.testing.assert_frame_equal(rounded, want, check_exact=True)
    assert str(got["segment"].dtype) == "Int32" and str(got["outlier"].dtype) == "boolean"
    # predict on the training data: the same labels, the same dtypes (outlier flag from Rust).
    pred = seg.model.predict(real_data)
    pd.testing.assert_frame_equal(pred, got, check_exact=True)
    # summary, k sweep and profile are what the files hold.
    assert seg.summary == json.loads((out / "summary.json").read_text())
    ks = pd.read_csv(out / "k_selection.csv")
    pd.testing.assert_frame_equal(seg.k_selection, ks, check_dtype=False)
    # Correctly rounded floats: pandas >= 3 by default, before with float_precision.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    segs = pd.read_csv(out / "segments.csv", **exact)
    pd.testing.assert_frame_equal(seg.segments, segs, check_dtype=False, check_exact=True)


def test_messages_name_keywords(cardseg_pkg, tmp_path):
    import pandas as pd

    df = pd.DataFrame({"CUST_ID": [f"c{i}" for i in range(5)], "BALANCE": range(5),
                       "PURCHASES": range(5), "CREDIT_LIMIT": range(5), "PAYMENTS": range(5),
                       "TENURE": [12] * 5})
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, k=2)
    assert "k_max=10" in str(e.value) and "lower k_max below 5" in str(e.value), e.value
    assert "--" not in str(e.value)
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, k=7, k_max=4)
    assert "k=7 asks for 7 segments" in str(e.value) and "--" not in str(e.value), e.value
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, id_column="NOPE")
    assert "name the right column with id_column" in str(e.value) and "--" not in str(e.value), e.value
    with pytest.raises(cardseg_pkg.UsageError, match="unknown keyword"):
        cardseg_pkg._cardseg.run(str(tmp_path / "x.csv"), "x", kk=3)
    with pytest.raises(cardseg_pkg.UsageError, match="max_columns=0: give a number from 1 to 1000000"):
        cardseg_pkg.run(df, max_columns=0)


def test_write_refuses_and_keeps_working(cardseg_pkg, real_data, tmp_path):
    seg = cardseg_pkg.run(real_data, k=3, dashboard=False)
    with pytest.raises(cardseg_pkg.UsageError, match="no dashboard"):
        seg.dashboard()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("x")
    with pytest.raises(cardseg_pkg.OutputExistsError):
        seg.write(taken)
    assert os.listdir(taken) == ["mine.txt"]
    assert seg.write(tmp_path / "a") == tmp_path / "a"
    assert sorted(os.listdir(tmp_path / "a")) == sorted(
        ["labels.csv", "k_selection.csv", "segments.csv", "segments.json", "summary.md", "summary.json", "model.json"]
    )
    assert set(seg.timings) >= {"clean", "scale", "kmeans sweep"}


def test_write_labels_stores_the_labels_like_the_cli(cardseg_pkg, real_data, tmp_path):
    import sqlite3

    db = tmp_path / "labels.db"
    seg = cardseg_pkg.run(real_data, k=3, dashboard=False, write_labels=f"sqlite://{db}", labels_table="segs")
    rows = sqlite3.connect(db).execute("SELECT COUNT(*), COUNT(DISTINCT segment) FROM segs").fetchone()
    assert rows == (len(seg.labels), 3)
    with pytest.raises(cardseg_pkg.UsageError, match="labels_table is the table of write_labels"):
        cardseg_pkg.run(real_data, labels_table="segs")


@pytest.mark.parametrize(
    "cli, keywords",
    [
        (["--k-min", "5", "--k-max", "3"], dict(k_min=5, k_max=3)),
        (["--features", "BALANCE,BALANCE"], dict(features=["BALANCE", "BALANCE"])),
        (["--k", "1"], dict(k=1)),
        (["--max-columns", "3"], dict(max_columns=3)),
        (["--table", "t"], dict(table="t")),
    ],
    ids=["k range", "features", "k", "ingest: max columns", "ingest: table"],
)
def test_messages_name_flags_in_the_cli_and_keywords_in_python(cli, keywords, cardseg_pkg, run_cardseg, real_data, tmp_path):
    """One message, worded once by the library: the CLI names its flags, Python its keywords."""
    from test_package import cli_message

    p = run_cardseg("run", "--input", real_data, "--out", tmp_path / "o", *cli, check=False)
    assert p.returncode != 0 and "--" + cli[0][2:] in p.stderr, p.stderr
    want = cli_message(run_cardseg, ["run", "--input", real_data, "--out", tmp_path / "o", *cli])
    with pytest.raises(cardseg_pkg.CardsegError) as e:
        cardseg_pkg.run(real_data, **keywords)
    assert str(e.value) == want
    assert "--" not in str(e.value), e.value


def small_frame(n=60, seed=5):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"CUST_ID": [f"c{i}" for i in range(n)], "BALANCE": rng.uniform(0, 5000, n),
                         "PURCHASES": rng.uniform(0, 3000, n), "CREDIT_LIMIT": rng.uniform(500, 9000, n)})


def test_messages_name_the_keyword_the_caller_gave(cardseg_pkg):
    """A bad drift gate names its keyword; a bad n_clusters names n_clusters, not the k_min
    it becomes; an int column name is an id as it is a feature."""
    df = small_frame()
    model = cardseg_pkg.run(df, k=2, dashboard=False).model
    with pytest.raises(cardseg_pkg.UsageError, match="^psi_alert takes a number, not 'x'$"):
        cardseg_pkg.drift(model, df, psi_alert="x")
    sklearn = pytest.importorskip("sklearn")
    from cardseg.sklearn import CardsegKMeans

    for n in (0, 1, 1001):
        with pytest.raises(cardseg_pkg.UsageError, match=f"^n_clusters={n}: give a number of segments from 2 to 1000"):
            CardsegKMeans(n_clusters=n).fit(df[["BALANCE", "PURCHASES"]])
    numbered = df.set_axis(range(4), axis=1)
    s = cardseg_pkg.run(numbered, features=[1, 2, 3], profile_features=[], id_column=0, k=2, dashboard=False)
    assert s.model.id_column == "0"
    assert s.labels["0"].tolist() == df["CUST_ID"].tolist()


def test_the_tables_of_a_result_are_copies(cardseg_pkg):
    """Editing a table a result returned leaves the result as it was."""
    s = cardseg_pkg.run(small_frame(), k=2, dashboard=False)
    labels, segments, ks = s.labels, s.segments, s.k_selection
    first = (labels.loc[0, "segment"], labels.loc[1, "CUST_ID"], segments.loc[0, "customers"], ks.loc[0, "k"])
    labels.loc[0, "segment"] = 99
    labels.loc[1, "CUST_ID"] = "someone else"
    segments.loc[0, "customers"] = -1
    ks.loc[0, "k"] = -5
    assert (s.labels.loc[0, "segment"], s.labels.loc[1, "CUST_ID"], s.segments.loc[0, "customers"],
            s.k_selection.loc[0, "k"]) == first


def test_wrong_combinations_of_keywords_are_named(cardseg_pkg, tmp_path):
    """The id column also a feature is named as such (not "empty in every row"); predict's
    and drift's delimiter is checked as run's; the keywords of reading a file, database or
    URL are refused for a DataFrame instead of being ignored."""
    df = small_frame()
    with pytest.raises(cardseg_pkg.UsageError, match="^column BALANCE is the id column and cannot also be a feature$"):
        cardseg_pkg.run(df, id_column="BALANCE")
    path = tmp_path / "customers.csv"
    df.to_csv(path, index=False)
    model = cardseg_pkg.run(df, k=2, dashboard=False).model
    for d in ["", ";;", "é"]:
        want = f'^delimiter must be one character \\(or "tab"\\), not "{d}"$'
        with pytest.raises(cardseg_pkg.UsageError, match=want):
            cardseg_pkg.run(path, delimiter=d)
        with pytest.raises(cardseg_pkg.UsageError, match=want):
            model.predict(path, delimiter=d)
        with pytest.raises(cardseg_pkg.UsageError, match=want):
            cardseg_pkg.drift(model, path, delimiter=d)
    assert len(model.predict(path, delimiter=",")) == len(df)
    with pytest.raises(cardseg_pkg.UsageError, match="^table applies only to database, HTTP and CSV sources"):
        cardseg_pkg.run(df, table="t")
    with pytest.raises(cardseg_pkg.UsageError, match="^token_env, max_columns apply only to database, HTTP and CSV sources"):
        cardseg_pkg.run(df, token_env="X", max_columns=2)
