"""The citizens' e-counter (public, no staff sign-in): choose an administration and a kind of
request, submit it with attachments, confirm the e-mail, get the sealed receipt, follow the
request with its number and tracking code, answer a request for a complement, rate the answer,
reopen a complaint; an optional account lists one's requests.

A request's page is reached only with its number and code (or from the account that made it):
the browser's signed session remembers which requests it opened. Nothing here tells whether a
registry number exists without its code.
"""

from __future__ import annotations

import secrets
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.blueprints.auth import expiry_message
from app.blueprints.auth import settings as sign_in_settings
from app.blueprints.portal_forms import (
    ComplementForm,
    ConfirmForm,
    RatingForm,
    ReopenForm,
    SignInForm,
    SignUpForm,
    SubmissionForm,
    TrackForm,
)
from app.extensions import db, limiter
from app.files.sniff import JPEG, PDF, PNG
from app.files.store import CorruptFile, MissingFile
from app.models import (
    IDENTITY_FIELDS,
    CitizenAccount,
    Document,
    EmailMode,
    Letter,
    Organisation,
    PortalRequestType,
    PortalSubmission,
)
from app.models.base import utcnow
from app.services import citizens, portal, portal_documents, throttle
from app.services import sign_in as sessions
from app.services.errors import ServiceError
from app.timezones import to_local
from app.uploads import decode_kept, encode_kept, file_store, ingest_all

bp = Blueprint("portal", __name__, url_prefix="/portal")

ACCEPTED_TYPES = frozenset({PDF, JPEG, PNG})
ACCESS_KEY = "portal_access"  # public ids of the requests this browser opened
NEW_CODES_KEY = "portal_new_codes"  # a code shown once, on the page after the registration
CITIZEN_KEY = "citizen_id"
# A citizen's session ends like a staff member's (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS):
# portal accounts are used from shared computers in cyber-cafés and public offices.
CITIZEN_SIGNED_IN_AT = "portal.signed_in_at"
CITIZEN_SEEN_AT = "portal.seen_at"
SEEN_EVERY_S = 10  # the idle clock is refreshed at most this often (fewer new cookies)
VISITOR_KEY = "portal_visitor"  # binds files kept across a form to this browser
MAX_REMEMBERED = 20


def _limit(name: str):
    return lambda: current_app.config[name]


def _settings() -> portal.PortalSettings:
    return portal.PortalSettings.from_config(current_app.config)


def _receipt_settings() -> portal_documents.ReceiptSettings:
    return portal_documents.ReceiptSettings.from_config(current_app.config)


def _locale() -> str:
    return str(get_locale() or "ar")


def _remote() -> str:
    return request.remote_addr or ""


def _citizen() -> CitizenAccount | None:
    account_id = session.get(CITIZEN_KEY)
    return db.session.get(CitizenAccount, account_id) if account_id else None


def _sign_citizen_out() -> None:
    for key in (CITIZEN_KEY, CITIZEN_SIGNED_IN_AT, CITIZEN_SEEN_AT):
        session.pop(key, None)


@bp.before_request
def _citizen_session_clock():
    """Sign out a citizen idle or signed in long enough; the public pages go on without them
    (the account page asks to sign in again)."""
    if CITIZEN_KEY not in session:
        return
    moment = sessions.now()
    reason = sessions.expiry(
        sign_in_settings(),
        None,  # a citizen cannot change the password while signed in elsewhere
        session.get(CITIZEN_SIGNED_IN_AT),
        session.get(CITIZEN_SEEN_AT),
        moment,
    )
    if reason is not None:
        _sign_citizen_out()
        flash(expiry_message(reason), "info")
    elif sessions.epoch(moment) - session[CITIZEN_SEEN_AT] >= SEEN_EVERY_S:
        session[CITIZEN_SEEN_AT] = sessions.epoch(moment)


@bp.context_processor
def _portal_context():
    return {"citizen": _citizen()}


def _grant(submission: PortalSubmission) -> None:
    opened = [p for p in session.get(ACCESS_KEY, []) if p != submission.public_id]
    session[ACCESS_KEY] = [*opened, submission.public_id][-MAX_REMEMBERED:]


def _submission_or_404(public_id: str) -> PortalSubmission:
    submission = db.session.scalar(
        select(PortalSubmission).where(PortalSubmission.public_id == public_id)
    )
    if submission is None or submission.letter is None:
        abort(404)
    g.timezone = submission.organisation.timezone
    if public_id in session.get(ACCESS_KEY, []):
        return submission
    citizen = _citizen()
    if citizen is not None and submission in portal.submissions_of(db.session, citizen):
        return submission
    abort(404)


# -- choosing -----------------------------------------------------------------------------------


@bp.route("/")
def index():
    search = request.args.get("q", "")[:100]
    organisations = portal.portal_organisations(db.session, search)
    return render_template("portal/index.html", organisations=organisations, search=search)


def _organisation_or_404(code: str) -> Organisation:
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if organisation is None or not portal.published_types(db.session, organisation.id):
        abort(404)
    g.timezone = organisation.timezone
    return organisation


@bp.route("/<org_code>/")
def organisation_page(org_code: str):
    organisation = _organisation_or_404(org_code)
    types = portal.published_types(db.session, organisation.id)
    return render_template("portal/organisation.html", organisation=organisation, types=types)


# -- submitting ----------------------------------------------------------------------------------


def _request_type_or_404(organisation: Organisation, type_code: str) -> PortalRequestType:
    request_type = db.session.scalar(
        select(PortalRequestType).where(
            PortalRequestType.organisation_id == organisation.id,
            PortalRequestType.code == type_code,
            PortalRequestType.published.is_(True),
        )
    )
    if request_type is None:
        abort(404)
    return request_type


def _visitor() -> str:
    if VISITOR_KEY not in session:
        session[VISITOR_KEY] = secrets.token_urlsafe(12)
    return session[VISITOR_KEY]


def _upload_limits() -> dict:
    return {
        "max_mb": current_app.config["PORTAL_MAX_UPLOAD_MB"],
        "max_files": current_app.config["PORTAL_MAX_FILES"],
    }


def _take_files(form, kept_field) -> tuple[list, list]:
    """Files kept from an earlier attempt (minus those removed) and the new uploads."""
    config = current_app.config
    removed = set(request.form.getlist("remove_kept"))
    kept = [f for f in decode_kept(kept_field.data, _visitor()) if f.original_sha256 not in removed]
    new_files, errors = ingest_all(
        request.files.getlist(form.attachments.name),
        max_mb=config["PORTAL_MAX_UPLOAD_MB"],
        accept=ACCEPTED_TYPES,
        readable_only=True,
    )
    kept += new_files
    if len(kept) > config["PORTAL_MAX_FILES"]:
        errors.append(_("At most %(n)s attachments.", n=config["PORTAL_MAX_FILES"]))
        kept = kept[: config["PORTAL_MAX_FILES"]]
    kept_field.data = encode_kept(kept, _visitor())
    return kept, errors


def _submission_data(form: SubmissionForm, files) -> portal.Submission:
    return portal.Submission(
        name=form.name.data or "",
        national_id=form.national_id.data or "",
        email=form.email.data or "",
        phone=form.phone.data or "",
        address=form.address.data or "",
        subject=form.subject.data or "",
        message=form.message.data or "",
        locale=_locale(),
        files=files,
    )


def _message_pdf(organisation, request_type, data: portal.Submission, title: str):
    sender = [data.name, data.national_id, data.address, data.email, data.phone]
    return portal_documents.message_document(
        file_store(),
        organisation=organisation,
        request_type=request_type,
        locale=data.locale,
        sender_lines=[line.strip() for line in sender if line and line.strip()],
        subject=data.subject,
        message=data.message,
        title=title,
    )


def _confirmation_email(organisation: Organisation, request_type: PortalRequestType):
    def build(token: str) -> tuple[str, str]:
        link = current_app.config["BASE_URL"].rstrip("/") + url_for("portal.confirm", token=token)
        subject = _(
            "Confirm your request to %(organisation)s", organisation=organisation.name(_locale())
        )
        body = "\n".join(
            [
                _(
                    "You sent a request (%(type)s) to %(organisation)s on Diwan's e-counter.",
                    type=request_type.name(_locale()),
                    organisation=organisation.name(_locale()),
                ),
                _("To confirm your e-mail address and register it, open this link:"),
                link,
                "",
                _(
                    "The link is valid for %(hours)s hours. If you did not send this request, "
                    "ignore this message: nothing will be registered.",
                    hours=current_app.config["PORTAL_CONFIRM_HOURS"],
                ),
            ]
        )
        return subject, body

    return build


def _refuse_robot(form: SubmissionForm):
    """A filled honeypot: answered like a refused form, and nothing is kept."""
    current_app.logger.info("portal: honeypot filled from %s", _remote())
    return render_template("portal/refused.html"), 400


@bp.route("/<org_code>/<type_code>", methods=["GET", "POST"])
@limiter.limit(_limit("PORTAL_SUBMIT_RATE_LIMIT"), methods=["POST"])
def submit(org_code: str, type_code: str):
    organisation = _organisation_or_404(org_code)
    request_type = _request_type_or_404(organisation, type_code)
    form = SubmissionForm()
    citizen = _citizen()
    if request.method == "GET" and citizen is not None:
        form.email.data = citizen.email
    kept, file_errors = [], []
    if form.is_submitted():
        if (form.website.data or "").strip():
            return _refuse_robot(form)
        kept, file_errors = _take_files(form, form.kept_files)
        if form.validate() and not file_errors:
            data = _submission_data(form, kept)
            try:
                submitted = portal.submit(
                    db.session,
                    request_type,
                    data,
                    remote_addr=_remote(),
                    citizen=citizen,
                    settings=_settings(),
                    message_pdf=lambda: _message_pdf(
                        organisation, request_type, data, _("Request.pdf")
                    ),
                    confirmation_email=_confirmation_email(organisation, request_type),
                )
            except ServiceError as error:
                _attach_error(form, error, file_errors)
            else:
                if submitted.confirm_token is not None:
                    return redirect(url_for("portal.check_email", email=data.email.strip()))
                return _registered(submitted)
    status = 422 if form.is_submitted() else 200
    return (
        render_template(
            "portal/submit.html",
            organisation=organisation,
            request_type=request_type,
            form=form,
            kept=kept,
            file_errors=file_errors,
            required=_required_fields(request_type),
            **_upload_limits(),
        ),
        status,
    )


def _required_fields(request_type: PortalRequestType) -> set[str]:
    required = {"name", *(request_type.required_fields or ())}
    if request_type.email_mode == EmailMode.REQUIRED:
        required.add("email")
    return required & {"name", *IDENTITY_FIELDS}


def _attach_error(form, error: ServiceError, file_errors: list) -> None:
    field = getattr(form, error.field, None) if error.field else None
    if error.field == "attachments" or field is None:
        file_errors.append(error.message)
    else:
        field.errors = [*field.errors, error.message]


def _registered(submitted: portal.Submitted):
    """After the registration: the receipt is made now (if that fails the worker makes it and
    e-mails it), the code kept for the next page only, and the browser may open the request."""
    submission = submitted.submission
    _grant(submission)
    if submitted.tracking_code is not None:
        session[NEW_CODES_KEY] = {submission.public_id: submitted.tracking_code}
        try:
            portal_documents.issue_receipt(
                db.session, submission, file_store(), _receipt_settings()
            )
        except Exception:  # sealing needs the time-stamp authority; the worker retries
            current_app.logger.exception("receipt of submission %s not made now", submission.id)
            db.session.rollback()
    return redirect(url_for("portal.request_page", public_id=submission.public_id))


@bp.route("/sent")
def check_email():
    return render_template("portal/check_email.html", email=request.args.get("email", "")[:200])


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(_limit("PORTAL_CONFIRM_RATE_LIMIT"), methods=["POST"])
def confirm(token: str):
    """The e-mail's link shows a button: a mail scanner opening the link registers nothing."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("portal/confirm.html", form=form)
    submitted = portal.confirm(db.session, token, _remote(), _settings())
    if submitted is None:
        return render_template("portal/confirm.html", form=None, invalid=True), 404
    if submitted.tracking_code is None:
        flash(
            _(
                "This request was registered already; its receipt and tracking code were sent "
                "to your e-mail address."
            ),
            "info",
        )
    return _registered(submitted)


# -- following -----------------------------------------------------------------------------------


def _must_wait(template: str, form, blocked: throttle.Blocked):
    message = _(
        "Too many wrong attempts: wait %(seconds)s seconds before trying again.",
        seconds=blocked.seconds,
    )
    return render_template(template, form=form, blocked=message), 429


@bp.route("/track", methods=["GET", "POST"])
@limiter.limit(_limit("PORTAL_TRACK_RATE_LIMIT"), methods=["POST"])
def track():
    form = TrackForm()
    if request.method == "GET" and request.args.get("number"):
        form.number.data = request.args["number"][:60]
    status = 200
    if form.validate_on_submit():
        try:
            submission = portal.find_for_tracking(
                db.session, form.number.data, form.code.data, _remote()
            )
        except throttle.Blocked as blocked:
            return _must_wait("portal/track.html", form, blocked)
        if submission is not None:
            _grant(submission)
            return redirect(url_for("portal.request_page", public_id=submission.public_id))
        form.code.errors = [
            _("This registry number and tracking code do not match any request. Check both.")
        ]
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("portal/track.html", form=form), status


def _answer_documents(submission: PortalSubmission) -> list[tuple[Letter, Document]]:
    return [
        (letter, document)
        for letter in portal.answers(db.session, submission)
        for document in letter.documents
    ]


@bp.route("/requests/<public_id>")
def request_page(public_id: str):
    submission = _submission_or_404(public_id)
    organisation = submission.organisation
    new_code = session.get(NEW_CODES_KEY, {}).get(public_id)
    if new_code:
        session.pop(NEW_CODES_KEY)
    letter = portal.current_letter(submission)
    department = portal.processing_department(db.session, letter)
    reopen_until = portal.reopen_until(db.session, submission)
    if reopen_until is not None and _today(organisation) > reopen_until:
        reopen_until = None
    return render_template(
        "portal/request.html",
        submission=submission,
        organisation=organisation,
        letter=letter,
        letters=portal.letters_of(submission),
        department=department,
        steps=portal.timeline(db.session, submission, _locale()),
        answers=_answer_documents(submission),
        new_code=new_code,
        can_rate=portal.can_rate(submission),
        reopen_until=reopen_until,
        complement_form=ComplementForm(),
        rating_form=RatingForm(),
        reopen_form=ReopenForm(),
        **_upload_limits(),
    )


def _today(organisation: Organisation) -> date:
    return to_local(utcnow(), organisation.timezone).date()


@bp.route("/requests/<public_id>/receipt")
def receipt(public_id: str):
    submission = _submission_or_404(public_id)
    try:
        sha = portal_documents.issue_receipt(
            db.session, submission, file_store(), _receipt_settings()
        )
    except Exception:
        current_app.logger.exception("receipt of submission %s not made", submission.id)
        sha = None
    if sha is None:
        flash(_("The receipt is being prepared: try again in a minute."), "info")
        return redirect(url_for("portal.request_page", public_id=public_id))
    return _pdf_response(sha, portal_documents.receipt_filename(submission.letter))


@bp.route("/requests/<public_id>/answers/<int:document_id>")
def answer_document(public_id: str, document_id: int):
    submission = _submission_or_404(public_id)
    for _letter, document in _answer_documents(submission):
        if document.id == document_id:
            version = document.current
            return _pdf_response(version.pdf_sha256 or version.original_sha256, document.title)
    abort(404)


def _follow_up(submission: PortalSubmission, subject: str, message: str) -> portal.Submission:
    """A later message of the same citizen (a complement, a reopening), to render as a letter."""
    return portal.Submission(
        name=submission.name,
        subject=subject,
        message=message,
        national_id=submission.national_id,
        address=submission.address,
        email=submission.email,
        phone=submission.phone,
        locale=_locale(),
    )


def _pdf_response(sha256: str, filename: str) -> Response:
    try:
        data = file_store().open_verified(sha256)
    except (MissingFile, CorruptFile):
        current_app.logger.error("portal: stored file %s unreadable", sha256)
        abort(500)
    response = Response(data, mimetype="application/pdf")
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


@bp.route("/requests/<public_id>/complement", methods=["POST"])
@limiter.limit(_limit("PORTAL_SUBMIT_RATE_LIMIT"))
def complement(public_id: str):
    submission = _submission_or_404(public_id)
    form = ComplementForm()
    organisation = submission.organisation
    if form.validate():
        files, errors = ingest_all(
            request.files.getlist(form.attachments.name),
            max_mb=current_app.config["PORTAL_MAX_UPLOAD_MB"],
            accept=ACCEPTED_TYPES,
            readable_only=True,
        )
        if len(files) > current_app.config["PORTAL_MAX_FILES"]:
            errors.append(_("At most %(n)s attachments.", n=current_app.config["PORTAL_MAX_FILES"]))
        if not errors:
            data = _follow_up(
                submission,
                _("Complement: %(subject)s", subject=submission.subject),
                form.message.data or "",
            )
            try:
                if not data.message.strip():
                    raise ServiceError(_("Write your message (at most 20,000 characters)."))
                pdf = _message_pdf(organisation, submission.request_type, data, _("Complement.pdf"))
                portal.add_complement(
                    db.session,
                    submission,
                    data.message,
                    [pdf, *files],
                    remote_addr=_remote(),
                    today=_today(organisation),
                )
            except ServiceError as error:
                errors.append(error.message)
            else:
                flash(_("Your complement was added to your request."), "success")
                return redirect(url_for("portal.request_page", public_id=public_id))
        for error in errors:
            flash(str(error), "error")
    else:
        _flash_form_errors(form)
    return redirect(url_for("portal.request_page", public_id=public_id))


def _flash_form_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


@bp.route("/requests/<public_id>/rate", methods=["POST"])
def rate(public_id: str):
    submission = _submission_or_404(public_id)
    form = RatingForm()
    if form.validate():
        try:
            portal.rate(
                db.session, submission, int(form.stars.data), form.comment.data or "", _remote()
            )
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            flash(_("Thank you for your rating."), "success")
    else:
        flash(_("Choose from 1 to 5 stars."), "error")
    return redirect(url_for("portal.request_page", public_id=public_id))


@bp.route("/requests/<public_id>/reopen", methods=["POST"])
@limiter.limit(_limit("PORTAL_SUBMIT_RATE_LIMIT"))
def reopen(public_id: str):
    submission = _submission_or_404(public_id)
    form = ReopenForm()
    if form.validate():
        organisation = submission.organisation
        data = _follow_up(
            submission,
            _("Reopening: %(subject)s", subject=submission.subject),
            form.reason.data or "",
        )
        try:
            if len(data.message.strip()) < portal.MIN_REASON:
                raise ServiceError(_("Say why you reopen it (10 to 2,000 characters)."))
            letter = portal.reopen(
                db.session,
                submission,
                data.message,
                remote_addr=_remote(),
                settings=_settings(),
                message_pdf=_message_pdf(
                    organisation, submission.request_type, data, _("Reopening.pdf")
                ),
            )
        except ServiceError as error:
            flash(str(error.message), "error")
        else:
            flash(
                _("Your complaint was reopened under number %(number)s.", number=letter.number),
                "success",
            )
    else:
        _flash_form_errors(form)
    return redirect(url_for("portal.request_page", public_id=public_id))


# -- the optional account -----------------------------------------------------------------------


@bp.route("/account/sign-up", methods=["GET", "POST"])
@limiter.limit(_limit("PORTAL_ACCOUNT_RATE_LIMIT"), methods=["POST"])
def sign_up():
    form = SignUpForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()

        def confirmation_email(token: str) -> tuple[str, str]:
            link = current_app.config["BASE_URL"].rstrip("/") + url_for(
                "portal.confirm_account", token=token
            )
            body = _("To confirm your e-counter account, open this link:") + "\n" + link
            return _("Confirm your e-counter account"), body

        def existing_email() -> tuple[str, str]:
            body = _(
                "Someone asked to create an e-counter account for this address, which has one "
                "already. Sign in with your password; if it was not you, ignore this message."
            )
            return _("Your e-counter account"), body

        try:
            citizens.sign_up(
                db.session,
                email,
                form.password.data,
                _locale(),
                confirmation_email=confirmation_email,
                existing_email=existing_email,
            )
        except ServiceError as error:
            field = getattr(form, error.field or "", None) or form.email
            field.errors = [*field.errors, error.message]
        else:
            return redirect(url_for("portal.check_email", email=email))
    status = 422 if form.is_submitted() else 200
    return render_template("portal/sign_up.html", form=form), status


@bp.route("/account/confirm/<token>")
@limiter.limit(_limit("PORTAL_CONFIRM_RATE_LIMIT"))
def confirm_account(token: str):
    account = citizens.confirm(db.session, token)
    if account is None:
        return render_template("portal/confirm.html", form=None, invalid=True), 404
    flash(_("Your account is confirmed: sign in."), "success")
    return redirect(url_for("portal.sign_in"))


@bp.route("/account/sign-in", methods=["GET", "POST"])
@limiter.limit(_limit("PORTAL_ACCOUNT_RATE_LIMIT"), methods=["POST"])
def sign_in():
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        try:
            account = citizens.authenticate(
                db.session, form.email.data, form.password.data, _remote()
            )
        except throttle.Blocked as blocked:
            return _must_wait("portal/sign_in.html", form, blocked)
        if account is not None:
            opened = session.get(ACCESS_KEY, [])
            session.clear()
            session[ACCESS_KEY] = opened
            session[CITIZEN_KEY] = account.id
            session[CITIZEN_SIGNED_IN_AT] = session[CITIZEN_SEEN_AT] = sessions.epoch(
                sessions.now()
            )
            return redirect(url_for("portal.my_requests"))
        form.password.errors = [
            _("Wrong e-mail address or password, or the account is not confirmed yet.")
        ]
        status = 422
    return render_template("portal/sign_in.html", form=form), status


@bp.route("/account/sign-out", methods=["POST"])
def sign_out():
    if ConfirmForm().validate_on_submit():
        _sign_citizen_out()
    return redirect(url_for("portal.index"))


@bp.route("/account")
def my_requests():
    citizen = _citizen()
    if citizen is None:
        return redirect(url_for("portal.sign_in"))
    return render_template(
        "portal/my_requests.html", submissions=portal.submissions_of(db.session, citizen)
    )
