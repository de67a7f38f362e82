"""Writing the reply to a letter and dispatching it."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.blueprints import parapheur
from app.blueprints.common import current_actor, letter_or_404
from app.extensions import db
from app.forms import channel_choices, language_choices, optional_int
from app.models import Department, Organisation, ReplyTemplate
from app.permissions import processing_assignment
from app.services import circuits, registration, replies
from app.services.errors import ServiceError
from app.services.reply_document import reply_pdf
from app.uploads import file_store

bp = Blueprint("replies", __name__, url_prefix="/letters")


class StartReplyForm(FlaskForm):
    template_id = SelectField("template", coerce=optional_int)
    language = SelectField("language", choices=language_choices)


class DraftForm(FlaskForm):
    subject = StringField("subject", validators=[DataRequired(), Length(max=2000)])
    body = TextAreaField("body", validators=[DataRequired(), Length(max=replies.MAX_BODY)])


class CircuitForm(FlaskForm):
    template_id = SelectField(_l("Circuit template"), coerce=optional_int)


class DispatchForm(FlaskForm):
    channel = SelectField("channel", choices=channel_choices)


def template_choices(organisation_id: int) -> list[tuple]:
    templates = db.session.scalars(
        select(ReplyTemplate)
        .where(ReplyTemplate.organisation_id == organisation_id, ReplyTemplate.active.is_(True))
        .order_by(ReplyTemplate.name)
    )
    return [(None, "—")] + [(t.id, f"{t.name} ({t.language})") for t in templates]


def _processing_or_403(letter):
    if processing_assignment(current_user, letter) is None:
        abort(403)


@bp.post("/<int:letter_id>/reply/start")
@login_required
def start(letter_id: int):
    letter = letter_or_404(letter_id)
    _processing_or_403(letter)
    form = StartReplyForm()
    form.template_id.choices = template_choices(letter.organisation_id)
    if not form.validate_on_submit():
        abort(400)
    template = (
        db.session.get(ReplyTemplate, form.template_id.data) if form.template_id.data else None
    )
    language = template.language if template else form.language.data
    try:
        replies.start_draft(
            db.session,
            current_actor(),
            letter,
            template=template,
            language=language,
            subject_prefix=_reply_prefix(language),
            today=date.today(),
        )
    except ServiceError as error:
        flash(str(error.message), "error")
        return redirect(url_for("letters.show", letter_id=letter.id))
    return redirect(url_for("replies.edit", letter_id=letter.id))


def _reply_prefix(language: str) -> str:
    return {"ar": "جواب: ", "fr": "Réponse : "}.get(language, "Reply: ")


@bp.route("/<int:letter_id>/reply", methods=["GET", "POST"])
@login_required
def edit(letter_id: int):
    letter = letter_or_404(letter_id)
    _processing_or_403(letter)
    draft = replies.current_draft(db.session, letter)
    if draft is None:
        return redirect(url_for("letters.show", letter_id=letter.id))
    form = DraftForm(obj=draft)
    if form.validate_on_submit():
        try:
            replies.save_draft(
                db.session, current_actor(), draft, form.subject.data, form.body.data
            )
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            flash(_("The draft was saved."), "success")
            return redirect(url_for("replies.edit", letter_id=letter.id))
    dispatch_form = DispatchForm()
    circuit_form = CircuitForm()
    circuit_form.template_id.choices = parapheur.template_choices()
    return render_template(
        "replies/edit.html",
        letter=letter,
        draft=draft,
        form=form,
        dispatch_form=dispatch_form,
        circuit=replies.signature_circuit(db.session, draft),
        circuit_form=circuit_form,
        targets=parapheur.target_choices(),
        rows=range(1, 4),
    ), (422 if form.is_submitted() else 200)


@bp.post("/<int:letter_id>/reply/circuit")
@login_required
def send_for_signature(letter_id: int):
    """The reply, as its PDF now, goes into a visa and signature circuit."""
    letter = letter_or_404(letter_id)
    _processing_or_403(letter)
    draft = replies.current_draft(db.session, letter)
    form = CircuitForm()
    form.template_id.choices = parapheur.template_choices()
    if draft is None or not form.validate_on_submit():
        abort(400)
    try:
        if replies.signature_circuit(db.session, draft) is not None:
            raise ServiceError(_("This reply is already in a signature circuit."))
        steps = parapheur.chosen_steps(form.template_id.data)
        signer = circuits.expected_signer(db.session, letter.organisation_id, steps)
        pdf = _render(None, draft, letter, signer=signer)
        sha = file_store().put_bytes(pdf)
        circuit = circuits.start(
            db.session,
            current_actor(),
            title=draft.subject,
            document_type="reply",
            pdf_sha256=sha,
            size=len(pdf),
            pages=circuits.page_count(pdf),
            steps=steps,
            letter=letter,
            reply_draft=draft,
        )
    except ServiceError as error:
        flash(str(error.message), "error")
        return redirect(url_for("replies.edit", letter_id=letter.id))
    flash(_("The reply was sent for signature."), "success")
    return redirect(url_for("parapheur.show", circuit_id=circuit.id))


def _render(outgoing, draft, letter, signer=None):
    organisation = db.session.get(Organisation, letter.organisation_id)
    assignment = processing_assignment(current_user, letter)
    department = db.session.get(Department, assignment.department_id) if assignment else None
    return reply_pdf(
        outgoing,
        draft,
        incoming=letter,
        organisation=organisation,
        department=department,
        signer=signer or current_user,
    )


@bp.get("/<int:letter_id>/reply/preview.pdf")
@login_required
def preview(letter_id: int):
    letter = letter_or_404(letter_id)
    _processing_or_403(letter)
    draft = replies.current_draft(db.session, letter)
    if draft is None:
        abort(404)
    return Response(_render(None, draft, letter), mimetype="application/pdf")


@bp.post("/<int:letter_id>/reply/dispatch")
@login_required
def dispatch(letter_id: int):
    letter = letter_or_404(letter_id)
    _processing_or_403(letter)
    draft = replies.current_draft(db.session, letter)
    form = DispatchForm()
    if draft is None or not form.validate_on_submit():
        abort(400)
    try:
        outgoing = replies.dispatch(
            db.session,
            current_actor(),
            draft,
            channel=form.channel.data,
            store=file_store(),
            numbering_settings=registration.NumberingSettings.from_config(current_app.config),
            render_pdf=lambda out, d: _render(out, d, letter),
        )
    except ServiceError as error:
        flash(str(error.message), "error")
        return redirect(url_for("replies.edit", letter_id=letter.id))
    flash(_("The reply was registered under number %(number)s.", number=outgoing.number), "success")
    return redirect(url_for("letters.show", letter_id=outgoing.id))
