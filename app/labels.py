"""Translated labels for the vocabulary stored as codes (registers, channels, statuses ...)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.forms import channel_choices, language_choices, priority_choices
from app.models import LetterStatus, Register, Role


def register_label(register: str):
    return {
        Register.INCOMING: _l("Incoming mail"),
        Register.OUTGOING: _l("Outgoing mail"),
        Register.INTERNAL: _l("Internal mail"),
    }.get(register, register)


def status_label(status: str):
    return {LetterStatus.REGISTERED: _l("Registered"), LetterStatus.CANCELLED: _l("Cancelled")}.get(
        status, status
    )


def channel_label(channel: str):
    return dict(channel_choices()).get(channel, channel)


def priority_label(priority: str):
    return dict(priority_choices()).get(priority, priority)


def language_label(language: str):
    return dict(language_choices()).get(language, language)


def flag_label(flag: str):
    return {
        "encrypted": _l("Encrypted PDF"),
        "password_protected": _l("Protected by a password: cannot be previewed"),
        "unreadable": _l("Damaged PDF: cannot be previewed"),
        "analysis_failed": _l("This file could not be analysed safely: no preview"),
    }.get(flag, flag)


def action_label(action: str):
    return {
        "letter.registered": _l("Registered"),
        "letter.corrected": _l("Corrected"),
        "letter.cancelled": _l("Cancelled"),
    }.get(action, action)


def role_label(role: str):
    return {
        Role.ADMINISTRATOR: _l("Administrator"),
        Role.REGISTRY_OFFICER: _l("Registry officer"),
        Role.DEPARTMENT_HEAD: _l("Department head"),
        Role.AGENT: _l("Agent"),
        Role.SIGNATORY: _l("Signatory"),
    }.get(role, role)


FIELD_LABELS = {
    "subject": _l("Subject"),
    "sender_reference": _l("Sender's reference"),
    "letter_date": _l("Letter date"),
    "received_on": _l("Received on"),
    "letter_type_id": _l("Letter type"),
    "priority": _l("Priority"),
    "language": _l("Language"),
    "physical_attachments": _l("Physical attachments"),
    "correspondent_id": _l("Correspondent"),
    "confidential": _l("Confidential"),
}


def field_label(name: str):
    return FIELD_LABELS.get(name, name)


TEMPLATE_HELPERS = {
    "register_label": register_label,
    "status_label": status_label,
    "channel_label": channel_label,
    "priority_label": priority_label,
    "language_label": language_label,
    "flag_label": flag_label,
    "action_label": action_label,
    "field_label": field_label,
    "role_label": role_label,
}
