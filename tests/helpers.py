"""Small real files and form helpers for tests."""

from __future__ import annotations

import io
from datetime import timedelta

from pypdf import PdfWriter

from app.models.base import utcnow
from app.services import sign_in


class SignInClock:
    """The sign-in clock (sessions, lock-outs, codes), moved by tests instead of sleeping.
    It starts a second ahead, after the users the fixtures made."""

    def __init__(self, monkeypatch):
        self.moment = utcnow() + timedelta(seconds=1)
        monkeypatch.setattr(sign_in, "now", lambda: self.moment)

    def move(self, **delta) -> None:
        self.moment += timedelta(**delta)


def blank_pdf(pages: int = 1, title: str | None = None) -> bytes:
    """A blank A4 PDF; a title gives it a hash of its own."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if title is not None:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_image() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, "PNG")
    return out.getvalue()


def letter_form(**overrides) -> dict:
    data = {
        "correspondent_kind": "person",
        "correspondent_name": "Fatima Zahra El Amrani",
        "correspondent_national_id": "BE123456",
        "subject": "طلب الحصول على نسخة من القرار الإداري",
        "sender_reference": "REF-2026/77",
        "channel": "post",
        "priority": "normal",
        "language": "ar",
        "physical_attachments": "0",
        "letter_type_id": "",
        "correspondent_id": "",
    }
    data.update(overrides)
    return data
