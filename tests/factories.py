"""Test data made through the services, so business rules hold in it."""

from __future__ import annotations

import io

from flask import current_app

from app.extensions import db
from app.files.intake import ingest_upload
from app.models import Letter, User
from app.services import registration
from app.services.actor import Actor
from app.uploads import file_store
from tests.helpers import blank_pdf


def register(
    user: User, *, subject: str = "Demande de document", register: str = "incoming", **fields
) -> Letter:
    scan = ingest_upload(file_store(), io.BytesIO(blank_pdf()), "scan.pdf", max_bytes=10**6)
    data = registration.LetterInput(
        register=register,
        subject=subject,
        channel=fields.pop("channel", "post"),
        new_correspondent=registration.NewContact(
            name=fields.pop("correspondent", "Amina Berrada")
        ),
        files=[scan],
        **fields,
    )
    settings = registration.NumberingSettings.from_config(current_app.config)
    return registration.register_letter(db.session, Actor(user), data, settings)
