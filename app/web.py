"""Wiring the web application: extensions, locale, blueprints, error pages, security headers."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, has_request_context, render_template, request
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from app.database import configure_engine
from app.extensions import babel, csrf, db, limiter, login_manager, migrate
from app.models import User

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
LOCALE_COOKIE = "diwan_locale"


def init_app(app: Flask) -> None:
    from app import jobs, observability
    from app.blueprints import ops

    observability.init_app(app)  # logs and request ids first: every later hook is covered
    app.register_blueprint(ops.bp)  # /healthz, /readyz, /metrics
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    jobs.init_app(app)  # commits that write an outbox ask the worker for its drain
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "info"

    from app.blueprints import (
        admin,
        auth,
        certificates,
        dashboard,
        delegations,
        inbox,
        letters,
        main,
        notifications,
        parapheur,
        pki_endpoints,
        portal,
        processing,
        registry,
        replies,
        search,
        security_keys,
        transparency,
        verification,
        webhooks_admin,
    )

    blueprints = (
        main,
        auth,
        registry,
        letters,
        processing,
        replies,
        inbox,
        notifications,
        admin,
        delegations,
        parapheur,
        certificates,
        security_keys,
        pki_endpoints,
        verification,
        search,
        portal,
        webhooks_admin,
        dashboard,
        transparency,
    )
    for blueprint in (module.bp for module in blueprints):
        app.register_blueprint(blueprint)

    from app import cli

    cli.register(app)
    from app import formatting
    from app.labels import TEMPLATE_HELPERS
    from app.services.inbox import has_inbox

    app.jinja_env.globals.update(TEMPLATE_HELPERS)
    app.jinja_env.globals["has_inbox"] = has_inbox
    app.jinja_env.filters["role_label"] = TEMPLATE_HELPERS["role_label"]
    app.jinja_env.filters["bdi"] = formatting.bdi
    app.jinja_env.filters["filesize"] = formatting.filesize
    app.jinja_env.filters["approximate"] = formatting.approximate
    app.jinja_env.filters["hijri"] = formatting.hijri
    app.context_processor(_template_context)
    app.after_request(_security_headers)
    _error_pages(app)
    from app.blueprints import api, api_tokens

    app.register_blueprint(api_tokens.bp)
    api.init_app(app)  # after the error pages: API paths answer problem+json instead


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def locales(app: Flask | None = None) -> list[str]:
    from flask import current_app

    return [code.strip() for code in (app or current_app).config["LOCALES"].split(",")]


def select_locale() -> str:
    """The user's saved choice, then the cookie, then the browser's languages."""
    from flask import current_app

    available = locales()
    if not has_request_context():  # CLI, background work: the installation's language
        return current_app.config["DEFAULT_LOCALE"]
    if current_user.is_authenticated and current_user.locale in available:
        return current_user.locale
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in available:
        return cookie
    return request.accept_languages.best_match(available) or current_app.config["DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Times are shown in the organisation's own time zone."""
    from flask import current_app

    if has_request_context() and getattr(g, "timezone", None):
        return g.timezone  # a public page about one organisation (the portal)
    if has_request_context() and current_user.is_authenticated:
        return current_user.organisation.timezone
    return current_app.config["DEFAULT_TIMEZONE"]


def _template_context() -> dict:
    from app.services.reminders import unread_count

    locale = get_locale()
    unread = 0
    if has_request_context() and current_user.is_authenticated:
        unread = unread_count(db.session, current_user)
    language = locale.language if locale else "ar"
    return {
        "lang": language,
        "text_direction": locale.text_direction if locale else "rtl",
        "available_locales": locales(),
        "unread_notifications": unread,
    }


def _security_headers(response):
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _error_pages(app: Flask) -> None:
    messages = {
        400: _l("The request could not be understood."),
        403: _l("You do not have the right to see this page."),
        404: _l("This page does not exist, or you cannot see it."),
        413: _l(
            "The upload is too large. Nothing was registered; the limit is %(mb)s MB per file."
        ),
        429: _l("Too many attempts. Wait a few minutes and try again."),
        500: _l("Something went wrong."),  # the page shows the request id to quote
    }

    def render_error(error):
        code = getattr(error, "code", 500) or 500
        message = messages.get(code, _l("Something went wrong."))
        if code == 413:
            message = _l(
                "The upload is too large. Nothing was registered; the limit is %(mb)s MB per file.",
                mb=format_decimal(app.config["MAX_UPLOAD_MB"]),
            )
        return render_template("error.html", code=code, message=message), code

    for code in messages:
        app.register_error_handler(code, render_error)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        message = _l("Your form expired or was sent from elsewhere. Reload the page and try again.")
        return render_template("error.html", code=400, message=message), 400
