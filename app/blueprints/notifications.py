"""The user's deadline reminders and escalations."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select, update

from app.database import write_transaction
from app.extensions import db
from app.forms import ActionForm
from app.models import Notification
from app.models.base import utcnow
from app.permissions import can_view_letter

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("")
@login_required
def show():
    notifications = db.session.scalars(
        select(Notification)
        .where(Notification.user_id == current_user.id)
        .order_by(Notification.id.desc())
        .limit(200)
    )
    visible = [n for n in notifications if can_view_letter(current_user, n.letter)]
    return render_template("notifications.html", notifications=visible, form=ActionForm())


@bp.post("/read")
@login_required
def mark_read():
    if ActionForm().validate_on_submit():
        with write_transaction(db.session):
            db.session.execute(
                update(Notification)
                .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
                .values(read_at=utcnow())
            )
    return redirect(url_for("notifications.show"))
