"""SQLAlchemy models. Every row belongs to an organisation."""

from app.models.audit import AuditEvent, AuditHead
from app.models.base import Base
from app.models.organisation import Department, Organisation, Role, User, UserRole
from app.models.registry import (
    LANGUAGES,
    Channel,
    Contact,
    ContactKind,
    Document,
    DocumentVersion,
    Letter,
    LetterStatus,
    LetterType,
    Priority,
    Register,
    RegistryCounter,
)

__all__ = [
    "LANGUAGES",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Channel",
    "Contact",
    "ContactKind",
    "Department",
    "Document",
    "DocumentVersion",
    "Letter",
    "LetterStatus",
    "LetterType",
    "Organisation",
    "Priority",
    "Register",
    "RegistryCounter",
    "Role",
    "User",
    "UserRole",
]
