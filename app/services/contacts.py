"""The contacts directory (correspondents), scoped to one organisation."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models import Contact


def search_contacts(
    session: Session, organisation_id: int, query: str, limit: int = 20
) -> list[Contact]:
    """Contacts whose name starts with, or national ID is, the query; newest first if empty."""
    stmt = select(Contact).where(Contact.organisation_id == organisation_id)
    query = query.strip()
    if query:
        like = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(Contact.name.ilike(like, escape="\\"), Contact.national_id == query.upper())
        )
        stmt = stmt.order_by(Contact.name)
    else:
        stmt = stmt.order_by(Contact.id.desc())
    return list(session.scalars(stmt.limit(limit)))
