"""Actions on a letter once registered: route it, accept, pass, return, annotate, extend, close,
ask an e-counter citizen for a complement."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.blueprints.choices import agent_choices, department_choices
from app.blueprints.common import current_actor, letter_or_404
from app.extensions import db
from app.forms import (
    ActionForm,
    CloseForm,
    ComplementRequestForm,
    LinkForm,
    NoteForm,
    PassForm,
    ReasonForm,
    RouteForm,
    WorkingDocumentForm,
)
from app.models import Assignment, Letter, Organisation
from app.models.base import utcnow
from app.permissions import processing_assignment
from app.services import deadlines, portal, processing, routing
from app.services.errors import ServiceError
from app.timezones import to_local
from app.uploads import ingest_all

bp = Blueprint("processing", __name__, url_prefix="/letters")


def _back(letter_id: int):
    return redirect(url_for("letters.show", letter_id=letter_id))


def _run(letter_id: int, action, success: str):
    """Call a service; show its refusal or the success message; back to the letter page."""
    try:
        action()
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(success, "success")
    return _back(letter_id)


def _invalid(form, letter_id: int):
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return _back(letter_id)


def _assignment_or_404(letter, assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.letter_id != letter.id:
        abort(404)
    return assignment


@bp.post("/<int:letter_id>/route")
@login_required
def route(letter_id: int):
    letter = letter_or_404(letter_id)
    form = RouteForm()
    form.action_department_id.choices = department_choices(current_user.organisation_id)
    form.copy_department_ids.choices = form.action_department_id.choices
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: routing.route_letter(
            db.session,
            current_actor(),
            letter,
            form.action_department_id.data,
            form.copy_department_ids.data or [],
        ),
        _("The letter was routed."),
    )


@bp.post("/<int:letter_id>/assignments/<int:assignment_id>/accept")
@login_required
def accept(letter_id: int, assignment_id: int):
    letter = letter_or_404(letter_id)
    assignment = _assignment_or_404(letter, assignment_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _run(
        letter.id,
        lambda: routing.accept(db.session, current_actor(), assignment),
        _("The letter was accepted."),
    )


@bp.post("/<int:letter_id>/assignments/<int:assignment_id>/pass")
@login_required
def pass_to_agent(letter_id: int, assignment_id: int):
    letter = letter_or_404(letter_id)
    assignment = _assignment_or_404(letter, assignment_id)
    form = PassForm()
    form.agent_id.choices = agent_choices(assignment.department_id)
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: routing.pass_to_agent(db.session, current_actor(), assignment, form.agent_id.data),
        _("The letter was passed to the agent."),
    )


@bp.post("/<int:letter_id>/assignments/<int:assignment_id>/return")
@login_required
def return_to_registry(letter_id: int, assignment_id: int):
    letter = letter_or_404(letter_id)
    assignment = _assignment_or_404(letter, assignment_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    try:
        routing.return_to_registry(db.session, current_actor(), assignment, form.reason.data)
    except ServiceError as error:
        flash(str(error.message), "error")
        return _back(letter.id)
    flash(_("The letter was sent back to the registry."), "success")
    return redirect(url_for("inbox.show"))  # the letter has left this department


@bp.post("/<int:letter_id>/notes")
@login_required
def add_note(letter_id: int):
    letter = letter_or_404(letter_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: processing.add_note(
            db.session,
            current_actor(),
            letter,
            form.body.data,
            department_only=bool(form.department_only.data),
        ),
        _("The note was added."),
    )


@bp.post("/<int:letter_id>/extend")
@login_required
def extend(letter_id: int):
    letter = letter_or_404(letter_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    can_act = processing_assignment(current_user, letter) is not None
    return _run(
        letter.id,
        lambda: deadlines.extend(db.session, current_actor(), letter, form.reason.data, can_act),
        _("The deadline was extended."),
    )


@bp.post("/<int:letter_id>/clock/<action>")
@login_required
def clock(letter_id: int, action: str):
    letter = letter_or_404(letter_id)
    if action not in ("stop", "restart") or not ActionForm().validate_on_submit():
        abort(400)
    can_act = processing_assignment(current_user, letter) is not None
    service = deadlines.pause_clock if action == "stop" else deadlines.resume_clock
    message = _("The clock was stopped.") if action == "stop" else _("The clock was restarted.")
    return _run(
        letter.id,
        lambda: service(db.session, current_actor(), letter, date.today(), can_act),
        message,
    )


def _organisation_today(letter: Letter) -> date:
    """Today in the letter's organisation (its time zone sets where a day starts)."""
    organisation = db.session.get(Organisation, letter.organisation_id)
    return to_local(utcnow(), organisation.timezone).date()


@bp.post("/<int:letter_id>/complement-request")
@login_required
def request_complement(letter_id: int):
    """An e-counter letter: the processing department asks the citizen for a complement."""
    letter = letter_or_404(letter_id)
    if processing_assignment(current_user, letter) is None:
        abort(403)
    form = ComplementRequestForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: portal.request_complement(
            db.session,
            current_actor(),
            letter,
            form.message.data,
            _organisation_today(letter),
            can_act=True,
        ),
        _("The citizen was asked for a complement."),
    )


@bp.post("/<int:letter_id>/close")
@login_required
def close(letter_id: int):
    letter = letter_or_404(letter_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: processing.close_letter(
            db.session, current_actor(), letter, form.outcome.data, form.comment.data or ""
        ),
        _("The letter was closed."),
    )


@bp.post("/<int:letter_id>/links")
@login_required
def link(letter_id: int):
    letter = letter_or_404(letter_id)
    form = LinkForm()
    if not form.validate_on_submit():
        return _invalid(form, letter.id)
    return _run(
        letter.id,
        lambda: processing.link_letters(db.session, current_actor(), letter, form.number.data),
        _("The letters were linked."),
    )


@bp.post("/<int:letter_id>/working-documents")
@login_required
def add_working_documents(letter_id: int):
    letter = letter_or_404(letter_id)
    if processing_assignment(current_user, letter) is None:
        abort(403)
    form = WorkingDocumentForm()
    if not form.validate_on_submit():
        abort(400)
    accepted, refusals = ingest_all(request.files.getlist(form.documents.name))
    for refusal in refusals:
        flash(str(refusal), "error")
    if not accepted and not refusals:
        flash(_("Choose a file."), "error")
    for ingested in accepted:
        try:
            processing.add_working_document(db.session, current_actor(), letter, ingested)
        except ServiceError as error:
            flash(str(error.message), "error")
            break
        flash(_("%(name)s was added.", name=ingested.display_name), "success")
    return _back(letter.id)
