"""Shared fixtures of the Python suite (run by scripts/test.sh after cargo test).

One Spark session serves every test (starting one costs ~10 s); the cardseg binary is
the release build cargo test made (CARDSEG_BIN), and the real CC GENERAL file is read
from ../shared/data. With CARDSEG_REQUIRE_REFERENCE=1 (CI) a missing piece fails the
run instead of skipping.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("CARDSEG_REQUIRE_REFERENCE") == "1"


def need(what):
    """Skip locally, fail in CI, when something the test needs is missing."""
    if REQUIRED:
        pytest.fail(f"required for this test: {what}")
    pytest.skip(f"missing: {what}")


@pytest.fixture(scope="session")
def cardseg_bin():
    path = os.environ.get("CARDSEG_BIN") or str(ROOT / "target" / "release" / "cardseg")
    if not os.access(path, os.X_OK):
        need(f"the cardseg binary at {path} (cargo build --release)")
    return path


@pytest.fixture(scope="session")
def real_data():
    # CARDSEG_REAL_DATA overrides the place (a checkout that is not beside shared/).
    path = pathlib.Path(
        os.environ.get("CARDSEG_REAL_DATA") or ROOT.parent / "shared" / "data" / "cc_general.csv"
    )
    if not path.is_file():
        need(f"the real CC GENERAL file at {path}")
    return path


@pytest.fixture(scope="session")
def run_cardseg(cardseg_bin):
    """Runs the CLI; returns the CompletedProcess (text mode)."""

    def run(*args, check=True):
        p = subprocess.run([cardseg_bin, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"cardseg {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
        return p

    return run


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole suite (2 cores, loopback only)."""
    if shutil.which("java") is None:
        need("a Java runtime (openjdk-17-jre-headless) for Spark")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        need("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (mapInArrow, UDFs) run this interpreter: the venv with pyarrow and the
    # cardseg wheel, as executors of a real cluster run the job's Python environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    try:
        # The PMML evaluator's jars (test_export.py scores the exported PMML on Spark).
        import jpmml_evaluator_pyspark

        builder = builder.config("spark.jars", jpmml_evaluator_pyspark.spark_jars())
    except ImportError:
        pass
    session = (
        builder.master("local[2]")
        .appName("cardseg-tests")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def cardseg_pkg():
    """The installed cardseg Python package (scripts/test.sh builds the wheel and installs it)."""
    try:
        import cardseg
    except ImportError as e:
        need(f"the cardseg Python package ({e}); scripts/test.sh builds and installs the wheel")
    return cardseg
