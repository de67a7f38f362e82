"""A signatory's signing certificate: create one (the key is kept under a signing secret the
server never stores), import one from an outside CA (PKCS#12), revoke one."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import FileField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.blueprints.common import current_actor
from app.extensions import db
from app.models.signing import SigningCertificate
from app.services import pki
from app.services.errors import ServiceError

bp = Blueprint("certificates", __name__, url_prefix="/account/certificates")

MAX_PKCS12_BYTES = 1024 * 1024


class EnrolForm(FlaskForm):
    secret = PasswordField(_l("Signing secret"), validators=[DataRequired()])
    confirmation = PasswordField(_l("Signing secret again"), validators=[DataRequired()])


class ImportForm(FlaskForm):
    file = FileField(_l("PKCS#12 file (.p12, .pfx)"))
    password = PasswordField(_l("Password of the file"))
    secret = PasswordField(_l("Signing secret"), validators=[DataRequired()])
    confirmation = PasswordField(_l("Signing secret again"), validators=[DataRequired()])


class RevokeForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


def _settings() -> pki.PkiSettings:
    return pki.PkiSettings.from_config(current_app.config)


@bp.get("/")
@login_required
def index():
    return render_template(
        "auth/certificates.html",
        certificates=pki.certificates_of(db.session, current_user),
        current=pki.signatory_certificate(db.session, current_user),
        enrol_form=EnrolForm(),
        import_form=ImportForm(),
        revoke_form=RevokeForm(),
    )


@bp.post("/new")
@login_required
def enrol():
    form = EnrolForm()
    if not form.validate_on_submit():
        flash(_("Type your signing secret twice."), "error")
        return redirect(url_for("certificates.index"))
    try:
        pki.enrol_signatory(
            db.session,
            current_actor(),
            secret=form.secret.data,
            confirmation=form.confirmation.data,
            settings=_settings(),
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _(
                "Your signing certificate is ready. Keep your signing secret: Diwan cannot "
                "recover it."
            ),
            "success",
        )
    return redirect(url_for("certificates.index"))


@bp.post("/import")
@login_required
def import_pkcs12():
    form = ImportForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None or not upload.filename:
        flash(_("Choose the PKCS#12 file and type your signing secret twice."), "error")
        return redirect(url_for("certificates.index"))
    data = upload.stream.read(MAX_PKCS12_BYTES + 1)
    try:
        if len(data) > MAX_PKCS12_BYTES:
            raise ServiceError(_("This file is too large to be a PKCS#12 file."))
        pki.import_pkcs12(
            db.session,
            current_actor(),
            data=data,
            password=form.password.data or "",
            secret=form.secret.data,
            confirmation=form.confirmation.data,
        )
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The certificate was imported."), "success")
    return redirect(url_for("certificates.index"))


@bp.post("/<int:certificate_id>/revoke")
@login_required
def revoke(certificate_id: int):
    row = db.session.get(SigningCertificate, certificate_id)
    if row is None or not pki.can_revoke(current_user, row):
        abort(404)
    form = RevokeForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for the revocation."), "error")
        return redirect(url_for("certificates.index"))
    try:
        pki.revoke(db.session, current_actor(), row, reason=form.reason.data, settings=_settings())
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The certificate is revoked."), "success")
    return redirect(url_for("certificates.index"))
