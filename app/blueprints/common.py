"""What every view needs: the acting user, object look-ups scoped to the organisation."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, request
from flask_login import current_user

from app.extensions import db
from app.models import Letter, User
from app.permissions import can_view_letter
from app.services.actor import Actor


def current_actor() -> Actor:
    return Actor(user=current_user._get_current_object(), remote_addr=request.remote_addr or "")


def require(allowed: Callable[[User], bool]) -> None:
    if not allowed(current_user):
        abort(403)


def letter_or_404(letter_id: int) -> Letter:
    """The letter if this user may see it; otherwise 404, so its existence is not revealed."""
    letter = db.session.get(Letter, letter_id)
    if letter is None or not can_view_letter(current_user, letter):
        abort(404)
    return letter
