"""Fixtures for the deadline tests: the two national calendars, without closures."""

from __future__ import annotations

import pytest

from app.deadlines import WorkingCalendar, calendar_for


@pytest.fixture(scope="session")
def ma() -> WorkingCalendar:
    return calendar_for("MA")


@pytest.fixture(scope="session")
def dz() -> WorkingCalendar:
    return calendar_for("DZ")


@pytest.fixture(scope="session")
def calendars(ma: WorkingCalendar, dz: WorkingCalendar) -> dict[str, WorkingCalendar]:
    return {"MA": ma, "DZ": dz}
