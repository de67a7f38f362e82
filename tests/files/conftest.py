"""Fixtures for the app.files tests (helpers live in files_testsupport.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.files.store import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    """An empty store in the test's temporary directory."""
    return FileStore(tmp_path / "store")
