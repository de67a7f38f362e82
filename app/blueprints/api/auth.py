"""API authentication: `Authorization: Bearer <token>` only (never the session cookie, so CSRF
does not apply), the token's scope for each operation, and the token's user as the acting user
so views call the same services and permission checks as the pages."""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from app.blueprints.api.problems import ApiProblem, is_api_request
from app.extensions import db, login_manager
from app.models import Letter, User
from app.models.api import ApiToken
from app.permissions import can_view_letter
from app.services import api_tokens
from app.services.actor import Actor

MAX_ID = 2**31 - 1  # a larger path id names no row (and would overflow the database integer)
PUBLIC = "api_public"  # attribute of a view function open without a token
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="diwan"'}


def public(view):
    setattr(view, PUBLIC, True)
    return view


def _is_public(endpoint: str) -> bool:
    if endpoint.startswith("api-docs."):  # flask-smorest's openapi.json
        return True
    return getattr(current_app.view_functions.get(endpoint), PUBLIC, False)


def authenticate_request() -> None:
    """Run before every API view (an app-level before_request)."""
    if not is_api_request() or request.endpoint is None:
        return
    # No one is signed in until the token says who: the session cookie is never read here, and
    # the language comes from Accept-Language, not from a signed-in user's preference.
    g._login_user = login_manager.anonymous_user()
    get_locale()
    if _is_public(request.endpoint):
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(
            "unauthenticated",
            _l("Send the header Authorization: Bearer <token>."),
            headers=CHALLENGE,
        )
    token = api_tokens.authenticate(db.session, secret.strip())
    if token is None:
        raise ApiProblem(
            "unauthenticated", _l("The token is unknown, revoked or expired."), headers=CHALLENGE
        )
    api_tokens.touch(db.session, token)
    g.api_token = token
    g._login_user = token.user


def current_token() -> ApiToken:
    return g.api_token


def user() -> User:
    return g.api_token.user


def actor() -> Actor:
    return Actor(user=user(), remote_addr=request.remote_addr or "")


def require_scope(scope: str) -> None:
    if scope not in (current_token().scopes or ()):
        raise ApiProblem(
            "scope_missing", _l("This operation needs the scope %(scope)s.", scope=scope)
        )


def scoped(blp, scope: str):
    """Check the token's scope before the view, and say which one in the OpenAPI document."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require_scope(scope)
            return view(*args, **kwargs)

        return blp.doc(security=[{"bearerAuth": []}], **{"x-scope": scope})(wrapper)

    return decorator


def require(allowed: bool) -> None:
    if not allowed:
        raise ApiProblem("forbidden")


def letter_or_404(letter_id: int) -> Letter:
    """As the pages do: another organisation's letter and an invisible one are both 404."""
    letter = db.session.get(Letter, letter_id) if 0 < letter_id <= MAX_ID else None
    if letter is None or not can_view_letter(user(), letter):
        raise ApiProblem("not_found")
    return letter


def limit_key() -> str:
    """Rate limits count per token (by its digest), or per address without one."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return "api-token:" + api_tokens.digest(secret.strip())[:32]
    return "api-addr:" + (request.remote_addr or "")
