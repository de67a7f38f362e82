"""/api/v1/dashboards: the figures of the dashboards pages (app.services.dashboards), for an
administrator (the whole administration or any department) or a department head (their own
department), as app.permissions.can_view_dashboard decides."""

from __future__ import annotations

from datetime import date, timedelta

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.blueprints.api.auth import scoped, user
from app.blueprints.api.common import valid_id
from app.blueprints.api.problems import ApiProblem
from app.blueprints.api.schemas import ID_RANGE, StrictSchema
from app.extensions import db
from app.models import Department, LetterType, Organisation
from app.models.base import utcnow
from app.permissions import can_view_dashboard
from app.services import dashboards
from app.timezones import to_local

blp = Blueprint(
    "api_dashboards", __name__, url_prefix="/api/v1/dashboards", description="Dashboards"
)
MAX_DAYS = 3660  # ten years: a longer period is refused rather than computed
DEFAULT_DAYS = 30


class ScopeQuerySchema(StrictSchema):
    start = fields.Date(metadata={"description": "First day (default: 30 days before end)"})
    end = fields.Date(metadata={"description": "Last day (default: today)"})
    department_id = fields.Integer(validate=ID_RANGE)
    letter_type_id = fields.Integer(validate=ID_RANGE)


class VolumesQuerySchema(ScopeQuerySchema):
    grain = fields.String(load_default="day", validate=validate.OneOf(dashboards.GRAINS))


def _figure(**kwargs):
    return fields.Float(allow_none=True, required=True, **kwargs)


class SummarySchema(ma.Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    department_id = fields.Integer(allow_none=True, required=True)
    letter_type_id = fields.Integer(allow_none=True, required=True)
    received = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    open = fields.Integer(required=True)
    due_soon = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    closed = fields.Integer(required=True)
    median_days = _figure()
    mean_days = _figure()
    p90_days = _figure()
    with_deadline = fields.Integer(required=True)
    in_time = fields.Integer(required=True)
    in_time_share = _figure()
    extended = fields.Integer(required=True)
    routed = fields.Integer(required=True)
    returned = fields.Integer(required=True)
    returned_rate = _figure()
    ratings = fields.Integer(required=True)
    satisfaction = _figure()
    reopened = fields.Integer(required=True)
    answered = fields.Integer(required=True)


class VolumePointSchema(ma.Schema):
    bucket = fields.Date(required=True)
    received = fields.Integer(required=True)
    sent = fields.Integer(required=True)


class VolumesSchema(ma.Schema):
    grain = fields.String(required=True)
    points = fields.List(fields.Nested(VolumePointSchema), required=True)


def _scope(args: dict) -> tuple[dashboards.Scope, date]:
    me = user()
    organisation = db.session.get(Organisation, me.organisation_id)
    today = to_local(utcnow(), organisation.timezone).date()
    end = args.get("end") or today
    start = args.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end or (end - start).days >= MAX_DAYS:
        message = _l("The period must start before it ends and last at most ten years.")
        raise ApiProblem("validation_failed", message, errors={"query": {"start": [str(message)]}})
    department_id = _own(Department, args.get("department_id"), me.organisation_id)
    letter_type_id = _own(LetterType, args.get("letter_type_id"), me.organisation_id)
    if not can_view_dashboard(me, department_id):
        raise ApiProblem("forbidden")
    scope = dashboards.Scope(me.organisation_id, start, end, department_id, letter_type_id)
    return scope, today


def _own(model, object_id: int | None, organisation_id: int) -> int | None:
    """Another organisation's department or letter type is as unknown as a missing one."""
    if object_id is None:
        return None
    row = db.session.get(model, valid_id(object_id) or 0)
    if row is None or row.organisation_id != organisation_id:
        raise ApiProblem("not_found")
    return row.id


@blp.route("/summary")
@blp.arguments(ScopeQuerySchema, location="query")
@blp.response(200, SummarySchema)
@scoped(blp, "dashboards:read")
def summary(args: dict):
    """The headline figures of a period (days in the organisation's time zone)"""
    scope, today = _scope(args)
    figures = dashboards.summary(db.session, scope, today)
    return {
        **{
            name: getattr(figures, name)
            for name in SummarySchema().fields
            if hasattr(figures, name)
        },
        "start": scope.start,
        "end": scope.end,
        "department_id": scope.department_id,
        "letter_type_id": scope.letter_type_id,
    }


@blp.route("/volumes")
@blp.arguments(VolumesQuerySchema, location="query")
@blp.response(200, VolumesSchema)
@scoped(blp, "dashboards:read")
def volumes(args: dict):
    """Letters received and sent per day, week, month or year of the period, zeros included"""
    scope, _today = _scope(args)
    points = dashboards.volumes(db.session, scope, args["grain"])
    return {"grain": args["grain"], "points": points}
