"""Absence and delegation: name a substitute for some days, see whom one stands in for, revoke."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import InputRequired

from app.blueprints.choices import letter_type_choices
from app.blueprints.common import current_actor
from app.extensions import db
from app.forms import ActionForm, optional_int
from app.models import Delegation, Department, User
from app.services import delegations
from app.services.errors import NotAllowed, ServiceError

bp = Blueprint("delegations", __name__, url_prefix="/delegations")


class DelegationForm(FlaskForm):
    substitute_id = SelectField(_l("Substitute"), coerce=optional_int, validate_choice=False)
    starts_on = DateField(_l("First day of the absence"), validators=[InputRequired()])
    ends_on = DateField(_l("Last day of the absence"), validators=[InputRequired()])
    # The service checks both choices (and names the problem beside the field).
    letter_type_id = SelectField(
        _l("Letters handed over"), coerce=optional_int, validate_choice=False
    )


def _substitute_choices() -> list[tuple[int | str, str]]:
    """The organisation's active users but oneself, with their department's code."""
    rows = db.session.execute(
        select(User, Department.code)
        .outerjoin(Department, Department.id == User.department_id)
        .where(
            User.organisation_id == current_user.organisation_id,
            User.active.is_(True),
            User.id != current_user.id,
        )
        .order_by(User.full_name)
    )
    return [("", "—")] + [
        (user.id, f"{user.full_name} — {code}" if code else user.full_name) for user, code in rows
    ]


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    form = DelegationForm()
    form.substitute_id.choices = _substitute_choices()
    form.letter_type_id.choices = letter_type_choices(
        current_user.organisation_id, _("Every letter type")
    )
    status = 200
    if form.validate_on_submit():
        try:
            delegations.create_delegation(
                db.session,
                current_actor(),
                form.substitute_id.data,
                form.starts_on.data,
                form.ends_on.data,
                form.letter_type_id.data,
            )
        except ServiceError as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is None:
                flash(str(error.message), "error")
            else:
                field.errors = [*field.errors, error.message]
            status = 422
        else:
            flash(_("Your substitute was named."), "success")
            return redirect(url_for("delegations.index"))
    elif form.is_submitted():
        flash(_("Check the highlighted fields."), "error")
        status = 422
    return (
        render_template(
            "delegations.html",
            form=form,
            action_form=ActionForm(),
            given=delegations.delegations_given(db.session, current_user),
            received=delegations.delegations_received(db.session, current_user),
            today=date.today(),
        ),
        status,
    )


@bp.post("/<int:delegation_id>/revoke")
@login_required
def revoke(delegation_id: int):
    delegation = db.session.get(Delegation, delegation_id)
    if delegation is None or delegation.organisation_id != current_user.organisation_id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        delegations.revoke_delegation(db.session, current_actor(), delegation)
    except NotAllowed:
        abort(403)
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The delegation was revoked."), "success")
    return redirect(url_for("delegations.index"))
