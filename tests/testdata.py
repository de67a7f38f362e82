"""Where ../shared/testdata is: beside the checkout (as in CI), or named by DIWAN_TESTDATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find() -> Path:
    if os.environ.get("DIWAN_TESTDATA"):
        return Path(os.environ["DIWAN_TESTDATA"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "testdata"
    return beside if beside.is_dir() else Path("/work/shared/testdata")


TESTDATA = _find()
needs_testdata = pytest.mark.skipif(
    not TESTDATA.is_dir(), reason=f"shared test data not found at {TESTDATA} (set DIWAN_TESTDATA)"
)
