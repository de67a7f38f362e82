"""The organisation's administration: routing rules, letter types' deadline rules, closure days,
reply templates, signature circuits and the request types published on the e-counter.

Every page is for the organisation's administrators (403 for anyone else) and every object is
looked up in the administrator's own organisation (404 otherwise).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.blueprints import parapheur
from app.blueprints.choices import contact_choices, department_choices, letter_type_choices
from app.blueprints.common import current_actor
from app.extensions import db, login_manager
from app.forms import ActionForm, language_choices, optional_int
from app.models import (
    IDENTITY_FIELDS,
    Closure,
    Contact,
    Department,
    EmailMode,
    LetterType,
    PortalRequestType,
    ReplyTemplate,
    RoutingRule,
)
from app.models.signing import CircuitTemplate
from app.permissions import can_manage_organisation
from app.services import circuits, configuration, routing_rules
from app.services import portal_types as portal_type_service
from app.services import transparency as transparency_service
from app.services.errors import ServiceError
from app.services.replies import PLACEHOLDER_NAMES

bp = Blueprint("admin", __name__, url_prefix="/admin")

CONTACT_CHOICES_LIMIT = 200


@bp.before_request
def _administrators_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not can_manage_organisation(current_user):
        abort(403)
    return None


def _locale() -> str:
    return str(get_locale() or "ar")


# --- Forms -------------------------------------------------------------------------------------


class RuleForm(FlaskForm):
    name = StringField(_l("Name of the rule"), validators=[DataRequired(), Length(max=200)])
    position = IntegerField(_l("Position (lowest first)"), default=0, validators=[InputRequired()])
    letter_type_id = SelectField(_l("Letter type"), coerce=optional_int, validate_choice=False)
    correspondent_id = SelectField(_l("Correspondent"), coerce=optional_int, validate_choice=False)
    keywords = StringField(_l("Keywords in the subject"), validators=[Length(max=500)])
    action_department_id = SelectField(
        _l("Department for action"), coerce=int, validate_choice=False
    )
    copy_department_ids = SelectMultipleField(
        _l("Copies for information"), coerce=int, validate_choice=False
    )
    apply_automatically = BooleanField(_l("Route automatically at registration"))


class DeadlineForm(FlaskForm):
    deadline_days = IntegerField(_l("Deadline (days)"), validators=[Optional()])
    deadline_unit = SelectField(_l("Counted in"), validate_choice=False)
    extension_days = IntegerField(
        _l("Days added by one extension"), default=0, validators=[InputRequired()]
    )
    max_extensions = IntegerField(_l("Extensions allowed"), default=0, validators=[InputRequired()])
    pausable = BooleanField(_l("The clock may be stopped while waiting for the correspondent"))
    urgent_days = IntegerField(_l("Deadline on the urgent track (days)"), validators=[Optional()])
    urgent_extension_days = IntegerField(
        _l("Days added by one extension on the urgent track"), validators=[Optional()]
    )
    acknowledge_days = IntegerField(
        _l("Acknowledge receipt within (days)"), validators=[Optional()]
    )


class ClosureForm(FlaskForm):
    day = DateField(_l("Day"), validators=[InputRequired()])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])


def unit_choices():
    return [("working", _l("Working days")), ("calendar", _l("Calendar days"))]


# --- Look-ups, scoped to the administrator's organisation ---------------------------------------


def _own_or_404(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None or found.organisation_id != current_user.organisation_id:
        abort(404)
    return found


def _letter_types(include_inactive: bool = False) -> list[LetterType]:
    stmt = select(LetterType).where(LetterType.organisation_id == current_user.organisation_id)
    if not include_inactive:
        stmt = stmt.where(LetterType.active.is_(True))
    return list(db.session.scalars(stmt.order_by(LetterType.code)))


def _rule_form(rule: RoutingRule | None = None) -> RuleForm:
    form = RuleForm(obj=rule if request.method == "GET" else None)
    if request.method == "POST":
        try:
            selected = optional_int(request.form.get("correspondent_id"))
        except ValueError:
            selected = None
    else:
        selected = rule.correspondent_id if rule else None
    form.letter_type_id.choices = letter_type_choices(current_user.organisation_id, _("— any —"))
    form.correspondent_id.choices = contact_choices(
        current_user.organisation_id, selected, _("— any —")
    )
    form.action_department_id.choices = department_choices(current_user.organisation_id)
    form.copy_department_ids.choices = form.action_department_id.choices
    return form


def _show_error(form: FlaskForm, error: ServiceError) -> None:
    """A service refusal beside its field when the form has it, else as a message."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        flash(str(error.message), "error")
    else:
        field.errors = [*field.errors, error.message]


def _rule_values(form: RuleForm) -> dict:
    return {
        "name": form.name.data or "",
        "position": form.position.data,
        "letter_type_id": form.letter_type_id.data,
        "correspondent_id": form.correspondent_id.data,
        "keywords": form.keywords.data or "",
        "action_department_id": form.action_department_id.data,
        "copy_department_ids": form.copy_department_ids.data or [],
        "apply_automatically": bool(form.apply_automatically.data),
    }


# --- Pages -------------------------------------------------------------------------------------


@bp.get("/")
def index():
    return render_template("admin/index.html")


@bp.get("/rules")
def rules():
    organisation_id = current_user.organisation_id
    rules = list(
        db.session.scalars(
            select(RoutingRule)
            .where(RoutingRule.organisation_id == organisation_id)
            .order_by(RoutingRule.active.desc(), RoutingRule.position, RoutingRule.id)
        )
    )
    locale = _locale()
    departments = {
        d.id: d.name(locale)
        for d in db.session.scalars(
            select(Department).where(Department.organisation_id == organisation_id)
        )
    }
    types = {t.id: t.name(locale) for t in _letter_types(include_inactive=True)}
    contact_ids = {r.correspondent_id for r in rules if r.correspondent_id}
    contacts = (
        {
            c.id: c.name
            for c in db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
        }
        if contact_ids
        else {}
    )
    return render_template(
        "admin/rules.html",
        rules=rules,
        departments=departments,
        types=types,
        contacts=contacts,
        action_form=ActionForm(),
    )


@bp.route("/rules/new", methods=["GET", "POST"])
def new_rule():
    form = _rule_form()
    if form.validate_on_submit():
        try:
            rule = routing_rules.create_rule(db.session, current_actor(), **_rule_values(form))
        except ServiceError as error:
            _show_error(form, error)
        else:
            flash(_("The rule “%(name)s” was created.", name=rule.name), "success")
            return redirect(url_for("admin.rules"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/rule_form.html", form=form, rule=None), status


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
def edit_rule(rule_id: int):
    rule = _own_or_404(RoutingRule, rule_id)
    form = _rule_form(rule)
    if form.validate_on_submit():
        try:
            changes = routing_rules.update_rule(
                db.session, current_actor(), rule, **_rule_values(form)
            )
        except ServiceError as error:
            _show_error(form, error)
        else:
            if changes:
                flash(_("The rule was saved."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("admin.rules"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/rule_form.html", form=form, rule=rule), status


@bp.post("/rules/<int:rule_id>/<any(deactivate, reactivate):action>")
def set_rule_active(rule_id: int, action: str):
    rule = _own_or_404(RoutingRule, rule_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    service = (
        routing_rules.deactivate_rule if action == "deactivate" else routing_rules.reactivate_rule
    )
    try:
        service(db.session, current_actor(), rule)
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        if action == "deactivate":
            flash(_("The rule was deactivated."), "success")
        else:
            flash(_("The rule was reactivated."), "success")
    return redirect(url_for("admin.rules"))


@bp.get("/letter-types")
def letter_types():
    return render_template("admin/letter_types.html", letter_types=_letter_types(True))


class LetterTypeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name_ar = StringField(_l("Arabic name"), validators=[DataRequired(), Length(max=200)])
    name_fr = StringField(_l("French name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[Length(max=200)])


@bp.route("/letter-types/new", methods=["GET", "POST"])
def new_letter_type():
    form = LetterTypeForm()
    status = 200
    if form.validate_on_submit():
        try:
            letter_type = configuration.add_letter_type(
                db.session,
                current_actor(),
                code=form.code.data,
                name_ar=form.name_ar.data,
                name_fr=form.name_fr.data,
                name_en=form.name_en.data or "",
            )
        except ServiceError as error:
            _show_error(form, error)
            status = 422
        else:
            flash(_("The letter type was added: now set its deadline rule."), "success")
            return redirect(url_for("admin.edit_deadline", type_id=letter_type.id))
    elif form.is_submitted():
        status = 422
    return render_template("admin/letter_type_form.html", form=form), status


@bp.route("/letter-types/<int:type_id>/deadline", methods=["GET", "POST"])
def edit_deadline(type_id: int):
    letter_type = _own_or_404(LetterType, type_id)
    form = DeadlineForm(obj=letter_type if request.method == "GET" else None)
    form.deadline_unit.choices = unit_choices()
    if form.validate_on_submit():
        try:
            changes = configuration.update_deadline_rule(
                db.session,
                current_actor(),
                letter_type,
                **{name: getattr(form, name).data for name in configuration.DEADLINE_FIELDS},
            )
        except ServiceError as error:
            _show_error(form, error)
        else:
            if changes:
                flash(_("The deadline rule was saved."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("admin.letter_types"))
    elif form.is_submitted():
        flash(_("Check the highlighted fields."), "error")
    status = 422 if form.is_submitted() else 200
    return (
        render_template("admin/deadline_form.html", form=form, letter_type=letter_type),
        status,
    )


@bp.route("/closures", methods=["GET", "POST"])
def closures():
    form = ClosureForm()
    status = 200
    if form.validate_on_submit():
        try:
            closure = configuration.add_closure(
                db.session, current_actor(), form.day.data, form.reason.data or ""
            )
        except ServiceError as error:
            _show_error(form, error)
            status = 422
        else:
            flash(
                _("%(day)s is now a closure day.", day=format_date(closure.day, "long")), "success"
            )
            return redirect(url_for("admin.closures"))
    elif form.is_submitted():
        flash(_("Check the highlighted fields."), "error")
        status = 422
    days = list(
        db.session.scalars(
            select(Closure)
            .where(Closure.organisation_id == current_user.organisation_id)
            .order_by(Closure.day.desc())
        )
    )
    return (
        render_template("admin/closures.html", form=form, closures=days, action_form=ActionForm()),
        status,
    )


@bp.post("/closures/<int:closure_id>/remove")
def remove_closure(closure_id: int):
    closure = _own_or_404(Closure, closure_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        configuration.remove_closure(db.session, current_actor(), closure)
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The closure day was removed."), "success")
    return redirect(url_for("admin.closures"))


# --- Reply templates -----------------------------------------------------------------------


class ReplyTemplateForm(FlaskForm):
    name = StringField(_l("Name of the template"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(_l("Language"), choices=lambda: language_choices()[:3])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=20_000)])


def _own_template(template_id: int) -> ReplyTemplate:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None or template.organisation_id != current_user.organisation_id:
        abort(404)
    return template


@bp.get("/reply-templates")
def reply_templates():
    templates = db.session.scalars(
        select(ReplyTemplate)
        .where(ReplyTemplate.organisation_id == current_user.organisation_id)
        .order_by(ReplyTemplate.active.desc(), ReplyTemplate.name)
    )
    return render_template(
        "admin/reply_templates.html", templates=list(templates), action_form=ActionForm()
    )


@bp.route("/reply-templates/new", methods=["GET", "POST"], defaults={"template_id": None})
@bp.route("/reply-templates/<int:template_id>/edit", methods=["GET", "POST"])
def reply_template_form(template_id: int | None):
    template = _own_template(template_id) if template_id else None
    form = ReplyTemplateForm(obj=template)
    status = 200
    if form.validate_on_submit():
        try:
            configuration.save_reply_template(
                db.session,
                current_actor(),
                template,
                name=form.name.data,
                language=form.language.data,
                body=form.body.data,
            )
        except ServiceError as error:
            _show_error(form, error)
            status = 422
        else:
            flash(_("The reply template was saved."), "success")
            return redirect(url_for("admin.reply_templates"))
    elif form.is_submitted():
        status = 422
    return (
        render_template(
            "admin/reply_template_form.html",
            form=form,
            template=template,
            placeholders=PLACEHOLDER_NAMES,
        ),
        status,
    )


@bp.post("/reply-templates/<int:template_id>/<any(activate, deactivate):change>")
def reply_template_active(template_id: int, change: str):
    template = _own_template(template_id)
    if ActionForm().validate_on_submit():
        configuration.set_reply_template_active(
            db.session, current_actor(), template, change == "activate"
        )
    return redirect(url_for("admin.reply_templates"))


# --- Signature circuit templates ---------------------------------------------------------------


class CircuitTemplateForm(FlaskForm):
    name = StringField(_l("Name of the template"), validators=[DataRequired(), Length(max=200)])
    document_type = SelectField(_l("Type of document"), choices=parapheur.document_type_choices)


def _own_circuit_template(template_id: int) -> CircuitTemplate:
    template = db.session.get(CircuitTemplate, template_id)
    if template is None or template.organisation_id != current_user.organisation_id:
        abort(404)
    return template


@bp.route("/circuit-templates", methods=["GET", "POST"])
def circuit_templates():
    form = CircuitTemplateForm()
    status = 200
    if form.validate_on_submit():
        try:
            circuits.save_template(
                db.session,
                current_actor(),
                name=form.name.data,
                document_type=form.document_type.data,
                steps=parapheur.steps_from_form(),
            )
        except ServiceError as error:
            flash(str(error.message), "error")
            status = 422
        else:
            flash(_("The circuit template was saved."), "success")
            return redirect(url_for("admin.circuit_templates"))
    elif form.is_submitted():
        status = 422
    templates = db.session.scalars(
        select(CircuitTemplate)
        .where(CircuitTemplate.organisation_id == current_user.organisation_id)
        .order_by(CircuitTemplate.active.desc(), CircuitTemplate.name)
    )
    return render_template(
        "admin/circuit_templates.html",
        form=form,
        templates=list(templates),
        action_form=ActionForm(),
        targets=parapheur.target_choices(),
        target_labels=dict(parapheur.target_choices()),
        rows=range(1, parapheur.STEP_ROWS + 1),
    ), status


@bp.post("/circuit-templates/<int:template_id>/<any(activate, deactivate):change>")
def circuit_template_active(template_id: int, change: str):
    template = _own_circuit_template(template_id)
    if ActionForm().validate_on_submit():
        circuits.set_template_active(db.session, current_actor(), template, change == "activate")
    return redirect(url_for("admin.circuit_templates"))


# --- E-counter request types -------------------------------------------------------------------


def identity_field_choices():
    """The identity fields a request type may require, labelled as the citizen's form has them."""
    labels = {
        "national_id": _l("National ID number"),
        "email": _l("E-mail address"),
        "phone": _l("Telephone"),
        "address": _l("Postal address"),
    }
    return [(name, labels[name]) for name in IDENTITY_FIELDS]


def email_mode_choices():
    return [
        (EmailMode.REQUIRED.value, _l("E-mail required, confirmed by a link")),
        (
            EmailMode.OPTIONAL.value,
            _l("E-mail optional: without one, the citizen keeps the tracking code"),
        ),
    ]


class PortalTypeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name_ar = StringField(_l("Arabic name"), validators=[DataRequired(), Length(max=200)])
    name_fr = StringField(_l("French name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[Length(max=200)])
    letter_type_id = SelectField(_l("Letter type"), coerce=optional_int, validate_choice=False)
    # Checked by the service (an unknown value is refused there, beside this field).
    required_fields = SelectMultipleField(
        _l("Identity fields required besides the name"),
        choices=identity_field_choices,
        validate_choice=False,
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
    )
    email_mode = SelectField(
        _l("E-mail setting"), choices=email_mode_choices, validate_choice=False
    )
    reopen_days = IntegerField(_l("Reopening (days)"), validators=[Optional()])
    published = BooleanField(_l("Published on the e-counter"), default=True)
    position = IntegerField(_l("Position (lowest first)"), default=0, validators=[InputRequired()])


def _portal_type_values(form: PortalTypeForm) -> dict:
    return {
        "code": form.code.data or "",
        "name_ar": form.name_ar.data or "",
        "name_fr": form.name_fr.data or "",
        "name_en": form.name_en.data or "",
        "letter_type_id": form.letter_type_id.data,
        "required_fields": form.required_fields.data or [],
        "email_mode": form.email_mode.data or "",
        "reopen_days": form.reopen_days.data,
        "published": bool(form.published.data),
        "position": form.position.data,
    }


@bp.get("/portal-types")
def portal_types():
    return render_template(
        "admin/portal_types.html",
        request_types=portal_type_service.request_types(db.session, current_user.organisation_id),
        organisation=current_user.organisation,
        field_labels=dict(identity_field_choices()),
        email_labels=dict(email_mode_choices()),
    )


@bp.route("/portal-types/new", methods=["GET", "POST"], defaults={"type_id": None})
@bp.route("/portal-types/<int:type_id>/edit", methods=["GET", "POST"])
def portal_type_form(type_id: int | None):
    request_type = _own_or_404(PortalRequestType, type_id) if type_id else None
    form = PortalTypeForm(obj=request_type if request.method == "GET" else None)
    form.letter_type_id.choices = letter_type_choices(current_user.organisation_id)
    current_type = request_type.letter_type if request_type else None
    if current_type is not None and not current_type.active:  # kept, not silently dropped
        form.letter_type_id.choices.append((current_type.id, current_type.name(_locale())))
    status = 200
    if form.validate_on_submit():
        try:
            saved = portal_type_service.save_request_type(
                db.session, current_actor(), request_type, **_portal_type_values(form)
            )
        except ServiceError as error:
            _show_error(form, error)
            status = 422
        else:
            flash(
                _("The request type “%(name)s” was saved.", name=saved.name(_locale())), "success"
            )
            return redirect(url_for("admin.portal_types"))
    elif form.is_submitted():
        status = 422
    return (
        render_template("admin/portal_type_form.html", form=form, request_type=request_type),
        status,
    )


# --- Public transparency page ------------------------------------------------------------------


class TransparencyForm(FlaskForm):
    publish = BooleanField(_l("Publish the transparency page"))


@bp.route("/transparency", methods=["GET", "POST"])
def transparency():
    organisation = current_user.organisation
    form = TransparencyForm(data={"publish": organisation.publish_transparency})
    if form.validate_on_submit():
        publish = bool(form.publish.data)
        transparency_service.set_publication(db.session, current_actor(), organisation, publish)
        flash(
            _("The transparency page is published.")
            if publish
            else _("The transparency page is withdrawn."),
            "success",
        )
        return redirect(url_for("admin.transparency"))
    return render_template("admin/transparency.html", form=form, organisation=organisation)
