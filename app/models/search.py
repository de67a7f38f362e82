"""Search: the transactional outbox the indexer drains, and the text extracted from each file.

Every change to a letter writes an audit event; the same transaction writes an outbox row, so the
index can never miss a change, and a crash of the indexer loses nothing. Extracted text is kept
by file hash, so the index can be rebuilt from the database without extracting (or OCR-ing) again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class SearchOutbox(Base):
    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)  # drained in this order
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    reason: Mapped[str] = mapped_column(String(60))  # the audit action that caused it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ExtractedText(Base):
    __tablename__ = "extracted_texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # ok, no-text, failed
    method: Mapped[str] = mapped_column(String(20))  # text-layer, ocr, none
    reason: Mapped[str] = mapped_column(String(40), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    extracted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
