"""/api/v1/search: the search page's query as JSON, trimmed by the same visibility keys inside
the index and checked again letter by letter."""

from __future__ import annotations

from datetime import date

from flask_smorest import Blueprint

from app.blueprints.api import schemas
from app.blueprints.api.auth import scoped, user
from app.blueprints.api.letters import summary
from app.blueprints.search import FACETS, PAGE_SIZE
from app.blueprints.search import shared_backend as search_backend
from app.extensions import db
from app.services.search_visibility import checked_hits, user_keys
from indexing.backends import DateRange, SearchQuery

blp = Blueprint("api_search", __name__, url_prefix="/api/v1/search", description="Search")


def _query(args: dict) -> SearchQuery:
    filters = {}
    for name, key in (
        ("register", "register"),
        ("status", "status"),
        ("department_ids", "department_id"),
        ("letter_type", "letter_type_id"),
    ):
        if args.get(key) is not None:
            filters[name] = [str(args[key])]
    ranges = {}
    if args.get("date_from") or args.get("date_to"):
        ranges["registered_at"] = DateRange(args.get("date_from"), args.get("date_to"))
    return SearchQuery(
        text=args["q"].strip(),
        allowed=frozenset(user_keys(user(), date.today())),
        filters=filters,
        date_ranges=ranges,
        sort=args["sort"],
        page=args["page"],
        page_size=PAGE_SIZE,
        facets=FACETS,
    )


@blp.route("")
@blp.arguments(schemas.SearchQuerySchema, location="query")
@blp.response(200, schemas.SearchResultSchema)
@scoped(blp, "search")
def search(args: dict):
    """Words, "phrases" and prefix* over letters and their documents' text"""
    results = search_backend().search(_query(args))
    hits = [
        {"letter": summary(letter), "highlights": hit.highlights}
        for letter, hit in checked_hits(db.session, user(), results.hits)
    ]
    return {
        "total": results.total,
        "total_estimated": results.estimated,
        "page": args["page"],
        "page_size": PAGE_SIZE,
        "hits": hits,
        "facets": results.facets,
    }
