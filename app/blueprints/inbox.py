"""A department's inbox (work queue) with its counts, and the queues of absent colleagues the
user substitutes (?for=<their id>)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from app.extensions import db
from app.services import inbox

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


@bp.get("")
@login_required
def show():
    today = date.today()
    queues = inbox.delegated_queues(db.session, current_user, today)
    for_id = request.args.get("for", type=int)
    if for_id is None and not inbox.has_inbox(current_user) and queues:
        for_id = queues[0].owner.id  # no queue of one's own: the first delegated one
    if for_id is None:
        if not inbox.has_inbox(current_user):
            abort(403)
        owner, letter_type_ids = current_user, None
    else:
        queue = next((q for q in queues if q.owner.id == for_id), None)
        if queue is None:
            abort(404)  # not someone this user substitutes today
        owner, letter_type_ids = queue.owner, queue.letter_type_ids
    tab = request.args.get("tab") or inbox.default_tab(owner)
    if tab not in inbox.TABS:
        abort(404)
    after = request.args.get("after", type=int)
    page = inbox.list_page(
        db.session,
        owner,
        tab,
        today,
        after=after,
        limit=current_app.config["PAGE_SIZE"],
        letter_type_ids=letter_type_ids,
    )
    return render_template(
        "inbox/show.html",
        tab=tab,
        tabs=inbox.TABS,
        counts=inbox.counts(db.session, owner, today, letter_type_ids),
        page=page,
        today=today,
        owner=owner,
        for_id=for_id,
        queues=queues,
        has_own_inbox=inbox.has_inbox(current_user),
    )
