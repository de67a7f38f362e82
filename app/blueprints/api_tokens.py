"""Pages for API access: a user's personal tokens (/account/api-tokens) and, for administrators,
the organisation's service accounts and their tokens (/admin/api-clients). A new token is shown
once, on the page that answers its creation; lists show its first characters only."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, Optional

from app.blueprints.choices import department_choices
from app.blueprints.common import current_actor, require
from app.extensions import db
from app.labels import role_label
from app.models import Role, User
from app.models.api import ApiToken
from app.permissions import can_manage_organisation
from app.services import api_tokens
from app.services.errors import ServiceError
from app.timezones import local_midnight_in_utc

bp = Blueprint("api_tokens", __name__)


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    scopes = CheckboxesField(_l("Scopes"), validators=[DataRequired()])
    expires_on = DateField(_l("Expires on (optional)"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scopes.choices = [(scope, label) for scope, label in api_tokens.SCOPES.items()]


class ServiceAccountForm(FlaskForm):
    name = StringField(
        _l("Name of the connected system"), validators=[DataRequired(), Length(max=120)]
    )
    roles = CheckboxesField(_l("Roles"), validators=[DataRequired()])
    department_id = SelectField(_l("Department"), coerce=lambda v: int(v) if v else None)


class RevokeForm(FlaskForm):
    pass


def _expiry(form: TokenForm) -> datetime | None:
    """The end of the chosen day in the organisation's time zone (stored in UTC)."""
    day = form.expires_on.data
    if day is None:
        return None
    return local_midnight_in_utc(day + timedelta(days=1), current_user.organisation.timezone)


def _create(form: TokenForm, user: User) -> str | None:
    try:
        _token, secret = api_tokens.create_token(
            db.session,
            current_actor(),
            user=user,
            name=form.name.data,
            scopes=form.scopes.data,
            expires_at=_expiry(form),
        )
    except ServiceError as error:
        field = getattr(form, error.field or "", None)
        if field is None:
            flash(str(error.message), "error")
        else:
            field.errors = [*field.errors, error.message]
        return None
    return secret


# -- personal tokens -------------------------------------------------------------------------------


@bp.route("/account/api-tokens", methods=["GET", "POST"])
@login_required
def personal():
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        secret = _create(form, current_user)
        if secret is not None:
            form = TokenForm(formdata=None)
    status = 422 if form.is_submitted() and secret is None else 200
    return (
        render_template(
            "api/tokens.html",
            form=form,
            tokens=api_tokens.tokens_of(db.session, current_user),
            new_token=secret,
            revoke_form=RevokeForm(),
        ),
        status,
    )


def _token_or_404(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.organisation_id != current_user.organisation_id:
        abort(404)
    return token


@bp.post("/account/api-tokens/<int:token_id>/revoke")
@login_required
def revoke_personal(token_id: int):
    token = _token_or_404(token_id)
    if token.user_id != current_user.id or not RevokeForm().validate_on_submit():
        abort(404 if token.user_id != current_user.id else 400)
    api_tokens.revoke_token(db.session, current_actor(), token)
    flash(_("The token was revoked."), "success")
    return redirect(url_for("api_tokens.personal"))


# -- service accounts ------------------------------------------------------------------------------


def _account_form() -> ServiceAccountForm:
    form = ServiceAccountForm()
    form.roles.choices = [(role.value, role_label(role)) for role in Role]
    form.department_id.choices = [("", "—"), *department_choices(current_user.organisation_id)]
    return form


def _clients_page(form, token_form=None, secret=None, for_user=None, status=200):
    accounts = api_tokens.service_accounts(db.session, current_user.organisation_id)
    return (
        render_template(
            "api/clients.html",
            form=form,
            accounts=[(a, api_tokens.tokens_of(db.session, a)) for a in accounts],
            token_form=token_form or TokenForm(formdata=None),
            new_token=secret,
            new_token_user=for_user,
            revoke_form=RevokeForm(),
        ),
        status,
    )


@bp.route("/admin/api-clients", methods=["GET", "POST"])
@login_required
def clients():
    require(can_manage_organisation)
    form = _account_form()
    if form.validate_on_submit():
        try:
            api_tokens.create_service_account(
                db.session,
                current_actor(),
                name=form.name.data,
                roles=form.roles.data,
                department_id=form.department_id.data,
            )
        except ServiceError as error:
            flash(str(error.message), "error")
            return _clients_page(form, status=422)
        flash(_("The service account was created. Issue it a token."), "success")
        return redirect(url_for("api_tokens.clients"))
    return _clients_page(form, status=422 if form.is_submitted() else 200)


def _service_account_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if (
        user is None
        or user.organisation_id != current_user.organisation_id
        or not api_tokens.is_service_account(user)
    ):
        abort(404)
    return user


@bp.post("/admin/api-clients/<int:user_id>/tokens")
@login_required
def issue_service_token(user_id: int):
    require(can_manage_organisation)
    account = _service_account_or_404(user_id)
    token_form = TokenForm()
    secret = _create(token_form, account) if token_form.validate_on_submit() else None
    status = 200 if secret is not None else 422
    return _clients_page(_account_form(), token_form, secret, account, status)


@bp.post("/admin/api-clients/tokens/<int:token_id>/revoke")
@login_required
def revoke_service_token(token_id: int):
    require(can_manage_organisation)
    token = _token_or_404(token_id)
    if not RevokeForm().validate_on_submit():
        abort(400)
    api_tokens.revoke_token(db.session, current_actor(), token)
    flash(_("The token was revoked."), "success")
    return redirect(url_for("api_tokens.clients"))
