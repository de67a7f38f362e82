"""A department's inbox (work queue) with its counts."""

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
    if not inbox.has_inbox(current_user):
        abort(403)
    tab = request.args.get("tab") or inbox.default_tab(current_user)
    if tab not in inbox.TABS:
        abort(404)
    today = date.today()
    after = request.args.get("after", type=int)
    page = inbox.list_page(
        db.session, current_user, tab, today, after=after, limit=current_app.config["PAGE_SIZE"]
    )
    return render_template(
        "inbox/show.html",
        tab=tab,
        tabs=inbox.TABS,
        counts=inbox.counts(db.session, current_user, today),
        page=page,
        today=today,
    )
