"""SQLAlchemy models. Every row belongs to an organisation."""

from app.models.audit import AuditEvent, AuditHead
from app.models.base import Base
from app.models.delegation import Delegation
from app.models.notification import Notification, OutgoingEmail
from app.models.organisation import Closure, Department, Organisation, Role, User, UserRole
from app.models.registry import (
    LANGUAGES,
    Channel,
    Contact,
    ContactKind,
    Document,
    DocumentVersion,
    Letter,
    LetterLink,
    LetterStatus,
    LetterType,
    Priority,
    Register,
    RegistryCounter,
)
from app.models.routing import (
    Assignment,
    AssignmentKind,
    AssignmentState,
    Note,
    Outcome,
    ReplyDraft,
    ReplyTemplate,
    RoutingRule,
)

__all__ = [
    "LANGUAGES",
    "Assignment",
    "AssignmentKind",
    "AssignmentState",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Channel",
    "Closure",
    "Contact",
    "ContactKind",
    "Delegation",
    "Department",
    "Document",
    "DocumentVersion",
    "Letter",
    "LetterLink",
    "LetterStatus",
    "LetterType",
    "Note",
    "Notification",
    "Organisation",
    "Outcome",
    "OutgoingEmail",
    "Priority",
    "Register",
    "RegistryCounter",
    "ReplyDraft",
    "ReplyTemplate",
    "Role",
    "RoutingRule",
    "User",
    "UserRole",
]
