"""The suite drives the binary cargo just built: check it is that binary."""
import re

from conftest import ROOT


def test_binary_is_this_checkout(run_cardseg):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    out = run_cardseg("--version").stdout
    assert out.split() == ["cardseg", version], out
