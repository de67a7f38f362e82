"""Security keys on the account page: list, register (a WebAuthn ceremony), disable.

Also the web half of confirming a signature with a key, for the signing step's views: the
relying party of the request, and the nonce kept in the Flask session between the options sent
to the browser and the verification of its answer.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from app.blueprints.common import current_actor
from app.extensions import db
from app.forms import ActionForm
from app.services import security_keys
from app.services.security_keys import MAX_NAME_LENGTH, SecurityKeyError

bp = Blueprint("security_keys", __name__, url_prefix="/account/security-keys")

REGISTRATION_CHALLENGE = "webauthn_registration_challenge"
SIGNING_NONCES = "webauthn_signing_nonces"  # {document sha256: nonce}, newest last
MAX_PENDING_SIGNINGS = 5  # documents being signed at once in one session (tabs)
CHALLENGE_BYTES = 32


class SecurityKeyForm(FlaskForm):
    name = StringField(
        _l("Name of the key"), validators=[DataRequired(), Length(max=MAX_NAME_LENGTH)]
    )
    webauthn_response = HiddenField()  # filled by webauthn.js with the authenticator's answer


def relying_party() -> tuple[str, str]:
    """(RP id, expected origin) of this request. The RP id is the WEBAUTHN_RP_ID setting, else
    the host name the user reached; the origin is always the request's own scheme and host."""
    rp_id = current_app.config["WEBAUTHN_RP_ID"] or urlsplit(request.host_url).hostname
    return rp_id, f"{request.scheme}://{request.host}"


@bp.get("")
@login_required
def index():
    return _page(SecurityKeyForm())


@bp.post("")
@login_required
def add():
    form = SecurityKeyForm()
    challenge = session.pop(REGISTRATION_CHALLENGE, None)  # one answer per challenge
    if not form.validate_on_submit():  # (CSRFProtect has refused a missing token already)
        return _page(form, 422)
    if challenge is None:
        flash(_("The registration expired. Try again."), "error")
        return _page(form, 422)
    rp_id, origin = relying_party()
    try:
        security_keys.register_key(
            db.session,
            current_actor(),
            name=form.name.data,
            challenge=base64url_to_bytes(challenge),
            response_json=form.webauthn_response.data,
            rp_id=rp_id,
            origin=origin,
        )
    except SecurityKeyError as error:
        field = getattr(form, error.field, None) if error.field else None
        if field is None:
            flash(str(error.message), "error")
        else:
            field.errors = [*field.errors, error.message]
        return _page(form, 422)
    flash(_("The security key was registered."), "success")
    return redirect(url_for("security_keys.index"))


@bp.post("/<int:key_id>/disable")
@login_required
def disable(key_id: int):
    key = security_keys.key_of_user(db.session, current_user, key_id)
    if key is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        security_keys.disable_key(db.session, current_actor(), key)
    except SecurityKeyError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The security key was disabled."), "success")
    return redirect(url_for("security_keys.index"))


def _page(form: SecurityKeyForm, status: int = 200):
    """The page with a fresh registration challenge (the previous one is forgotten)."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    session[REGISTRATION_CHALLENGE] = bytes_to_base64url(challenge)
    rp_id, _origin = relying_party()
    options = security_keys.registration_options(
        db.session, current_user, challenge=challenge, rp_id=rp_id
    )
    return (
        render_template(
            "auth/security_keys.html",
            form=form,
            action_form=ActionForm(),
            keys=security_keys.keys_of(db.session, current_user),
            registration_options=options,
        ),
        status,
    )


# --- confirming a signature (used by the signing step's views) -------------------------------


def signing_assertion_options(document_sha256: str) -> str:
    """Options for navigator.credentials.get that bind the current user's key to this document
    (put them in the signing form's data-webauthn-options). The nonce stays in the session."""
    nonce = secrets.token_bytes(CHALLENGE_BYTES)
    challenge = security_keys.signing_challenge(document_sha256, nonce)
    pending = dict(session.get(SIGNING_NONCES, {}))
    pending.pop(document_sha256, None)
    pending[document_sha256] = bytes_to_base64url(nonce)
    session[SIGNING_NONCES] = dict(list(pending.items())[-MAX_PENDING_SIGNINGS:])
    rp_id, _origin = relying_party()
    return security_keys.assertion_options(
        db.session, current_user, challenge=challenge, rp_id=rp_id
    )


def verify_signing_assertion(document_sha256: str, response_json: str) -> dict:
    """Verify the form's webauthn_response for this document; the nonce is used up whatever the
    outcome. Returns the evidence (see security_keys.verify_assertion); raises SecurityKeyError."""
    pending = dict(session.get(SIGNING_NONCES, {}))
    nonce = pending.pop(document_sha256, None)
    session[SIGNING_NONCES] = pending
    if nonce is None:
        raise SecurityKeyError(_l("The confirmation expired. Try again."))
    rp_id, origin = relying_party()
    return security_keys.verify_assertion(
        db.session,
        current_user._get_current_object(),
        challenge=security_keys.signing_challenge(document_sha256, base64url_to_bytes(nonce)),
        response_json=response_json,
        rp_id=rp_id,
        origin=origin,
    )
