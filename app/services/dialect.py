"""Small helpers for statements that differ between SQLite and PostgreSQL."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model, **values) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: create a row unless a concurrent writer just did."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(model).values(**values).on_conflict_do_nothing())
