"""The public portal's forms (CSRF on each, like every form of Diwan)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional


class SubmissionForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[Length(max=300)])
    national_id = StringField(_l("National ID number"), validators=[Length(max=40)])
    email = EmailField(_l("E-mail address"), validators=[Length(max=200)])
    phone = StringField(_l("Telephone"), validators=[Length(max=40)])
    address = StringField(_l("Postal address"), validators=[Length(max=500)])
    subject = StringField(_l("Subject"), validators=[Length(max=300)])
    message = TextAreaField(_l("Your message"), validators=[Length(max=20_000)])
    attachments = MultipleFileField(_l("Attachments"))
    kept_files = HiddenField()
    # The honeypot: hidden from people by the stylesheet, filled in by robots.
    website = StringField(_l("Leave this field empty"))


class ConfirmForm(FlaskForm):
    pass


class TrackForm(FlaskForm):
    number = StringField(
        _l("Registry number"), validators=[DataRequired(_l("Type the registry number."))]
    )
    code = StringField(
        _l("Tracking code"), validators=[DataRequired(_l("Type the tracking code."))]
    )


class ComplementForm(FlaskForm):
    message = TextAreaField(_l("Your answer"), validators=[Length(max=20_000)])
    attachments = MultipleFileField(_l("Attachments"))


class RatingForm(FlaskForm):
    stars = RadioField(
        _l("Your rating"),
        choices=lambda: [(str(n), str(n)) for n in range(5, 0, -1)],
        validators=[DataRequired(_l("Choose from 1 to 5 stars."))],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2_000)])


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        _l("Why are you not satisfied with the answer?"), validators=[Length(max=2_000)]
    )


class SignUpForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"), validators=[DataRequired(_l("Type your e-mail address."))]
    )
    password = PasswordField(
        _l("Password (at least 10 characters)"),
        validators=[DataRequired(_l("Choose a password."))],
    )


class SignInForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"), validators=[DataRequired(_l("Type your e-mail address."))]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Type your password."))])
