"""Optional citizen accounts: an e-mail confirmed by a link and a password. An account lists the
citizen's requests across administrations; a request is never bound to having one.

Whether an address has an account is never told to the person typing it: signing up with a
known address answers as for a new one, and the e-mail says an account exists already.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.database import write_transaction
from app.models import CitizenAccount, OutgoingEmail
from app.models.base import utcnow
from app.services import throttle
from app.services.errors import ServiceError
from app.services.portal import EMAIL_PATTERN, digest, new_token

MIN_PASSWORD = 10
MAX_ACCOUNT_EMAILS_PER_HOUR = 3
# Checked against a real hash when the address is unknown, so both answers take as long.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


def sign_up(
    session: Session,
    email: str,
    password: str,
    locale: str,
    *,
    confirmation_email: Callable[[str], tuple[str, str]],
    existing_email: Callable[[], tuple[str, str]],
) -> None:
    """Queue the confirmation link (or, for a known address, a note that it has an account)."""
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise ServiceError(_l("This e-mail address is not valid."), "email")
    if len(password) < MIN_PASSWORD or password.strip() == "" or password.lower() in email:
        raise ServiceError(
            _l("Choose a password of at least 10 characters, not your e-mail address."),
            "password",
        )
    since = utcnow() - timedelta(hours=1)
    recent = session.scalar(
        select(func.count(OutgoingEmail.id)).where(
            OutgoingEmail.to_address == email,
            OutgoingEmail.organisation_id.is_(None),
            OutgoingEmail.created_at >= since,
        )
    )
    if recent >= MAX_ACCOUNT_EMAILS_PER_HOUR:  # nobody floods an address through this form
        raise ServiceError(
            _l("Too many e-mails were sent to this address: try again in an hour."), "email"
        )
    token = new_token()
    try:
        with write_transaction(session):
            known = session.scalar(select(CitizenAccount).where(CitizenAccount.email == email))
            if known is None:
                session.add(
                    CitizenAccount(
                        email=email,
                        password_hash=generate_password_hash(password),
                        locale=locale,
                        confirm_token_hash=digest(token),
                    )
                )
                subject, body = confirmation_email(token)
            else:
                subject, body = existing_email()
            session.add(
                OutgoingEmail(organisation_id=None, to_address=email, subject=subject, body=body)
            )
    except IntegrityError:  # the same address signed up at the same moment: one account
        return


def confirm(session: Session, token: str) -> CitizenAccount | None:
    account = session.scalar(
        select(CitizenAccount).where(CitizenAccount.confirm_token_hash == digest(token))
    )
    if account is None:
        return None
    with write_transaction(session):
        account.confirmed_at = account.confirmed_at or utcnow()
        account.confirm_token_hash = None
    return account


def authenticate(
    session: Session, email: str, password: str, remote_addr: str
) -> CitizenAccount | None:
    """The confirmed account with this e-mail and password, or None. Raise throttle.Blocked while
    the address or the account must wait after wrong attempts."""
    email = email.strip().lower()
    keys = [f"citizen:addr:{remote_addr}", f"citizen:email:{digest(email)[:32]}"]
    throttle.check(session, keys)
    account = session.scalar(select(CitizenAccount).where(CitizenAccount.email == email))
    valid = check_password_hash(account.password_hash if account else _DUMMY_HASH, password)
    if account is None or not valid or account.confirmed_at is None:
        throttle.fail(session, keys)
        return None
    throttle.succeed(session, keys)
    return account
