"""The account's security pages (routes on the auth blueprint): changing one's password, and
turning the two-step sign-in (TOTP) on and off."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.blueprints.auth import MUST_ENROL, SIGNED_IN_AT, bp, limit_failures, settings
from app.blueprints.common import current_actor
from app.extensions import db
from app.services import passwords, sealing, sign_in, totp
from app.services.errors import ServiceError
from app.services.passwords import PasswordRefused

# The secret being enrolled, sealed (the cookie is only signed).
PENDING_SECRET = "totp.pending"  # noqa: S105 - a session key, not a secret
ISSUER = "Diwan"


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirmation = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(),
            EqualTo("new", message=_l("The two new passwords are not the same.")),
        ],
    )


class EnableForm(FlaskForm):
    code = StringField(
        _l("Code shown by the application"), validators=[DataRequired(), Length(max=20)]
    )


class DisableForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    code = StringField(_l("Code or recovery code"), validators=[DataRequired(), Length(max=40)])


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limit_failures
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            passwords.change_password(
                db.session, current_actor(), current=form.current.data, new=form.new.data
            )
        except PasswordRefused as refused:
            form.new.errors = [str(problem) for problem in refused.problems]
        except ServiceError as error:
            form.current.errors = [str(error.message)]
        else:
            # This session goes on; those opened elsewhere before the change end.
            changed = sign_in.epoch(current_user.password_changed_at)
            session[SIGNED_IN_AT] = max(sign_in.epoch(sign_in.now()), changed)
            flash(_("Your password was changed."), "success")
            return redirect(url_for("auth.account"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/password.html", form=form, policy=passwords.PasswordPolicy.current()
    ), status


def _may_enrol() -> None:
    if not settings().may_use_totp(current_user):
        abort(403)


def _pending_secret() -> str:
    """The secret offered on the enrolment page, the same until it is confirmed."""
    secret_key = current_app.config["SECRET_KEY"]
    sealed = session.get(PENDING_SECRET)
    if sealed:
        try:
            return totp.open_secret(secret_key, sealed)
        except sealing.InvalidToken:
            pass
    secret = totp.new_secret()
    session[PENDING_SECRET] = totp.seal_secret(secret_key, secret)
    return secret


def _two_factor_page(enable_form=None, disable_form=None, status=200):
    context = {
        "enable_form": enable_form or EnableForm(),
        "disable_form": disable_form or DisableForm(),
    }
    if not current_user.totp_enabled:
        secret = _pending_secret()
        uri = totp.provisioning_uri(secret, current_user.username, ISSUER)
        context.update(secret=totp.grouped(secret), qr=totp.qr_data_uri(uri))
    context["recovery_left"] = len(current_user.totp_recovery_codes or [])
    context["required"] = bool(current_user.roles & settings().required_roles)
    return render_template("auth/two_factor.html", **context), status


@bp.get("/account/two-step")
@login_required
def two_factor():
    _may_enrol()
    return _two_factor_page()


@bp.post("/account/two-step/enable")
@login_required
def two_factor_enable():
    _may_enrol()
    form = EnableForm()
    if not form.validate_on_submit():
        return _two_factor_page(enable_form=form, status=422)
    try:
        codes = totp.enable(
            db.session,
            current_actor(),
            secret_key=current_app.config["SECRET_KEY"],
            secret=_pending_secret(),
            code=form.code.data,
        )
    except ServiceError as error:
        form.code.errors = [str(error.message)]
        return _two_factor_page(enable_form=form, status=422)
    session.pop(PENDING_SECRET, None)
    session.pop(MUST_ENROL, None)
    flash(_("The two-step sign-in is on."), "success")
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/two-step/disable")
@login_required
@limit_failures
def two_factor_disable():
    form = DisableForm()
    if not form.validate_on_submit():
        return _two_factor_page(disable_form=form, status=422)
    if current_user.roles & settings().required_roles:
        flash(_("Your role requires the two-step sign-in: it cannot be turned off."), "error")
        return _two_factor_page(disable_form=form, status=422)
    try:
        totp.disable(
            db.session,
            current_actor(),
            secret_key=current_app.config["SECRET_KEY"],
            password=form.password.data,
            code=form.code.data,
        )
    except ServiceError as error:
        field = form.password if error.field == "password" else form.code
        field.errors = [str(error.message)]
        return _two_factor_page(disable_form=form, status=422)
    flash(_("The two-step sign-in is off."), "success")
    return redirect(url_for("auth.account"))
