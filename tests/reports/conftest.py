"""Fixtures for the report tests (CSV/PDF registry exports, font lookup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.reports.fonts import ENV_FONT, ENV_FONT_BOLD, FontMissing, find_font

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"


@pytest.fixture(autouse=True)
def _no_font_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's DIWAN_PDF_FONT must not change what the tests render."""
    monkeypatch.delenv(ENV_FONT, raising=False)
    monkeypatch.delenv(ENV_FONT_BOLD, raising=False)


@pytest.fixture
def pdf_font(_no_font_override: None) -> Path:
    """The installed PDF font; PDF tests are skipped when there is none."""
    try:
        return find_font()
    except FontMissing as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))


@pytest.fixture
def artifacts_dir() -> Path:
    """Where rendered pages are kept for a human to look at (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
