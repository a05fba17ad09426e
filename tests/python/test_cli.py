"""The suite drives the binary cargo just built: check it is that binary."""
import re
import subprocess

from conftest import ROOT


def test_binary_is_this_checkout(run_cardseg):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    out = run_cardseg("--version").stdout
    # `cardseg 0.2.0 (commit abc1234)`: the version of this checkout, and its commit.
    assert out.split()[:2] == ["cardseg", version], out
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode == 0:
        assert f"(commit {head.stdout.strip()})" in out, out


def test_the_package_is_the_version_of_the_engine(cardseg_pkg):
    """One release: the wheel (python/) carries the engine's version (Cargo.toml)."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    assert cardseg_pkg.__version__ == version
    for f in ("python/Cargo.toml", "python/pyproject.toml"):
        assert re.search(r'^version = "([^"]+)"', (ROOT / f).read_text(), re.M).group(1) == version, f
