"""/api/v1/inboxes: the caller's work queues (their own, and those of absent colleagues they
substitute today) with their counts, and one queue's tab by cursor, as the inbox page."""

from __future__ import annotations

from datetime import date

from flask import url_for
from flask_smorest import Blueprint

from app.blueprints.api import schemas
from app.blueprints.api.auth import scoped, user
from app.blueprints.api.letters import summary
from app.blueprints.api.pagination import decode_id, encode_id
from app.blueprints.api.problems import ApiProblem
from app.extensions import db
from app.services import inbox

blp = Blueprint(
    "api_inboxes", __name__, url_prefix="/api/v1/inboxes", description="Departments' work queues"
)


def _queues(today: date) -> list[tuple[object, list[int] | None, bool]]:
    """(owner, letter types or None, delegated) for each queue the caller may open."""
    me = user()
    found = [(me, None, False)] if inbox.has_inbox(me) else []
    for queue in inbox.delegated_queues(db.session, me, today):
        found.append((queue.owner, queue.letter_type_ids, True))
    return found


@blp.route("")
@blp.response(200, schemas.QueueSchema(many=True))
@scoped(blp, "letters:read")
def index():
    """The caller's queues and their counts"""
    today = date.today()
    return [
        {
            "owner_id": owner.id,
            "owner": owner.full_name,
            "department_id": owner.department_id,
            "delegated": delegated,
            "counts": inbox.counts(db.session, owner, today, types),
            "url": url_for("api_inboxes.show", owner_id=owner.id),
        }
        for owner, types, delegated in _queues(today)
    ]


@blp.route("/<int:owner_id>")
@blp.arguments(schemas.InboxQuerySchema, location="query", as_kwargs=True)
@blp.response(200, schemas.InboxPageSchema)
@scoped(blp, "letters:read")
def show(owner_id: int, limit: int, tab: str | None = None, cursor: str | None = None):
    """One queue's tab, newest routing first (owner_id: the caller's own id, or an absent
    colleague's they substitute today)"""
    today = date.today()
    queue = next((q for q in _queues(today) if q[0].id == owner_id), None)
    if queue is None:
        raise ApiProblem("not_found")
    owner, types, _delegated = queue
    tab = tab or inbox.default_tab(owner)
    page = inbox.list_page(
        db.session, owner, tab, today, after=decode_id(cursor), limit=limit, letter_type_ids=types
    )
    return {
        "owner_id": owner.id,
        "tab": tab,
        "counts": inbox.counts(db.session, owner, today, types),
        "items": [
            {
                "assignment_id": a.id,
                "kind": a.kind,
                "state": a.state,
                "agent": a.agent.full_name if a.agent else None,
                "due_on": a.due_on,
                "letter": summary(a.letter),
            }
            for a in page.assignments
        ],
        "next_cursor": encode_id(page.next_cursor),
    }
