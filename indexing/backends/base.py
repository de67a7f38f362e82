"""What every search backend takes and gives back, independent of the engine behind it.

A backend indexes `Document`s laid out by a `Layout` (which fields are searchable text, which are
exact-value filters, which are dates) and answers a `SearchQuery` with `SearchResults`. Visibility
is part of the query, not an afterthought: `SearchQuery.allowed` is required, and the backend
applies it before it counts, facets or pages anything, so a document the searcher may not open
neither appears nor counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")
RESERVED_NAMES = frozenset({"id", "visibility", "original", "terms", "words"})
MAX_PAGE_SIZE = 1000


class Unrestricted:
    """The searcher may open everything (maintenance and evaluation, never a web request)."""

    _instance: Unrestricted | None = None

    def __new__(cls) -> Unrestricted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNRESTRICTED"


UNRESTRICTED = Unrestricted()


@dataclass(frozen=True)
class Layout:
    """The fields of an index. Stored with the index: a different layout needs a rebuild."""

    text_fields: tuple[str, ...]
    keyword_fields: tuple[str, ...] = ()  # one exact value each: register, direction, status ...
    multi_fields: tuple[str, ...] = ()  # several exact values: department_ids
    date_fields: tuple[str, ...] = ()  # ranges, and the "date" sort
    sort_date: str | None = None  # the date field that sort="date" orders by, newest first

    def __post_init__(self) -> None:
        if not self.text_fields:
            raise ValueError("a layout needs at least one text field")
        names = self.all_fields
        for name in names:
            if not _FIELD_NAME.fullmatch(name) or name in RESERVED_NAMES:
                raise ValueError(f"unusable field name {name!r}")
        if len(set(names)) != len(names):
            raise ValueError("a field name appears twice in the layout")
        if self.sort_date is not None and self.sort_date not in self.date_fields:
            raise ValueError(f"sort_date {self.sort_date!r} is not one of the date fields")

    @property
    def all_fields(self) -> tuple[str, ...]:
        return self.text_fields + self.keyword_fields + self.multi_fields + self.date_fields

    @property
    def head_fields(self) -> tuple[str, ...]:
        """The text fields a match in ranks higher: the first half (layouts list the short,
        identifying fields first: reference, subject, correspondent ... then the body)."""
        return self.text_fields[: (len(self.text_fields) + 1) // 2]

    @property
    def facet_fields(self) -> tuple[str, ...]:
        return self.keyword_fields + self.multi_fields

    def to_json(self) -> str:
        return json.dumps(
            {
                "text_fields": self.text_fields,
                "keyword_fields": self.keyword_fields,
                "multi_fields": self.multi_fields,
                "date_fields": self.date_fields,
                "sort_date": self.sort_date,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        return cls(
            text_fields=tuple(data["text_fields"]),
            keyword_fields=tuple(data["keyword_fields"]),
            multi_fields=tuple(data["multi_fields"]),
            date_fields=tuple(data["date_fields"]),
            sort_date=data["sort_date"],
        )


# What the app indexes for a letter (the app may pass its own layout; this is the default).
LETTER_LAYOUT = Layout(
    text_fields=("reference", "subject", "correspondent_name", "recipient", "body", "documents"),
    keyword_fields=("register", "direction", "status", "letter_type", "correspondent"),
    multi_fields=("department_ids",),
    date_fields=("registered_at", "letter_date"),
    sort_date="registered_at",
)

FilterValue = str | int | date | Sequence[str | int]


@dataclass(frozen=True)
class Document:
    id: str
    fields: Mapping[str, str]  # searchable text, as written (highlights are cut from it)
    filters: Mapping[str, FilterValue] = field(default_factory=dict)
    visibility: frozenset[str] = frozenset()  # a searcher must hold one of these keys

    def checked(self, layout: Layout) -> Document:
        """The document, after refusing what the layout does not know (a typo would otherwise
        silently index nothing)."""
        if not self.id or len(self.id) > 200:
            raise ValueError(f"unusable document id {self.id!r}")
        for name, value in self.fields.items():
            if name not in layout.text_fields:
                raise ValueError(f"{name!r} is not a text field of this index")
            if not isinstance(value, str):
                raise ValueError(f"text field {name!r} must be a string")
        for name, value in self.filters.items():
            if name in layout.keyword_fields:
                keyword_value(value)
            elif name in layout.multi_fields:
                multi_value(value)
            elif name in layout.date_fields:
                date_value(value)
            else:
                raise ValueError(f"{name!r} is not a filter field of this index")
        return self


def keyword_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"a keyword value must be a string or an integer, not {value!r}")
    return str(value)


def multi_value(value: object) -> list[str]:
    if isinstance(value, (str, int)):
        return [keyword_value(value)]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"a multi-valued field takes a list, not {value!r}")
    return sorted({keyword_value(item) for item in value})


def date_value(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"a date field takes a date, not {value!r}")


@dataclass(frozen=True)
class DateRange:
    start: date | None = None  # inclusive
    end: date | None = None  # inclusive


@dataclass(frozen=True)
class SearchQuery:
    text: str  # what the user typed; empty lists everything the filters keep
    allowed: frozenset[str] | Unrestricted  # the searcher's visibility keys
    filters: Mapping[str, FilterValue] = field(default_factory=dict)  # any of the values
    date_ranges: Mapping[str, DateRange] = field(default_factory=dict)
    sort: Literal["relevance", "date"] = "relevance"
    page: int = 1
    page_size: int = 20
    facets: tuple[str, ...] = ()

    def checked(self, layout: Layout) -> SearchQuery:
        if not isinstance(self.allowed, (frozenset, Unrestricted)):
            raise ValueError("allowed must be a frozenset of visibility keys or UNRESTRICTED")
        if self.sort not in ("relevance", "date"):
            raise ValueError(f"unknown sort {self.sort!r}")
        if self.sort == "date" and layout.sort_date is None:
            raise ValueError("this index has no date to sort by")
        if self.page < 1 or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError("page must be ≥ 1 and page_size between 1 and 1000")
        for name, value in self.filters.items():
            if name not in layout.facet_fields:
                raise ValueError(f"{name!r} is not a filter field of this index")
            multi_value(value)
        for name in self.date_ranges:
            if name not in layout.date_fields:
                raise ValueError(f"{name!r} is not a date field of this index")
        for name in self.facets:
            if name not in layout.facet_fields:
                raise ValueError(f"{name!r} cannot be faceted")
        return self


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    highlights: dict[str, str]  # field -> HTML snippet of the original text with <mark>s


@dataclass(frozen=True)
class SearchResults:
    total: int  # every document the searcher may open that matches, not just this page
    hits: list[Hit]
    facets: dict[str, dict[str, int]]  # field -> value -> count, over `total`
    # True when so many documents match that `total` and the facet counts were estimated from
    # a sample of them (PostgreSQL past `estimate_above` matches); the hits are then the
    # newest first, whatever the sort asked for, and still complete and exact page by page.
    estimated: bool = False


class Backend(Protocol):
    layout: Layout

    def index(self, documents: Iterable[Document]) -> None:
        """Add or replace documents (by id); visible to searches after `commit`."""

    def delete(self, ids: Iterable[str]) -> None: ...

    def commit(self) -> None: ...

    def search(self, query: SearchQuery) -> SearchResults: ...

    def stored_analysis_version(self) -> int | None:
        """The analysis version the index was built with (None: nothing built yet)."""

    def needs_rebuild(self) -> bool:
        """True when the index was built with another analysis version or layout."""

    def is_complete(self) -> bool:
        """False from the index's creation (or `clear`) until `mark_complete`."""

    def mark_complete(self) -> None:
        """Record that the index holds everything (a rebuild reached its end)."""

    def clear(self) -> None:
        """Empty the index and stamp it with the current analysis version (a rebuild starts so)."""

    def close(self) -> None: ...
