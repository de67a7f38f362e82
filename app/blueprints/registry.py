"""The registry desk: registering letters, reading and exporting the register."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.blueprints.choices import contact_choices, contact_label, letter_type_choices
from app.blueprints.common import current_actor, require
from app.extensions import db
from app.forms import RegisterFilterForm, RegisterLetterForm, channel_choices
from app.labels import status_label
from app.models import LetterStatus, Organisation, Register
from app.permissions import can_register, can_view_letter, can_view_register
from app.services import register_export, registration, routing_rules, signatures
from app.services.contacts import search_contacts
from app.services.errors import ServiceError
from app.services.register_list import RegisterFilter, list_page
from app.uploads import decode_kept, encode_kept, ingest_all
from signing.pades import SigningError

bp = Blueprint("registry", __name__, url_prefix="/registry")


def _register_or_404(register: str) -> str:
    if register not in set(Register):
        abort(404)
    return register


@bp.route("/<register>/new", methods=["GET", "POST"])
@login_required
def register_letter(register: str):
    require(can_register)
    register = _register_or_404(register)
    user = current_user
    form = RegisterLetterForm()
    form.letter_type_id.choices = letter_type_choices(user.organisation_id)
    form.correspondent_id.choices = contact_choices(
        user.organisation_id,
        _int_or_none(request.form.get("correspondent_id")),
        _("— new correspondent (fill in below) —"),
    )
    if request.method == "GET":
        form.received_on.data = date.today()
        form.language.data = str(get_locale() or "ar")
    kept, file_errors = [], []
    if form.is_submitted():
        removed = set(request.form.getlist("remove_kept"))
        kept = [
            f
            for f in decode_kept(form.kept_files.data, user.id)
            if f.original_sha256 not in removed
        ]
        new_files, file_errors = ingest_all(request.files.getlist(form.documents.name))
        kept += new_files
        limit = current_app.config["MAX_FILES_PER_LETTER"]
        if len(kept) > limit:
            file_errors.append(_("At most %(n)s documents per letter.", n=limit))
            kept = kept[:limit]
        form.kept_files.data = encode_kept(kept, user.id)
        if form.validate() and not file_errors:
            try:
                letter = registration.register_letter(
                    db.session,
                    current_actor(),
                    _letter_input(form, register, kept),
                    registration.NumberingSettings.from_config(current_app.config),
                )
            except ServiceError as error:
                _attach_error(form, error, file_errors)
            else:
                flash(
                    _("Letter registered under number %(number)s.", number=letter.number), "success"
                )
                _apply_routing_rule(letter)
                return redirect(url_for("letters.show", letter_id=letter.id))
    status = 422 if form.is_submitted() else 200
    return (
        render_template(
            "registry/new.html",
            form=form,
            register=register,
            kept=kept,
            file_errors=file_errors,
            max_upload_mb=current_app.config["MAX_UPLOAD_MB"],
            max_files=current_app.config["MAX_FILES_PER_LETTER"],
        ),
        status,
    )


def _apply_routing_rule(letter) -> None:
    """A rule that routes automatically does so now; the registration itself has committed."""
    try:
        rule = routing_rules.apply_at_registration(db.session, current_actor(), letter)
    except ServiceError as error:
        flash(_("The routing rule could not be applied: %(why)s", why=error.message), "error")
    else:
        if rule is not None:
            flash(_("Routed by the rule “%(name)s”.", name=rule.name), "success")


def _attach_error(form, error: ServiceError, file_errors: list) -> None:
    if error.field == "documents":
        file_errors.append(error.message)
        return
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        flash(str(error.message), "error")
    else:
        field.errors = [*field.errors, error.message]


def _letter_input(form: RegisterLetterForm, register: str, files) -> registration.LetterInput:
    new_contact = None
    if form.correspondent_id.data is None and (form.correspondent_name.data or "").strip():
        new_contact = registration.NewContact(
            name=form.correspondent_name.data,
            kind=form.correspondent_kind.data,
            national_id=form.correspondent_national_id.data or "",
            email=form.correspondent_email.data or "",
            phone=form.correspondent_phone.data or "",
            address=form.correspondent_address.data or "",
        )
    return registration.LetterInput(
        register=register,
        subject=form.subject.data or "",
        channel=form.channel.data,
        received_on=form.received_on.data,
        letter_date=form.letter_date.data,
        sender_reference=form.sender_reference.data or "",
        letter_type_id=form.letter_type_id.data,
        priority=form.priority.data,
        confidential=bool(form.confidential.data),
        language=form.language.data,
        physical_attachments=form.physical_attachments.data or 0,
        correspondent_id=form.correspondent_id.data,
        new_correspondent=new_contact,
        files=files,
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _filter_form(organisation_id: int) -> RegisterFilterForm:
    form = RegisterFilterForm(request.args)
    form.channel.choices = [("", "—"), *channel_choices()]
    form.status.choices = [("", "—")] + [(s.value, status_label(s)) for s in LetterStatus]
    form.letter_type_id.choices = letter_type_choices(organisation_id)
    return form


def _register_filter(register: str, form: RegisterFilterForm) -> RegisterFilter:
    valid = form.validate()
    data = form.data if valid else {}
    return RegisterFilter(
        register=register,
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        channel=data.get("channel") or None,
        status=data.get("status") or None,
        letter_type_id=data.get("letter_type_id"),
    )


@bp.get("/<register>")
@login_required
def register_list(register: str):
    require(can_view_register)
    register = _register_or_404(register)
    organisation = db.session.get(Organisation, current_user.organisation_id)
    form = _filter_form(organisation.id)
    flt = _register_filter(register, form)
    page = list_page(
        db.session,
        organisation,
        flt,
        cursor=request.args.get("after"),
        limit=current_app.config["PAGE_SIZE"],
    )
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "registry/list.html",
        register=register,
        form=form,
        page=page,
        organisation=organisation,
        can_see=lambda letter: can_view_letter(current_user, letter),
        filter_args=args,
        can_register=can_register(current_user),
    )


@bp.get("/<register>/export.<fmt>")
@login_required
def export(register: str, fmt: str):
    require(can_view_register)
    register = _register_or_404(register)
    if fmt not in ("csv", "pdf"):
        abort(404)
    organisation = db.session.get(Organisation, current_user.organisation_id)
    flt = _register_filter(register, _filter_form(organisation.id))
    if not (flt.date_from or flt.date_to):
        today = date.today()
        flt = RegisterFilter(**{**flt.__dict__, "date_from": today, "date_to": today})
    locale = str(get_locale() or "ar")
    try:
        export_file = register_export.build(
            db.session, current_user, organisation, flt, locale, fmt
        )
    except register_export.ExportTooLarge as error:
        flash(str(error.message), "error")
        return redirect(url_for("registry.register_list", register=register, **request.args))
    if fmt == "pdf":
        # A register is a legal record: it leaves sealed by the organisation, so any later
        # change shows. Unsealed, it is not handed out at all.
        settings = signatures.SignatureSettings.from_config(current_app.config)
        try:
            export_file = signatures.seal(db.session, organisation, export_file, settings)
        except SigningError:
            current_app.logger.exception("sealing the register export failed")
            flash(
                _("The register could not be sealed; nothing was exported. Try again later."),
                "error",
            )
            return redirect(url_for("registry.register_list", register=register, **request.args))
    filename = f"register-{register}-{flt.date_from or ''}-{flt.date_to or ''}.{fmt}"
    return Response(
        export_file,
        mimetype="text/csv; charset=utf-8" if fmt == "csv" else "application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/contacts.json")
@login_required
def contacts_json():
    require(can_register)
    contacts = search_contacts(db.session, current_user.organisation_id, request.args.get("q", ""))
    return jsonify([{"id": c.id, "label": contact_label(c)} for c in contacts])
