"""Registry numbers: per organisation, register and year, gap-free and unique.

The counter row is incremented with ``UPDATE ... RETURNING`` inside the registration's own
transaction. The update locks the row until commit (PostgreSQL row lock, SQLite write lock), so
concurrent registrations queue for it, and a rolled-back registration gives its number back.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Register, RegistryCounter
from app.services.dialect import insert_ignore

DEFAULT_FORMAT = "{year}/{register}/{seq:06d}"


def next_value(session: Session, organisation_id: int, register: str, year: int) -> int:
    stmt = (
        update(RegistryCounter)
        .where(
            RegistryCounter.organisation_id == organisation_id,
            RegistryCounter.register == register,
            RegistryCounter.year == year,
        )
        .values(last_value=RegistryCounter.last_value + 1)
        .returning(RegistryCounter.last_value)
        .execution_options(synchronize_session=False)
    )
    value = session.execute(stmt).scalar_one_or_none()
    if value is None:  # first letter of this register this year
        insert_ignore(
            session,
            RegistryCounter,
            organisation_id=organisation_id,
            register=register,
            year=year,
            last_value=0,
        )
        value = session.execute(stmt).scalar_one()
    return value


def format_number(number_format: str, *, year: int, register_code: str, seq: int) -> str:
    return (number_format or DEFAULT_FORMAT).format(year=year, register=register_code, seq=seq)


def validate_format(number_format: str) -> None:
    """Refuse a format that could produce duplicate numbers or fail at registration time."""
    if not all(field in number_format for field in ("{seq", "{year", "{register")):
        raise ValueError("the number format must contain {year}, {register} and {seq}")
    format_number(number_format, year=2026, register_code="A", seq=1)


def register_code(settings: dict, register: str) -> str:
    return settings[f"REGISTER_CODE_{Register(register).name}"]
