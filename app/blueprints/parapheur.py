"""The e-parapheur: the "to sign" basket, a circuit's page (pages, steps, remarks, history),
visas, refusals, signatures (one or a batch) and the author's side (start, replace, withdraw)."""

from __future__ import annotations

import hashlib
import io
import math
import os
from datetime import UTC, datetime
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
    session,
    url_for,
)
from flask_babel import force_locale, format_datetime, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from pypdf import PdfReader
from sqlalchemy import select
from wtforms import (
    FileField,
    FloatField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from app.blueprints.common import current_actor
from app.extensions import db
from app.files.previews import PreviewUnavailable, page_preview
from app.files.store import CorruptFile, MissingFile
from app.forms import optional_int
from app.labels import role_label
from app.models import AuditEvent, Department, Letter, ReplyDraft, Role, User
from app.models.signing import Circuit, CircuitStep, CircuitTemplate, StepAction
from app.services import circuits, security_keys
from app.services.errors import ServiceError
from app.services.signatures import SignatureSettings, SigningSession, archive
from app.uploads import file_store, ingest_all

bp = Blueprint("parapheur", __name__, url_prefix="/parapheur")

STAMP_SIZE = (210.0, 84.0)  # points: the default box, dragged into place on the page
STEP_ROWS = 6  # rows offered when a circuit is built by hand


def document_type_choices():
    labels = {
        "reply": _("Reply to a letter"),
        "decision": _("Decision"),
        "memo": _("Memo"),
        "other": _("Other document"),
    }
    return [(code, labels[code]) for code in circuits.DOCUMENT_TYPES]


def template_choices():
    rows = db.session.scalars(
        select(CircuitTemplate)
        .where(
            CircuitTemplate.organisation_id == current_user.organisation_id,
            CircuitTemplate.active.is_(True),
        )
        .order_by(CircuitTemplate.name)
    )
    return [(None, "—")] + [(t.id, t.name) for t in rows]


def target_choices() -> list[tuple[str, str]]:
    """Who a step can name: a person, or the holder of a role in a department."""
    users = db.session.scalars(
        select(User)
        .where(User.organisation_id == current_user.organisation_id, User.active.is_(True))
        .order_by(User.full_name)
    )
    departments = db.session.scalars(
        select(Department)
        .where(
            Department.organisation_id == current_user.organisation_id,
            Department.active.is_(True),
        )
        .order_by(Department.code)
    )
    locale = str(get_locale() or "ar")
    choices = [("", "—")]
    choices += [(f"u:{user.id}", user.full_name) for user in users]
    for department in departments:
        for role in (Role.DEPARTMENT_HEAD, Role.SIGNATORY):
            label = f"{role_label(role)} — {department.name(locale)}"
            choices.append((f"r:{department.id}:{role}", label))
    return choices


class StartForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=500)])
    document_type = SelectField(_l("Type of document"), choices=document_type_choices)
    template_id = SelectField(_l("Circuit template"), coerce=optional_int)
    document = FileField(_l("PDF document"))


class VisaForm(FlaskForm):
    version_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    comment = TextAreaField(
        _l("Comment"), validators=[Optional(), Length(max=circuits.MAX_ANNOTATION)]
    )


class RejectForm(FlaskForm):
    version_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    reason = TextAreaField(validators=[DataRequired(), Length(max=circuits.MAX_ANNOTATION)])
    to = SelectField(
        choices=lambda: [("author", _("to the author")), ("previous", _("to the previous step"))]
    )


class SignForm(FlaskForm):
    version_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    page = IntegerField(validators=[InputRequired(), NumberRange(min=1)])
    x = FloatField(validators=[InputRequired(), NumberRange(min=0)])
    y = FloatField(validators=[InputRequired(), NumberRange(min=0)])
    secret = PasswordField(validators=[DataRequired()])
    webauthn_response = HiddenField()  # filled by webauthn.js with the key's answer


class BatchSignForm(FlaskForm):
    secret = PasswordField(validators=[DataRequired()])
    webauthn_response = HiddenField()  # filled by webauthn.js with the key's answer


class AnnotateForm(FlaskForm):
    page = IntegerField(validators=[InputRequired()])
    x = FloatField(validators=[InputRequired()])
    y = FloatField(validators=[InputRequired()])
    text = TextAreaField(validators=[DataRequired(), Length(max=circuits.MAX_ANNOTATION)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(validators=[DataRequired(), Length(max=500)])


class ReplaceForm(FlaskForm):
    document = FileField("document")


# -- helpers -----------------------------------------------------------------------------------


def circuit_or_404(circuit_id: int) -> Circuit:
    circuit = db.session.get(Circuit, circuit_id)
    if circuit is None or not circuits.can_view(db.session, current_user, circuit):
        abort(404)
    return circuit


def step_or_404(step_id: int) -> CircuitStep:
    step = db.session.get(CircuitStep, step_id)
    if step is None or not circuits.can_view(db.session, current_user, step.circuit):
        abort(404)
    return step


def steps_from_form() -> list[circuits.StepInput]:
    """The rows of a hand-built circuit: position, action and target ("u:<user>" or
    "r:<department>:<role>"); empty rows are skipped, malformed ones refused."""
    positions = request.form.getlist("step_position")
    actions = request.form.getlist("step_action")
    targets = request.form.getlist("step_target")
    steps = []
    for position, action, target in zip(positions, actions, targets, strict=False):
        if not target:
            continue
        try:
            number = int(position)
            kind, _sep, rest = target.partition(":")
            if kind == "u":
                steps.append(circuits.StepInput(number, action, assignee_id=int(rest)))
            elif kind == "r":
                department, _sep, role = rest.partition(":")
                steps.append(
                    circuits.StepInput(number, action, department_id=int(department), role=role)
                )
            else:
                raise ValueError(target)
        except ValueError:
            raise ServiceError(_("A step of the circuit is malformed."), "steps") from None
    return steps


def chosen_steps(template_id: int | None) -> list[circuits.StepInput]:
    if template_id:
        template = db.session.get(CircuitTemplate, template_id)
        if template is None or template.organisation_id != current_user.organisation_id:
            raise ServiceError(_("Unknown circuit template."), "template_id")
        return circuits.steps_from_template(template)
    return steps_from_form()


def signature_settings() -> SignatureSettings:
    return SignatureSettings.from_config(current_app.config)


def page_sizes(sha256: str) -> list[tuple[float, float]]:
    """Each page's width and height in points, for placing the stamp."""
    try:
        reader = PdfReader(io.BytesIO(file_store().open_verified(sha256)))
        return [(float(page.mediabox.width), float(page.mediabox.height)) for page in reader.pages]
    except (MissingFile, CorruptFile):
        raise ServiceError(_("The stored document is damaged or missing.")) from None
    except Exception:
        raise ServiceError(
            _("This PDF cannot be read by the signing library; nothing was signed.")
        ) from None


def stamp_lines(
    user: User, step: CircuitStep, circuit: Circuit, moment: datetime
) -> tuple[str, ...]:
    """Name, title, "for" the absent holder, date and reference, in the document's language."""
    language = "fr"
    if circuit.letter_id:
        letter = db.session.get(Letter, circuit.letter_id)
        language = letter.language if letter and letter.language in ("ar", "fr", "en") else "fr"
    if circuit.reply_draft_id:
        draft = db.session.get(ReplyDraft, circuit.reply_draft_id)
        language = draft.language if draft and draft.language in ("ar", "fr", "en") else language
    absent = circuits.acting_as(db.session, user, step)
    with force_locale(language):
        lines = [_("Signed by %(name)s", name=user.full_name)]
        if user.title:
            lines.append(user.title)
        if absent is not None and absent.id != user.id:
            lines.append(_("For %(title)s", title=absent.title or absent.full_name))
        lines.append(moment.strftime("%Y-%m-%d %H:%M UTC"))
        lines.append(_("Reference: %(ref)s", ref=_reference(circuit)))
    return tuple(lines)


def _reference(circuit: Circuit) -> str:
    if circuit.letter_id:
        letter = db.session.get(Letter, circuit.letter_id)
        if letter is not None:
            return letter.number
    return f"C-{circuit.id}"


def verification_url(circuit: Circuit) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}{url_for('verification.circuit_report', token=circuit.verification_token)}"


def _webauthn_rp() -> tuple[str, str]:
    rp_id = current_app.config.get("WEBAUTHN_RP_ID") or request.host.split(":")[0]
    return rp_id, request.host_url.rstrip("/")


def confirmation_options(digest_hex: str, purpose: str) -> str | None:
    """Assertion options when the user has a security key; the nonce waits in the session."""
    if not security_keys.has_active_key(db.session, current_user):
        return None
    nonce = os.urandom(16)
    session[f"webauthn:{purpose}"] = {"nonce": nonce.hex(), "digest": digest_hex}
    challenge = security_keys.signing_challenge(digest_hex, nonce)
    rp_id, _origin = _webauthn_rp()
    return security_keys.assertion_options(
        db.session, current_user, challenge=challenge, rp_id=rp_id
    )


def confirm_with_key(digest_hex: str, purpose: str, response_json: str) -> dict:
    """The security key's evidence over the digest, or {} when the user has no key.
    Raises ServiceError when a key is registered and the confirmation is missing or wrong."""
    if not security_keys.has_active_key(db.session, current_user):
        return {}
    pending = session.pop(f"webauthn:{purpose}", None)
    if not pending or pending.get("digest") != digest_hex or not response_json:
        raise ServiceError(_("Confirm with your security key."))
    challenge = security_keys.signing_challenge(digest_hex, bytes.fromhex(pending["nonce"]))
    rp_id, origin = _webauthn_rp()
    evidence = security_keys.verify_assertion(
        db.session,
        current_user,
        challenge=challenge,
        response_json=response_json,
        rp_id=rp_id,
        origin=origin,
    )
    return {**evidence, "document_sha256": digest_hex}


def batch_digest(steps: list[CircuitStep]) -> str:
    """One digest over every document of a batch (what one confirmation covers)."""
    lines = sorted(f"{s.id}:{s.circuit.current_version.sha256}" for s in steps)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def stamp_placement(sizes: list[tuple[float, float]]) -> dict:
    """Where the sign form puts the stamp: where the signer placed it before a failed attempt
    (page, x, y in the query string), else near the bottom corner of the last page."""
    page = request.args.get("page", type=int)
    x = request.args.get("x", type=float)
    y = request.args.get("y", type=float)
    if (
        page is not None
        and 1 <= page <= len(sizes)
        and all(v is not None and math.isfinite(v) and v >= 0 for v in (x, y))
    ):
        return {"page": page, "x": x, "y": y}
    last_width = sizes[-1][0] if sizes else 595.0
    return {"page": max(len(sizes), 1), "x": max(last_width - STAMP_SIZE[0] - 56, 0), "y": 56}


# -- pages -----------------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    pending = circuits.basket(db.session, current_user)
    signable = [s for s in pending if s.action == StepAction.SIGN]
    batch_options = confirmation_options(batch_digest(signable), "batch") if signable else None
    return render_template(
        "parapheur/index.html",
        pending=pending,
        mine=circuits.authored(db.session, current_user),
        batch_form=BatchSignForm(),
        batch_options=batch_options,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = StartForm()
    form.template_id.choices = template_choices()
    if form.validate_on_submit():
        try:
            steps = chosen_steps(form.template_id.data)
            accepted, errors = ingest_all([request.files.get("document")])
            if errors or not accepted:
                raise ServiceError(
                    str(errors[0]) if errors else _("Choose the PDF to sign."), "document"
                )
            document = accepted[0]
            circuit = circuits.start(
                db.session,
                current_actor(),
                title=form.title.data,
                document_type=form.document_type.data,
                pdf_sha256=document.pdf_sha256,
                size=document.size,
                pages=document.page_count,
                steps=steps,
            )
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            flash(_("The document was sent into its circuit."), "success")
            return redirect(url_for("parapheur.show", circuit_id=circuit.id))
    return render_template(
        "parapheur/new.html", form=form, targets=target_choices(), rows=range(1, STEP_ROWS + 1)
    ), (422 if form.is_submitted() else 200)


@bp.get("/<int:circuit_id>")
@login_required
def show(circuit_id: int):
    circuit = circuit_or_404(circuit_id)
    version = circuit.current_version
    mine = [
        step
        for step in circuit.steps
        if step.status == "pending" and circuits.acting_as(db.session, current_user, step)
    ]
    sign_step = next((s for s in mine if s.action == StepAction.SIGN), None)
    try:
        sizes = page_sizes(version.sha256)
    except ServiceError as error:
        flash(str(error.message), "error")
        sizes, sign_step = [], None
    sign_form = SignForm(version_id=version.id, **stamp_placement(sizes))
    return render_template(
        "parapheur/show.html",
        circuit=circuit,
        version=version,
        sizes=sizes,
        stamp_size=STAMP_SIZE,
        mine=mine,
        sign_step=sign_step,
        sign_form=sign_form,
        sign_options=confirmation_options(version.sha256, f"sign:{circuit.id}")
        if sign_step
        else None,
        visa_form=VisaForm(version_id=version.id),
        reject_form=RejectForm(version_id=version.id),
        annotate_form=AnnotateForm(),
        reason_form=ReasonForm(),
        replace_form=ReplaceForm(),
        annotations=circuits.annotations(db.session, circuit),
        history=_history(circuit),
        verify_url=url_for("verification.circuit_report", token=circuit.verification_token),
    )


def _history(circuit: Circuit):
    return db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.organisation_id == circuit.organisation_id,
            AuditEvent.object_type == "circuit",
            AuditEvent.object_id == circuit.id,
        )
        .order_by(AuditEvent.seq)
    ).all()


@bp.get("/<int:circuit_id>/v<int:number>/pages/<int:page>.png")
@login_required
def page_image(circuit_id: int, number: int, page: int):
    circuit = circuit_or_404(circuit_id)
    version = next((v for v in circuit.versions if v.number == number), None)
    if version is None or not 1 <= page <= version.page_count:
        abort(404)
    try:
        path = page_preview(
            file_store(), Path(current_app.config["PREVIEW_CACHE"]), version.sha256, page - 1
        )
    except PreviewUnavailable:
        abort(404)
    response = Response(path.read_bytes(), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/<int:circuit_id>/v<int:number>.pdf")
@login_required
def download(circuit_id: int, number: int):
    circuit = circuit_or_404(circuit_id)
    version = next((v for v in circuit.versions if v.number == number), None)
    if version is None:
        abort(404)
    data = file_store().open_verified(version.sha256)
    response = Response(data, mimetype="application/pdf")
    name = f"circuit-{circuit.id}-v{version.number}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# -- acting ------------------------------------------------------------------------------------


def _back(circuit_id: int):
    return redirect(url_for("parapheur.show", circuit_id=circuit_id))


@bp.post("/steps/<int:step_id>/approve")
@login_required
def approve(step_id: int):
    step = step_or_404(step_id)
    form = VisaForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        circuits.approve(
            db.session,
            current_actor(),
            step,
            version_id=form.version_id.data,
            comment=form.comment.data or "",
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Your visa was recorded."), "success")
    return _back(step.circuit_id)


@bp.post("/steps/<int:step_id>/reject")
@login_required
def reject(step_id: int):
    step = step_or_404(step_id)
    form = RejectForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for sending it back."), "error")
        return _back(step.circuit_id)
    try:
        circuits.reject(
            db.session,
            current_actor(),
            step,
            version_id=form.version_id.data,
            reason=form.reason.data,
            to_previous=form.to.data == "previous",
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The document was sent back."), "success")
    return _back(step.circuit_id)


@bp.post("/steps/<int:step_id>/sign")
@login_required
def sign(step_id: int):
    step = step_or_404(step_id)
    circuit = step.circuit
    form = SignForm()
    if not form.validate_on_submit():
        flash(_("Type your signing secret and place the stamp on a page."), "error")
        return _back(circuit.id)
    version = circuit.current_version
    try:
        # Whether the step is still open and the version still current is checked by the
        # service under the circuit's lock.
        evidence = confirm_with_key(
            version.sha256, f"sign:{circuit.id}", form.webauthn_response.data
        )
        sizes = page_sizes(version.sha256)
        if not 1 <= form.page.data <= len(sizes):
            raise ServiceError(_("Choose a page of the document for the stamp."))
        width, height = sizes[form.page.data - 1]
        x = min(form.x.data, max(width - STAMP_SIZE[0], 0))
        y = min(form.y.data, max(height - STAMP_SIZE[1], 0))
        job = circuits.SignatureJob(
            step=step,
            version_id=form.version_id.data,
            placement=circuits.Placement(
                form.page.data, (x, y, x + STAMP_SIZE[0], y + STAMP_SIZE[1])
            ),
            stamp_lines=stamp_lines(current_user, step, circuit, datetime.now(UTC)),
            qr_url=verification_url(circuit),
            evidence=evidence,
        )
        signing = SigningSession(db.session, current_user, form.secret.data, signature_settings())
        circuits.sign(
            db.session, current_actor(), [job], store=file_store(), make_signature=signing.sign
        )
        _archive_if_completed(circuit)
    except ServiceError as error:
        flash(str(error.message), "error")
        # Back to the page with the stamp where the signer put it, to try again.
        return redirect(
            url_for(
                "parapheur.show",
                circuit_id=circuit.id,
                page=form.page.data,
                x=form.x.data,
                y=form.y.data,
            )
        )
    flash(_("The document is signed."), "success")
    return _back(circuit.id)


@bp.post("/sign-batch")
@login_required
def sign_batch():
    form = BatchSignForm()
    if not form.validate_on_submit():
        flash(_("Type your signing secret."), "error")
        return redirect(url_for("parapheur.index"))
    chosen = {int(v) for v in request.form.getlist("step_id") if v.isdigit()}
    offered = [s for s in circuits.basket(db.session, current_user) if s.action == StepAction.SIGN]
    steps = [s for s in offered if s.id in chosen]
    if not steps:
        flash(_("Choose the documents to sign."), "error")
        return redirect(url_for("parapheur.index"))
    try:
        evidence = confirm_with_key(batch_digest(offered), "batch", form.webauthn_response.data)
        moment = datetime.now(UTC)
        jobs = []
        for step in steps:
            sizes = page_sizes(step.circuit.current_version.sha256)
            width, _height = sizes[-1]
            x = max(width - STAMP_SIZE[0] - 56, 0)
            jobs.append(
                circuits.SignatureJob(
                    step=step,
                    version_id=step.circuit.current_version.id,
                    placement=circuits.Placement(
                        len(sizes), (x, 56, x + STAMP_SIZE[0], 56 + STAMP_SIZE[1])
                    ),
                    stamp_lines=stamp_lines(current_user, step, step.circuit, moment),
                    qr_url=verification_url(step.circuit),
                    evidence=evidence,
                )
            )
        signing = SigningSession(db.session, current_user, form.secret.data, signature_settings())
        made = circuits.sign(
            db.session, current_actor(), jobs, store=file_store(), make_signature=signing.sign
        )
        for step in steps:
            _archive_if_completed(step.circuit)
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(
            ngettext("%(num)s document signed.", "%(num)s documents signed.", len(made)),
            "success",
        )
    return redirect(url_for("parapheur.index"))


def _archive_if_completed(circuit: Circuit) -> None:
    settings = signature_settings()
    if circuit.status == "completed" and settings.archive_timestamps:
        archive(db.session, circuit, store=file_store(), settings=settings)


@bp.post("/<int:circuit_id>/annotate")
@login_required
def annotate(circuit_id: int):
    circuit = circuit_or_404(circuit_id)
    form = AnnotateForm()
    if not form.validate_on_submit():
        flash(_("Write the remark (at most 2,000 characters)."), "error")
        return _back(circuit.id)
    try:
        circuits.annotate(
            db.session,
            current_actor(),
            circuit,
            page=form.page.data,
            x=form.x.data,
            y=form.y.data,
            text=form.text.data,
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    return _back(circuit.id)


@bp.post("/<int:circuit_id>/withdraw")
@login_required
def withdraw(circuit_id: int):
    circuit = circuit_or_404(circuit_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for withdrawing it."), "error")
        return _back(circuit.id)
    try:
        circuits.withdraw(db.session, current_actor(), circuit, reason=form.reason.data)
    except ServiceError as error:
        flash(str(error.message), "error")
    return _back(circuit.id)


@bp.post("/<int:circuit_id>/replace")
@login_required
def replace(circuit_id: int):
    circuit = circuit_or_404(circuit_id)
    form = ReplaceForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        accepted, errors = ingest_all([request.files.get("document")])
        if errors or not accepted:
            raise ServiceError(str(errors[0]) if errors else _("Choose the PDF to sign."))
        document = accepted[0]
        circuits.resubmit(
            db.session,
            current_actor(),
            circuit,
            pdf_sha256=document.pdf_sha256,
            size=document.size,
            pages=document.page_count,
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The new version was submitted; every visa is asked again."), "success")
    return _back(circuit.id)


def step_target_label(step: CircuitStep) -> str:
    if step.assignee is not None:
        return step.assignee.full_name
    locale = str(get_locale() or "ar")
    department = step.department.name(locale) if step.department else ""
    return f"{role_label(step.role)} — {department}"


@bp.app_context_processor
def parapheur_globals():
    def to_sign_count() -> int:
        if not current_user.is_authenticated:
            return 0
        return circuits.basket_count(db.session, current_user)

    return {
        "to_sign_count": to_sign_count,
        "step_target_label": step_target_label,
        "format_moment": lambda moment: format_datetime(moment, "short") if moment else "",
    }
