"""Signing in (a password, then a code for those who turned the second factor on) and out, the
session's clock, and the account page. The password and two-step pages are in account_security.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.blueprints.main import _same_site
from app.extensions import db, limiter
from app.services import sign_in
from app.services.sign_in import Expiry, Outcome, SignInSettings, epoch

bp = Blueprint("auth", __name__)

SIGNED_IN_AT = "sign_in.at"
SEEN_AT = "sign_in.seen"
PENDING = "sign_in.pending"  # the password was right: {"user", "at", "next"} until the code
MUST_ENROL = "sign_in.must_enrol"
SEEN_EVERY_S = 10  # the idle clock is refreshed at most this often (fewer new cookies)
# What a user who must set up the second factor may still reach.
ENROLMENT_ENDPOINTS = {
    "auth.two_factor",
    "auth.two_factor_enable",
    "auth.logout",
    "main.set_locale",
    "static",
}


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=40)])


def settings() -> SignInSettings:
    return SignInSettings.from_config(current_app.config)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# Only failed attempts count: a successful step redirects.
limit_failures = limiter.limit(
    _login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302
)


@bp.route("/login", methods=["GET", "POST"])
@limit_failures
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = sign_in.check_password(
            db.session,
            settings(),
            form.username.data.strip(),
            form.password.data,
            request.remote_addr or "",
        )
        if attempt.outcome is Outcome.SECOND_FACTOR:
            session.clear()  # nothing from before the sign-in carries over
            session[PENDING] = {
                "user": attempt.user.id,
                "at": epoch(sign_in.now()),
                "next": _next(),
            }
            return redirect(url_for("auth.login_code"))
        if attempt.outcome is Outcome.SIGNED_IN:
            return _open_session(attempt.user, _next())
        _refuse(attempt)
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/login/code", methods=["GET", "POST"])
@limit_failures
def login_code():
    pending = session.get(PENDING)
    if not pending:
        return redirect(url_for("auth.login"))
    if epoch(sign_in.now()) - pending["at"] > sign_in.SECOND_STEP_MINUTES * 60:
        session.pop(PENDING)
        flash(_("The code must follow the password within a few minutes: sign in again."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        attempt = sign_in.check_code(
            db.session, settings(), pending["user"], form.code.data, request.remote_addr or ""
        )
        if attempt.outcome is Outcome.SIGNED_IN:
            return _open_session(attempt.user, pending.get("next"))
        if attempt.outcome is Outcome.LOCKED:
            session.pop(PENDING)
            _refuse(attempt)
            return redirect(url_for("auth.login"))
        flash(_("This code is not the right one."), "error")
    status = 200 if request.method == "GET" else 401
    return render_template("auth/login_code.html", form=form), status


def _next() -> str | None:
    return _same_site(request.args.get("next"))


def _refuse(attempt: sign_in.Attempt) -> None:
    if attempt.outcome is Outcome.LOCKED:
        # The sign-in page's time zone and language: a known and an unknown name read the same.
        until = format_datetime(attempt.locked_until, "short")
        flash(
            _(
                "This account is locked after too many failed sign-in attempts. "
                "Try again after %(time)s.",
                time=until,
            ),
            "error",
        )
    else:
        flash(_("Wrong username or password."), "error")


def _open_session(user, target: str | None):
    session.clear()  # a fresh session (no fixation): the CSRF token is renewed too
    login_user(user)
    session[SIGNED_IN_AT] = session[SEEN_AT] = epoch(sign_in.now())
    if settings().must_enrol(user):
        session[MUST_ENROL] = True
        flash(_("Your role requires a two-step sign-in: set it up now to continue."), "info")
        return redirect(url_for("auth.two_factor"))
    return redirect(target or url_for("main.index"))


@bp.before_app_request
def _session_clock():
    """End a session idle or old enough; keep a user who must enrol on the enrolment page."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    if not current_user.is_authenticated:
        return None
    moment = epoch(sign_in.now())
    reason = sign_in.expiry(
        settings(),
        current_user.password_changed_at,
        session.get(SIGNED_IN_AT),
        session.get(SEEN_AT),
        sign_in.now(),
    )
    if reason is not None:
        return _expired(reason)
    if moment - session[SEEN_AT] >= SEEN_EVERY_S:
        session[SEEN_AT] = moment
    if session.get(MUST_ENROL) and request.endpoint not in ENROLMENT_ENDPOINTS:
        return redirect(url_for("auth.two_factor"))
    return None


def expiry_message(reason: Expiry) -> str:
    """What a user whose session ended is told (the portal's citizens too)."""
    config = current_app.config
    messages = {
        Expiry.IDLE: _(
            "You were signed out after %(minutes)s minutes without activity. "
            "Sign in again to continue.",
            minutes=config["SESSION_IDLE_MINUTES"],
        ),
        Expiry.LIFETIME: _(
            "You were signed out: a session lasts at most %(hours)s hours. "
            "Sign in again to continue.",
            hours=config["SESSION_MAX_HOURS"],
        ),
        Expiry.PASSWORD: _("Your password was changed: sign in again with the new one."),
        Expiry.UNKNOWN: _("Your session has ended. Sign in again to continue."),
    }
    return messages[reason]


def _expired(reason: Expiry):
    logout_user()
    session.clear()
    flash(expiry_message(reason), "info")
    if request.method == "GET":
        target = _same_site(request.full_path.rstrip("?"))
    else:  # a form sent after the session ended: back to the page it was on
        referrer = urlsplit(request.referrer or "")
        same_host = referrer.netloc == request.host
        target = _same_site(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
        target = target if same_host else None
    return redirect(url_for("auth.login", next=target))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    for key in (SIGNED_IN_AT, SEEN_AT, MUST_ENROL, PENDING):
        session.pop(key, None)
    return redirect(url_for("auth.login"))


class PreferencesForm(FlaskForm):
    show_hijri = BooleanField("show_hijri")


@bp.get("/account")
@login_required
def account():
    form = PreferencesForm(show_hijri=current_user.show_hijri)
    return render_template(
        "auth/account.html", form=form, may_use_totp=settings().may_use_totp(current_user)
    )


@bp.post("/account/preferences")
@login_required
def preferences():
    form = PreferencesForm()
    if form.validate_on_submit():
        current_user.show_hijri = bool(form.show_hijri.data)
        db.session.commit()  # a display preference: not a registry change, no audit event
        flash(_("Your preferences were saved."), "success")
    return redirect(url_for("auth.account"))


from app.blueprints import account_security  # noqa: E402, F401  (its routes are on bp)
