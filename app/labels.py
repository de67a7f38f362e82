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
    return {
        LetterStatus.REGISTERED: _l("Registered"),
        LetterStatus.CLOSED: _l("Closed"),
        LetterStatus.CANCELLED: _l("Cancelled"),
    }.get(status, status)


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
        "letter.routed": _l("Routed"),
        "letter.accepted": _l("Accepted by the department"),
        "letter.passed": _l("Passed to an agent"),
        "letter.returned": _l("Sent back to the registry"),
        "note.added": _l("Note added"),
        "letter.extended": _l("Deadline extended"),
        "letter.clock_stopped": _l("Clock stopped"),
        "letter.clock_restarted": _l("Clock restarted"),
        "letter.closed": _l("Closed"),
        "letter.linked": _l("Linked to another letter"),
        "document.added": _l("Working document added"),
        "reply.drafted": _l("Reply drafted"),
        "reply.saved": _l("Reply draft saved"),
        "reply.dispatched": _l("Reply dispatched"),
        "circuit.started": _l("Sent for signature"),
        "circuit.approved": _l("Visa given"),
        "circuit.rejected": _l("Sent back"),
        "circuit.signed": _l("Signed"),
        "circuit.completed": _l("Circuit completed"),
        "circuit.withdrawn": _l("Withdrawn from signature"),
        "circuit.resubmitted": _l("New version submitted"),
        "circuit.annotated": _l("Remark added"),
        "circuit.timestamped": _l("Archive time-stamp added"),
        "portal.submitted": _l("Submitted on the e-counter"),
        "portal.complement_requested": _l("Complement asked of the citizen"),
        "portal.complement_added": _l("Complement added by the citizen"),
        "portal.rated": _l("Answer rated by the citizen"),
        "portal.reopened": _l("Complaint reopened by the citizen"),
        "portal_type.created": _l("E-counter request type created"),
        "portal_type.changed": _l("E-counter request type changed"),
    }.get(action, action)


def portal_step_label(kind: str):
    """A step of a request's timeline, as the citizen reads it."""
    return {
        "received": _l("Received and registered"),
        "routed": _l("In progress"),
        "extended": _l("Deadline extended"),
        "waiting": _l("Waiting for your complement: the deadline is paused"),
        "resumed": _l("Processing resumed"),
        "complement_requested": _l("The administration asks you for a complement"),
        "complement": _l("Your complement was received"),
        "answered": _l("Answered"),
        "closed": _l("Closed"),
        "cancelled": _l("Cancelled by the registry"),
        "reopened": _l("Reopened at your request"),
    }.get(kind, kind)


def no_text_label(reason: str):
    """Why a file of a letter gave no searchable text."""
    return {
        "no-ocr": _l("No text: this scan needs OCR, which is not installed on the server"),
        "encrypted": _l("No text: the PDF is encrypted"),
        "timeout": _l("No text: reading the file took too long"),
        "memory": _l("No text: the file needs too much memory to read"),
    }.get(reason, _l("No text could be read from this file: it is not searchable"))


def step_status_label(status: str):
    return {
        "waiting": _l("Waiting"),
        "pending": _l("Its turn"),
        "approved": _l("Visa given"),
        "signed": _l("Signed"),
        "rejected": _l("Sent back"),
        "reset": _l("Cancelled"),
    }.get(status, status)


def circuit_status_label(status: str):
    return {
        "in_progress": _l("In progress"),
        "completed": _l("Completed"),
        "rejected": _l("Sent back to the author"),
        "withdrawn": _l("Withdrawn"),
    }.get(status, status)


def version_reason_label(reason: str):
    return {
        "submitted": _l("submitted"),
        "signed": _l("signed"),
        "timestamped": _l("archive time-stamp"),
    }.get(reason, reason)


def step_action_label(action: str):
    return {"visa": _l("Visa"), "sign": _l("Signature")}.get(action, action)


def assignment_kind_label(kind: str):
    return {"action": _l("for action"), "copy": _l("copy for information")}.get(kind, kind)


def assignment_state_label(state: str):
    return {
        "pending": _l("waiting to be accepted"),
        "accepted": _l("in progress"),
        "returned": _l("sent back to the registry"),
        "closed": _l("closed"),
    }.get(state, state)


def outcome_label(outcome: str):
    from app.forms import outcome_choices

    return dict(outcome_choices()).get(outcome, outcome)


def deadline_status_label(status: str):
    return {
        "on_time": _l("on time"),
        "due_soon": _l("due soon"),
        "overdue": _l("overdue"),
        "paused": _l("clock stopped"),
    }.get(status, status)


def inbox_tab_label(tab: str):
    return {
        "new": _l("New"),
        "in_progress": _l("In progress"),
        "due_soon": _l("Due soon"),
        "overdue": _l("Overdue"),
        "copies": _l("Copies"),
    }.get(tab, tab)


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
    "step_status_label": step_status_label,
    "no_text_label": no_text_label,
    "circuit_status_label": circuit_status_label,
    "step_action_label": step_action_label,
    "version_reason_label": version_reason_label,
    "assignment_kind_label": assignment_kind_label,
    "assignment_state_label": assignment_state_label,
    "outcome_label": outcome_label,
    "deadline_status_label": deadline_status_label,
    "inbox_tab_label": inbox_tab_label,
    "portal_step_label": portal_step_label,
}
