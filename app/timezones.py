"""Time zones from the pinned ``tzdata`` package, the same IANA release Babel (through pytz)
uses to display times, so a day's boundaries and the times shown always agree.

The operating system's zoneinfo can lag behind: Debian 12's still gave Africa/Casablanca UTC+1
for November 2026 where IANA 2026f gives UTC+0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo


class UnknownTimezone(ValueError):
    pass


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise UnknownTimezone(name)
    try:
        with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
            return ZoneInfo.from_file(data, key=name)
    except (FileNotFoundError, IsADirectoryError, ValueError) as error:
        raise UnknownTimezone(name) from error


def to_local(moment_utc: datetime, name: str) -> datetime:
    """A naive UTC timestamp (as stored) in the given zone."""
    return moment_utc.replace(tzinfo=UTC).astimezone(zone(name))


def local_midnight_in_utc(day, name: str) -> datetime:
    """The naive UTC timestamp at which ``day`` starts in the given zone."""
    local = datetime(day.year, day.month, day.day, tzinfo=zone(name))
    return local.astimezone(UTC).replace(tzinfo=None)
