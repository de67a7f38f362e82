"""Administration → Webhooks: an organisation's subscriptions, their secrets (shown once) and the
delivery log. Administrators only (403 otherwise); another organisation's subscription is 404."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length

from app.blueprints.common import current_actor
from app.extensions import db, login_manager
from app.forms import ActionForm
from app.models.api import WebhookDelivery, WebhookSubscription
from app.permissions import can_manage_organisation
from app.services import webhooks
from app.services.errors import ServiceError

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/webhooks")

EVENT_LABELS = {
    "letter.registered": _l("A letter is registered"),
    "letter.routed": _l("A letter is routed to a department"),
    "letter.answered": _l("An incoming letter is answered"),
    "letter.closed": _l("A letter is closed"),
}


@bp.before_request
def _administrators_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not can_manage_organisation(current_user):
        abort(403)
    return None


class WebhookForm(FlaskForm):
    url = StringField(
        _l("Address that receives the events (URL)"),
        validators=[DataRequired(), Length(max=webhooks.MAX_URL_LENGTH)],
    )
    description = StringField(
        _l("What it is for"), validators=[Length(max=webhooks.MAX_DESCRIPTION_LENGTH)]
    )
    events = SelectMultipleField(
        _l("Events sent"),
        choices=lambda: list(EVENT_LABELS.items()),
        validate_choice=False,
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
    )


def _settings() -> webhooks.WebhookSettings:
    return webhooks.WebhookSettings.from_config(current_app.config)


def _subscription_or_404(subscription_id: int) -> WebhookSubscription:
    found = db.session.get(WebhookSubscription, subscription_id)
    if found is None or found.organisation_id != current_user.organisation_id:
        abort(404)
    return found


def _secret_page(subscription: WebhookSubscription, secret: str, created: bool):
    """The secret, once: never stored in clear, never cached by the browser."""
    response = make_response(
        render_template(
            "admin/webhooks_secret.html",
            subscription=subscription,
            secret=secret,
            created=created,
            event_labels=EVENT_LABELS,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index():
    return render_template(
        "admin/webhooks.html",
        subscriptions=webhooks.subscriptions_of(db.session, current_user.organisation_id),
        event_labels=EVENT_LABELS,
        action_form=ActionForm(),
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            subscription, secret = webhooks.create_subscription(
                db.session,
                current_actor(),
                _settings(),
                url=form.url.data,
                events=form.events.data or [],
                description=form.description.data or "",
            )
        except ServiceError as error:
            field = getattr(form, error.field or "", None)
            if field is None:
                flash(str(error.message), "error")
            else:
                field.errors = [*field.errors, error.message]
        else:
            return _secret_page(subscription, secret, created=True)
    status = 422 if form.is_submitted() else 200
    return render_template("admin/webhooks_form.html", form=form), status


@bp.post("/<int:subscription_id>/<any(deactivate, reactivate):action>")
def set_active(subscription_id: int, action: str):
    subscription = _subscription_or_404(subscription_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.set_active(db.session, current_actor(), subscription, action == "reactivate")
    if action == "deactivate":
        flash(_("The subscription was deactivated."), "success")
    else:
        flash(_("The subscription was reactivated."), "success")
    return redirect(url_for("webhooks_admin.index"))


@bp.post("/<int:subscription_id>/rotate")
def rotate(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    secret = webhooks.rotate_secret(db.session, current_actor(), _settings(), subscription)
    return _secret_page(subscription, secret, created=False)


@bp.get("/<int:subscription_id>")
def log(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    before = request.args.get("before", type=int)
    deliveries = webhooks.deliveries_of(db.session, subscription, before)
    return render_template(
        "admin/webhooks_log.html",
        subscription=subscription,
        deliveries=deliveries,
        attempts=webhooks.attempts_of(db.session, deliveries),
        numbers=webhooks.letter_numbers(db.session, deliveries),
        more=len(deliveries) == webhooks.PAGE_SIZE,
        event_labels=EVENT_LABELS,
        action_form=ActionForm(),
    )


@bp.post("/<int:subscription_id>/deliveries/<int:delivery_id>/retry")
def retry(subscription_id: int, delivery_id: int):
    subscription = _subscription_or_404(subscription_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        webhooks.retry_delivery(db.session, current_actor(), delivery)
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        flash(_("The delivery will be attempted again in a moment."), "success")
    return redirect(url_for("webhooks_admin.log", subscription_id=subscription.id))
