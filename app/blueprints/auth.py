"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.blueprints.main import _same_site
from app.extensions import db, limiter
from app.models import User

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    methods=["POST"],
    # Only failed attempts count: a successful sign-in redirects.
    deduct_when=lambda response: response.status_code != 302,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user)
            return redirect(_same_site(request.args.get("next")) or url_for("main.index"))
        flash(_("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


class PreferencesForm(FlaskForm):
    show_hijri = BooleanField("show_hijri")


@bp.get("/account")
@login_required
def account():
    form = PreferencesForm(show_hijri=current_user.show_hijri)
    return render_template("auth/account.html", form=form)


@bp.post("/account/preferences")
@login_required
def preferences():
    form = PreferencesForm()
    if form.validate_on_submit():
        current_user.show_hijri = bool(form.show_hijri.data)
        db.session.commit()  # a display preference: not a registry change, no audit event
        flash(_("Your preferences were saved."), "success")
    return redirect(url_for("auth.account"))
