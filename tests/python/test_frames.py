"""Frames like files: a pandas DataFrame's text, ``category``, ``bool`` and ``Decimal``
columns are read as the CSV reader reads the same frame written with ``to_csv`` (text and
categories as a category mix in the profile, numbers where every value is one), and a bad
cell is a ``cardseg.InputError`` naming its row, column and value, never a pyarrow error."""
from decimal import Decimal

import pytest

from test_package import RUN_FILES, assert_same_files, read_pandas


def mixed_frame(real_data):
    """The real file plus columns of every kind a notebook holds besides floats."""
    import numpy as np
    import pandas as pd

    df = read_pandas(real_data)
    n = len(df)
    i = np.arange(n)
    jobs = np.array(["Student", "Employed", "Retired", " Self-employed ", None], dtype=object)
    df["Occupation"] = jobs[i % 5]
    df["Channel"] = pd.Categorical(np.where(i % 11 == 0, None, np.array(["web", "branch", "phone"])[i % 3]))
    df["Active"] = (i % 3) == 0
    df["Verified"] = pd.array([None if k % 13 == 0 else bool(k % 2) for k in range(n)], dtype="boolean")
    df["FEE"] = [None if k % 17 == 0 else Decimal(k % 50) + Decimal(k % 100) / 100 for k in range(n)]
    df["Tier"] = pd.Categorical(i % 4 + 1)
    df["Note"] = [f"n{k}" if k % 2 else 7 for k in range(n)]
    return df


def test_a_frame_with_text_category_bool_and_decimal_columns_writes_the_cli_files(
    cardseg_pkg, run_cardseg, real_data, tmp_path
):
    import pandas as pd

    df = mixed_frame(real_data)
    path = tmp_path / "mixed.csv"
    df.to_csv(path, index=False)
    cli = tmp_path / "cli"
    run_cardseg("run", "--quiet", "--input", path, "--out", cli)
    seg = cardseg_pkg.run(df, source_name=str(path))
    assert_same_files(seg.write(tmp_path / "py"), cli, RUN_FILES)
    # The text, categorical and boolean columns are category mixes; Decimal and the
    # category of numbers are numbers.
    shown = (cli / "segments.csv").read_text().splitlines()[0]
    for column in ["Occupation", "Channel", "Active", "Verified", "FEE", "Tier"]:
        assert column in shown, column
    assert "Student" in shown and "True" in shown and "web" in shown
    # predict reads the frame the same way: the same labels, the same dtypes.
    pd.testing.assert_frame_equal(seg.model.predict(df), seg.labels, check_exact=True)


def test_a_bad_cell_in_an_object_column_names_its_row_column_and_value(cardseg_pkg):
    import pandas as pd

    n = 40
    df = pd.DataFrame(
        {
            "CUST_ID": [f"c{i}" for i in range(n)],
            "BALANCE": [Decimal(i) / 4 for i in range(n)],
            "PURCHASES": [float(i % 7) for i in range(n)],
            "CREDIT_LIMIT": [float(i % 5) for i in range(n)],
        }
    )
    df.loc[3, "BALANCE"] = "12,5"
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, features=["BALANCE", "PURCHASES", "CREDIT_LIMIT"], k=2)
    msg = str(e.value)
    assert "row 4" in msg and "column BALANCE" in msg and '"12,5"' in msg, msg
    # A category that is not a number, in a feature: the same, named.
    df["BALANCE"] = pd.Categorical(["1.5"] * 5 + ["n/a"] + ["2"] * (n - 6))
    with pytest.raises(cardseg_pkg.InputError) as e:
        cardseg_pkg.run(df, features=["BALANCE", "PURCHASES", "CREDIT_LIMIT"], k=2)
    msg = str(e.value)
    assert "row 6" in msg and "column BALANCE" in msg and '"n/a"' in msg, msg
    # predict reads frames the same way.
    df["BALANCE"] = [Decimal(i) / 4 for i in range(n)]
    seg = cardseg_pkg.run(df, features=["BALANCE", "PURCHASES", "CREDIT_LIMIT"], k=2, dashboard=False)
    df["PURCHASES"] = df["PURCHASES"].astype(object)
    df.loc[9, "PURCHASES"] = "oops"
    with pytest.raises(cardseg_pkg.InputError) as e:
        seg.model.predict(df)
    assert "row 10" in str(e.value) and "column PURCHASES" in str(e.value) and '"oops"' in str(e.value), e.value


def test_text_utf8_cannot_hold_is_refused_naming_its_row_and_column(cardseg_pkg, tmp_path):
    """Lone surrogates (what ``os.fsdecode`` makes of bytes that are not UTF-8) in an id, a
    value or a column name: an InputError naming the row and column, not a bare
    UnicodeEncodeError; an output path holding them is a path like any other."""
    import os

    import numpy as np
    import pandas as pd

    n = 40
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"CUST_ID": [f"c{i}" for i in range(n)], "BALANCE": rng.uniform(0, 50, n),
                       "PURCHASES": rng.uniform(0, 50, n), "CREDIT_LIMIT": rng.uniform(0, 50, n)})
    features = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
    bad = df.copy()
    bad["CUST_ID"] = pd.Series(list(bad["CUST_ID"]), dtype=object)
    bad.loc[4, "CUST_ID"] = "c\ud800"
    with pytest.raises(cardseg_pkg.InputError, match=r"^pandas DataFrame: row 5, column CUST_ID: 'c\\ud800' is not valid Unicode"):
        cardseg_pkg.run(bad, features=features, k=2)
    bad = df.copy()
    bad["BALANCE"] = pd.Series(list(bad["BALANCE"]), dtype=object)
    bad.loc[7, "BALANCE"] = "1\ud800"
    with pytest.raises(cardseg_pkg.InputError, match="^pandas DataFrame: row 8, column BALANCE: "):
        cardseg_pkg.run(bad, features=features, k=2)
    with pytest.raises(cardseg_pkg.InputError, match="column 'x\\\\udcff': its name is not valid Unicode"):
        named = df.copy()
        named.columns = pd.Index(["CUST_ID", "BALANCE", "x\udcff", "CREDIT_LIMIT"], dtype=object)
        cardseg_pkg.run(named, features=features, k=2)
    with pytest.raises(cardseg_pkg.UsageError, match="^features: the column name 'x\\\\ud800' is not valid Unicode"):
        cardseg_pkg.run(df, features=["BALANCE", "x\ud800"], k=2)
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/out_\xff")
    s = cardseg_pkg.run(df, features=features, k=2, dashboard=False, out=out)
    assert os.path.isfile(os.fsencode(out) + b"/labels.csv")
    assert os.fsencode(str(s.directory)) == os.fsencode(out)


def test_a_period_column_is_refused_like_a_datetime_column(cardseg_pkg):
    """A pandas Period crosses as integer ordinals under an extension type: refused as a
    feature, as the same dates in datetime64 are, never clustered as month counts."""
    import numpy as np
    import pandas as pd

    n = 40
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"CUST_ID": [f"c{i}" for i in range(n)], "BALANCE": rng.uniform(0, 50, n),
                       "PURCHASES": pd.period_range("2020-01", periods=n, freq="M"),
                       "CREDIT_LIMIT": rng.uniform(0, 50, n)})
    with pytest.raises(cardseg_pkg.InputError, match=(
        "^pandas DataFrame: column PURCHASES is of Arrow extension type pandas.period "
        r"\(a pandas Period\), which cannot be read as numbers$"
    )):
        cardseg_pkg.run(df, features=["BALANCE", "PURCHASES", "CREDIT_LIMIT"], k=2)
    # Not a feature: a column the run does not need, as a datetime column is.
    s = cardseg_pkg.run(df, features=["BALANCE", "CREDIT_LIMIT"], profile_features=[], k=2, dashboard=False)
    assert s.k == 2
