"""Search backends behind one interface: Whoosh (embedded, the default) and PostgreSQL."""

from indexing.backends.base import (
    LETTER_LAYOUT,
    UNRESTRICTED,
    Backend,
    DateRange,
    Document,
    Hit,
    Layout,
    SearchQuery,
    SearchResults,
)

__all__ = [
    "LETTER_LAYOUT",
    "UNRESTRICTED",
    "Backend",
    "DateRange",
    "Document",
    "Hit",
    "Layout",
    "SearchQuery",
    "SearchResults",
    "open_backend",
]


def open_backend(
    kind: str, layout: Layout, *, path=None, database_url=None, table=None, **postgres_options
) -> Backend:
    """The backend a deployment configured: "whoosh" (a directory) or "postgres" (a table;
    `postgres_options` go to PostgresBackend, e.g. estimate_above)."""
    if kind == "whoosh":
        from indexing.backends.whoosh_backend import WhooshBackend

        if path is None:
            raise ValueError("the Whoosh backend needs an index directory")
        return WhooshBackend(path, layout)
    if kind == "postgres":
        from indexing.backends.postgres_backend import PostgresBackend

        if not database_url or not table:
            raise ValueError("the PostgreSQL backend needs a database URL and a table name")
        return PostgresBackend(database_url, table, layout, **postgres_options)
    raise ValueError(f"unknown search backend {kind!r} (whoosh or postgres)")
