"""Web forms. Labels are translated lazily; choices are filled per request by the view."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from app.models import LANGUAGES, Channel, ContactKind, Priority


def optional_int(value):
    """A select's value as an int; its empty choice (sent as "" or "None") as None."""
    return int(value) if value not in (None, "", "None") else None


def channel_choices():
    labels = {
        Channel.POST: _l("Post"),
        Channel.HAND: _l("Hand delivery"),
        Channel.EMAIL: _l("E-mail"),
        Channel.FAX: _l("Fax"),
        Channel.PORTAL: _l("Portal"),
        Channel.COURIER: _l("Courier"),
    }
    return [(channel.value, labels[channel]) for channel in Channel]


def priority_choices():
    labels = {
        Priority.NORMAL: _l("Normal"),
        Priority.URGENT: _l("Urgent"),
        Priority.VERY_URGENT: _l("Very urgent"),
    }
    return [(priority.value, labels[priority]) for priority in Priority]


def language_choices():
    labels = {"ar": "العربية", "fr": "Français", "en": "English", "other": _l("Other")}
    return [(code, labels[code]) for code in LANGUAGES]


def contact_kind_choices():
    return [
        (ContactKind.PERSON.value, _l("Person")),
        (ContactKind.ORGANISATION.value, _l("Organisation")),
    ]


def _not_in_future(_form, field):
    from wtforms import ValidationError

    if field.data and field.data > date.today():
        raise ValidationError(_l("This date is in the future."))


class LetterFieldsMixin:
    """Fields shared by registration and correction."""

    subject = TextAreaField(_l("Subject"), validators=[DataRequired(), Length(max=2000)])
    sender_reference = StringField(_l("Sender's reference"), validators=[Length(max=120)])
    letter_date = DateField(_l("Letter date"), validators=[Optional(), _not_in_future])
    received_on = DateField(_l("Received on"), validators=[Optional(), _not_in_future])
    letter_type_id = SelectField(_l("Letter type"), coerce=optional_int, validate_choice=True)
    priority = SelectField(_l("Priority"), choices=priority_choices)
    confidential = BooleanField(_l("Confidential"))
    language = SelectField(_l("Language"), choices=language_choices)
    physical_attachments = IntegerField(
        _l("Physical attachments"), default=0, validators=[InputRequired(), NumberRange(0, 999)]
    )
    correspondent_id = SelectField(_l("Correspondent"), coerce=optional_int, validate_choice=True)


class RegisterLetterForm(LetterFieldsMixin, FlaskForm):
    channel = SelectField(_l("Channel"), choices=channel_choices)
    correspondent_kind = SelectField(_l("Kind"), choices=contact_kind_choices)
    correspondent_name = StringField(_l("Name"), validators=[Length(max=300)])
    correspondent_national_id = StringField(_l("National ID"), validators=[Length(max=40)])
    correspondent_email = StringField(
        _l("E-mail"), validators=[Optional(), Email(), Length(max=200)]
    )
    correspondent_phone = StringField(_l("Phone"), validators=[Length(max=40)])
    correspondent_address = StringField(_l("Address"), validators=[Length(max=500)])
    documents = MultipleFileField(_l("Documents"))
    kept_files = HiddenField()

    def validate_received_on(self, field):
        from wtforms import ValidationError

        if field.data and self.letter_date.data and field.data < self.letter_date.data:
            raise ValidationError(_l("A letter cannot be received before its date."))


class CorrectLetterForm(LetterFieldsMixin, FlaskForm):
    reason = StringField(
        _l("Reason for the correction"), validators=[DataRequired(), Length(min=5, max=500)]
    )


class CancelLetterForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for the cancellation"), validators=[DataRequired(), Length(min=5, max=1000)]
    )


class RegisterFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    channel = SelectField(_l("Channel"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    letter_type_id = SelectField(_l("Letter type"), coerce=optional_int, validators=[Optional()])


def outcome_choices():
    from app.models import Outcome

    labels = {
        Outcome.ANSWERED: _l("Answered"),
        Outcome.NO_REPLY_NEEDED: _l("No reply needed"),
        Outcome.TRANSFERRED: _l("Transferred to another body"),
        Outcome.FILED: _l("Filed"),
    }
    return [(outcome.value, labels[outcome]) for outcome in Outcome]


class RouteForm(FlaskForm):
    action_department_id = SelectField(_l("Department for action"), coerce=int)
    copy_department_ids = SelectMultipleField(_l("Copies for information"), coerce=int)


class PassForm(FlaskForm):
    agent_id = SelectField(_l("Agent"), coerce=int)


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(min=5, max=1000)])


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=10_000)])
    department_only = BooleanField(_l("Only for my department"))


class CloseForm(FlaskForm):
    outcome = SelectField(_l("Outcome"), choices=outcome_choices)
    comment = TextAreaField(_l("Comment"), validators=[Length(max=2000)])


class ActionForm(FlaskForm):
    """A button that changes state: nothing to fill in but the CSRF token."""


class LinkForm(FlaskForm):
    number = StringField(
        _l("Number of the other letter"), validators=[DataRequired(), Length(max=60)]
    )


class WorkingDocumentForm(FlaskForm):
    documents = MultipleFileField(_l("Working documents"))


class ComplementRequestForm(FlaskForm):
    """The processing department asks the citizen (e-counter letters) for a complement."""

    message = TextAreaField(
        _l("Ask the citizen for a complement"),
        validators=[
            DataRequired(_l("Say what the citizen must add (10 to 2,000 characters).")),
            Length(
                min=10,
                max=2000,
                message=_l("Say what the citizen must add (10 to 2,000 characters)."),
            ),
        ],
    )
