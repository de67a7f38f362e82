"""Home and the language switch (health checks: app/blueprints/ops.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user

from app.extensions import db
from app.permissions import can_view_register
from app.services.inbox import has_inbox
from app.web import LOCALE_COOKIE, locales

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if can_view_register(current_user):
        return redirect(url_for("registry.register_list", register="incoming"))
    if has_inbox(current_user):
        return redirect(url_for("inbox.show"))
    return redirect(url_for("auth.account"))


@bp.post("/locale")
def set_locale():
    """Remember the chosen language: on the account when signed in, in a cookie always."""
    locale = request.form.get("locale", "")
    if locale not in locales():
        locale = current_app.config["DEFAULT_LOCALE"]
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    response = redirect(_same_site(request.form.get("next")) or url_for("main.index"))
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def _same_site(target: str | None) -> str | None:
    """Only redirect to a path on this site (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
