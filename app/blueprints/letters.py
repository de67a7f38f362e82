"""A letter's page: metadata, documents, previews, history; correction and cancellation."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.blueprints.choices import (
    agent_choices,
    contact_choices,
    department_choices,
    letter_type_choices,
)
from app.blueprints.common import current_actor, letter_or_404
from app.deadlines import format_hijri
from app.extensions import db
from app.files.previews import PreviewUnavailable, page_preview
from app.files.sniff import extension_for
from app.files.store import FileStoreError
from app.forms import (
    ActionForm,
    CancelLetterForm,
    CloseForm,
    ComplementRequestForm,
    CorrectLetterForm,
    LinkForm,
    NoteForm,
    PassForm,
    ReasonForm,
    RouteForm,
    WorkingDocumentForm,
)
from app.models import AssignmentKind, Document, DocumentVersion, Letter
from app.permissions import (
    can_annotate,
    can_cancel,
    can_correct,
    can_route,
    can_see_assignment,
    can_view_letter,
    is_head_of,
    note_visible,
    processing_assignment,
)
from app.services import (
    audit,
    deadlines,
    portal,
    replies,
    routing,
    routing_rules,
    search_index,
)
from app.services.errors import ServiceError
from app.services.letters import CORRECTABLE_FIELDS, cancel_letter, correct_letter
from app.services.processing import linked_letters, notes_of
from app.uploads import file_store

bp = Blueprint("letters", __name__, url_prefix="/letters")

MAX_PREVIEW_PAGES = 20


@bp.get("/<int:letter_id>")
@login_required
def show(letter_id: int):
    letter = letter_or_404(letter_id)
    locale = str(get_locale() or "ar")
    return render_template(
        "letters/show.html",
        letter=letter,
        history=audit.letter_history(db.session, letter.id),
        cancel_form=CancelLetterForm(),
        can_correct=can_correct(current_user, letter),
        can_cancel=can_cancel(current_user, letter),
        max_preview_pages=MAX_PREVIEW_PAGES,
        locale=locale,
        texts={row.sha256: row for row in search_index.text_status(db.session, letter)},
        **_processing_context(letter, locale),
        **_portal_context(letter),
    )


def _processing_context(letter: Letter, locale: str) -> dict:
    """What the processing panel shows this user, and the forms for what they may do."""
    user = current_user
    today = date.today()
    deadline = deadlines.deadline_of(db.session, letter)
    route_form = proposed_rule = None
    if can_route(user, letter) and routing.open_action(db.session, letter) is None:
        route_form = RouteForm()
        route_form.action_department_id.choices = department_choices(user.organisation_id)
        route_form.copy_department_ids.choices = route_form.action_department_id.choices
        # A rule's route pre-fills the form, the first time only (not after a return).
        if not letter.assignments:
            proposed_rule = routing_rules.matching_rule(db.session, letter)
        if proposed_rule is not None:
            route_form.action_department_id.data = proposed_rule.action_department_id
            route_form.copy_department_ids.data = list(proposed_rule.copy_department_ids)
    head_actions = []
    for assignment in letter.assignments:
        is_action = assignment.kind == AssignmentKind.ACTION
        if is_action and assignment.is_open and is_head_of(user, assignment.department_id, letter):
            pass_form = PassForm()
            pass_form.agent_id.choices = agent_choices(assignment.department_id)
            head_actions.append((assignment, pass_form))
    show_hijri = user.show_hijri and deadline is not None and deadline.due is not None
    return {
        "deadline": deadline,
        "deadline_status": deadline.remaining(today).status if deadline else None,
        "hijri_due": format_hijri(deadline.due, locale)
        if show_hijri
        else None,  # beside the due date
        "rule_pausable": bool(letter.letter_type and letter.letter_type.pausable),
        "assignments": [a for a in letter.assignments if can_see_assignment(user, a)],
        "route_form": route_form,
        "proposed_rule": proposed_rule,
        "head_actions": head_actions,
        "can_process": processing_assignment(user, letter) is not None,
        "action_form": ActionForm(),
        "reason_form": ReasonForm(),
        "close_form": CloseForm(),
        "note_form": NoteForm() if can_annotate(user, letter) else None,
        "notes": [n for n in notes_of(db.session, letter) if note_visible(user, n)],
        "start_reply_form": _start_reply_form(letter),
        "link_form": LinkForm() if can_annotate(user, letter) else None,
        "linked": linked_letters(db.session, user, letter),
        "working_document_form": WorkingDocumentForm(),
        "reply_draft": replies.current_draft(db.session, letter),
        "answers": [a for a in answers_to(db.session, letter) if can_view_letter(user, a)],
    }


def _portal_context(letter: Letter) -> dict:
    """The e-counter box of a letter that came from the portal: the request, the complement
    awaited, the citizen's ratings of this letter, the other letter of a reopened complaint
    (named only to those who may see it), and the form to ask for a complement."""
    submission = portal.submission_of_letter(db.session, letter)
    if submission is None:
        return {"portal_submission": None}
    is_reopening = letter.id == submission.reopened_letter_id
    other = submission.letter if is_reopening else submission.reopened_letter
    awaited = submission.complement_requested_at is not None
    can_ask = not awaited and processing_assignment(current_user, letter) is not None
    return {
        "portal_submission": submission,
        "portal_complement_awaited": awaited,
        "portal_ratings": [r for r in submission.ratings if r.letter_id == letter.id],
        "portal_is_reopening": is_reopening,
        "portal_reopened": other is not None,
        "portal_other_letter": (
            other if other is not None and can_view_letter(current_user, other) else None
        ),
        "complement_request_form": ComplementRequestForm() if can_ask else None,
    }


def _start_reply_form(letter: Letter):
    from app.blueprints.replies import StartReplyForm, template_choices

    form = StartReplyForm(language=letter.language)
    form.template_id.choices = template_choices(letter.organisation_id)
    return form


def answers_to(session, letter: Letter) -> list[Letter]:
    return list(session.scalars(select(Letter).where(Letter.reply_to_id == letter.id)))


@bp.route("/<int:letter_id>/correct", methods=["GET", "POST"])
@login_required
def correct(letter_id: int):
    letter = letter_or_404(letter_id)
    if not can_correct(current_user, letter):
        abort(403)
    form = CorrectLetterForm(obj=letter if request.method == "GET" else None)
    form.letter_type_id.choices = letter_type_choices(letter.organisation_id)
    # a registered letter keeps a correspondent: no empty choice here
    form.correspondent_id.choices = contact_choices(
        letter.organisation_id, letter.correspondent_id, ""
    )[1:]
    if form.validate_on_submit():
        changes = {name: getattr(form, name).data for name in CORRECTABLE_FIELDS}
        changes["confidential"] = bool(changes["confidential"])
        try:
            diff = correct_letter(db.session, current_actor(), letter, changes, form.reason.data)
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            if diff:
                flash(_("The correction was recorded."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("letters.show", letter_id=letter.id))
    status = 422 if form.is_submitted() else 200
    return render_template("letters/correct.html", form=form, letter=letter), status


@bp.post("/<int:letter_id>/cancel")
@login_required
def cancel(letter_id: int):
    letter = letter_or_404(letter_id)
    if not can_cancel(current_user, letter):
        abort(403)
    form = CancelLetterForm()
    if form.validate_on_submit():
        try:
            cancel_letter(db.session, current_actor(), letter, form.reason.data)
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            flash(_("The letter was cancelled. Its number stays used."), "success")
    else:
        flash(_("Give the reason for the cancellation."), "error")
    return redirect(url_for("letters.show", letter_id=letter.id))


def _version_or_404(
    letter: Letter, document_id: int, version: int
) -> tuple[Document, DocumentVersion]:
    document = db.session.get(Document, document_id)
    if document is None or document.letter_id != letter.id:
        abort(404)
    for candidate in document.versions:
        if candidate.version == version:
            return document, candidate
    abort(404)


@bp.get("/<int:letter_id>/documents/<int:document_id>/v<int:version>/<kind>")
@login_required
def download(letter_id: int, document_id: int, version: int, kind: str):
    """The file as received ("original") or its PDF rendition ("pdf"), checked by hash."""
    letter = letter_or_404(letter_id)
    document, doc_version = _version_or_404(letter, document_id, version)
    if kind == "original":
        sha, media_type = doc_version.original_sha256, doc_version.media_type
    elif kind == "pdf" and doc_version.pdf_sha256:
        sha, media_type = doc_version.pdf_sha256, "application/pdf"
    else:
        abort(404)
    try:
        data = file_store().open_verified(sha)
    except FileStoreError:
        current_app.logger.error("stored file %s failed its hash check or is missing", sha)
        abort(500)
    name = (
        f"{letter.number.replace('/', '-')}-{Path(document.title).stem}{extension_for(media_type)}"
    )
    return send_file(
        BytesIO(data), mimetype=media_type, as_attachment=kind == "original", download_name=name
    )


@bp.get("/<int:letter_id>/documents/<int:document_id>/v<int:version>/pages/<int:page>.png")
@login_required
def preview(letter_id: int, document_id: int, version: int, page: int):
    letter = letter_or_404(letter_id)
    _document, doc_version = _version_or_404(letter, document_id, version)
    if not doc_version.pdf_sha256 or page < 1 or page > (doc_version.page_count or 0):
        abort(404)
    try:
        path = page_preview(
            file_store(),
            Path(current_app.config["PREVIEW_CACHE"]),
            doc_version.pdf_sha256,
            page - 1,
        )
    except PreviewUnavailable:
        abort(404)
    response = Response(path.read_bytes(), mimetype="image/png")  # small; no open file handle
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
