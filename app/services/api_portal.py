"""E-counter requests sent by another system (a national portal, a kiosk) with the
organisation's service token: registered at once, as the portal registers a request, and
answered with the number and the tracking code.

With an idempotency key, the key is claimed in the transaction that keeps the request, and the
registration (portal.register: once per request, under the request's row lock) follows. A retry
finds the key: answered already, it gets the same answer; otherwise it completes the same request
(registering it if the first attempt stopped before), so there is never a second letter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.files.intake import IngestedFile
from app.models import PortalRequestType, PortalSubmission
from app.models.api import IdempotencyKey
from app.services import portal
from app.services.actor import Actor
from app.services.errors import ServiceError
from app.services.idempotency import Answer, stored_answer
from app.services.idempotency import claim as claim_key


@dataclass(frozen=True)
class Registered:
    submission: PortalSubmission
    tracking_code: str | None  # None: registered earlier and its code already sent


class CodeGone(ServiceError):
    """The request was registered by an earlier attempt whose answer was lost, and its code
    has since gone out with the receipt: it cannot be shown again."""


def submit(
    session: Session,
    actor: Actor,
    request_type: PortalRequestType,
    data: portal.Submission,
    *,
    settings: portal.PortalSettings,
    message_pdf: Callable[[], IngestedFile],
    key: str | None = None,
    request_hash: str = "",
    wait_ms: int = 2000,
) -> tuple[Registered, IdempotencyKey | None]:
    """Keep and register the request; with a key, claim it in the same transaction."""
    portal.check_submission(session, request_type, data, settings)
    message = message_pdf()
    with write_transaction(session):
        row = claim_key(session, actor, key, request_hash, wait_ms) if key else None
        # The row portal.submit keeps, without e-mail confirmation: the calling system answers
        # for its user.
        submission = portal.new_submission(request_type, data, message, actor.remote_addr)
        session.add(submission)
        session.flush()
        if row is not None:
            row.response_headers = {"submission": submission.public_id}
    return _register(session, submission, actor.remote_addr, settings), row


def resume(
    session: Session, row: IdempotencyKey, remote_addr: str, settings: portal.PortalSettings
) -> Registered:
    """A retry of an attempt that did not finish: complete the same request."""
    public_id = (row.response_headers or {}).get("submission")
    submission = session.scalar(
        select(PortalSubmission).where(
            PortalSubmission.public_id == public_id,
            PortalSubmission.organisation_id == row.organisation_id,
        )
    )
    return _register(session, submission, remote_addr, settings)


def _register(
    session: Session, submission: PortalSubmission, remote_addr: str, settings
) -> Registered:
    code = portal.register(session, submission, remote_addr, settings, email_confirmed=False)
    if code is None:  # registered by an earlier attempt: its code waits until the receipt
        session.refresh(submission)
        code = submission.pending_code
        if code is None:
            raise CodeGone(
                _l(
                    "This request was registered already; its tracking code was sent with "
                    "its receipt."
                )
            )
    return Registered(submission, code)


def remember(session: Session, row: IdempotencyKey, answer: Answer) -> None:
    """The answer a retry with this key gets."""
    with write_transaction(session):
        session.refresh(row)
        if row.status_code is None:
            row.status_code = answer.status
            row.response_body = answer.body
            row.response_headers = {**(row.response_headers or {}), **answer.headers}


def replay(row: IdempotencyKey) -> Answer | None:
    return stored_answer(row) if row.status_code is not None else None
