"""Dashboards: a department head's figures for their department, the administration's for the
whole of it (or one department, one letter type); the letters behind each figure; CSV export.

Who sees what is can_view_dashboard's; a department or letter type of another organisation is
404. Figures come from app.services.dashboards; the drill-down lists only the letters the
viewer may see and says how many others there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import format_date, format_decimal, format_percent, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from app.blueprints import dashboard_forms as forms
from app.blueprints.choices import department_choices, letter_type_choices
from app.blueprints.dashboard_export import breakdowns, tables
from app.extensions import db
from app.models import Department, LetterType, Organisation
from app.models.base import utcnow
from app.permissions import can_view_dashboard
from app.reports import charts
from app.reports.dashboard_csv import render_tables
from app.services import dashboards
from app.services.dashboard_letters import figure_page
from app.timezones import to_local

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.app_template_global("can_see_dashboard")
def can_see_dashboard() -> bool:
    """For the main menu: the administration's dashboard, or the head's own department's."""
    user = current_user
    if not user.is_authenticated:
        return False
    return can_view_dashboard(user, None) or (
        user.department_id is not None and can_view_dashboard(user, user.department_id)
    )


@dataclass(frozen=True)
class View:
    form: forms.DashboardForm
    organisation: Organisation
    period: forms.Period
    scope: dashboards.Scope
    today: date
    query: dict  # the URL parameters that give this view again
    status: int


def _locale() -> str:
    return str(get_locale() or "ar")


def _own(model, object_id: int | None):
    """A department or letter type of the viewer's organisation; 404 for anything else."""
    if object_id is None:
        return None
    found = db.session.get(model, object_id)
    if found is None or found.organisation_id != current_user.organisation_id:
        abort(404)
    return found


def _view() -> View:
    user = current_user
    if not can_see_dashboard():
        abort(403)
    organisation = db.session.get(Organisation, user.organisation_id)
    whole = can_view_dashboard(user, None)
    form = forms.DashboardForm(request.args)
    form.department.choices = (
        [(None, _("The whole administration")), *department_choices(organisation.id)]
        if whole
        else [(d.id, d.name(_locale())) for d in [user.department]]
    )
    form.letter_type.choices = letter_type_choices(organisation.id, _("Every type"))
    valid = form.validate()
    data = form.data if valid else {"period": "month"}
    department = _own(Department, data.get("department") or (None if whole else user.department_id))
    if not can_view_dashboard(user, department.id if department else None):
        abort(403)
    letter_type = _own(LetterType, data.get("letter_type"))
    today = to_local(utcnow(), organisation.timezone).date()
    period = forms.resolve(
        data["period"], data.get("start"), data.get("end"), data.get("grain") or "", today
    )
    scope = dashboards.Scope(
        organisation.id,
        period.start,
        period.end,
        department.id if department else None,
        letter_type.id if letter_type else None,
    )
    query = {
        "period": data["period"],
        "start": period.start.isoformat() if data["period"] == "custom" else None,
        "end": period.end.isoformat() if data["period"] == "custom" else None,
        "grain": data.get("grain") or None,
        "department": scope.department_id if whole else None,
        "letter_type": scope.letter_type_id,
    }
    query = {key: value for key, value in query.items() if value is not None}
    return View(form, organisation, period, scope, today, query, 200 if valid else 400)


# --- Formatting in the reader's locale ----------------------------------------------------------


def count(value: int) -> str:
    return format_decimal(value)


def days(value: float | None) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0.0")


def share(value: float | None) -> str:
    if value is None:
        return "—"
    pattern = get_locale().percent_formats[None].pattern.replace("#,##0", "#,##0.0", 1)
    return format_percent(value, format=pattern)


def bucket_label(day: date, grain: str) -> str:
    if grain == "year":
        return format_date(day, "y")
    if grain == "month":
        return format_date(day, "MMM y")
    return format_date(day, "d MMM")


def _names(organisation_id: int) -> tuple[dict, dict]:
    locale = _locale()
    departments = db.session.scalars(
        select(Department).where(Department.organisation_id == organisation_id)
    )
    types = db.session.scalars(
        select(LetterType).where(LetterType.organisation_id == organisation_id)
    )
    return (
        {d.id: d.name(locale) for d in departments},
        {t.id: t.name(locale) for t in types},
    )


def _rtl() -> bool:
    locale = get_locale()
    return locale is not None and locale.text_direction == "rtl"


def _volume_chart(points, grain: str) -> Markup:
    labels = [bucket_label(p.bucket, grain) for p in points]
    svg = charts.column_chart(
        labels,
        [
            charts.Series(_("Received"), [p.received for p in points]),
            charts.Series(_("Sent"), [p.sent for p in points]),
        ],
        title=_("Letters received and sent"),
        chart_id="chart-volumes",
        rtl=_rtl(),
        value_text=lambda v: format_decimal(v),
    )
    return Markup(svg)  # noqa: S704 - built by app.reports.charts, every text escaped there


def _breakdown_chart(rows, names: dict, chart_id: str, title: str, none: str) -> Markup:
    bars = [
        charts.Bar(names.get(row.key_id) or none, row.received, count(row.received)) for row in rows
    ]
    svg = charts.bar_list(bars, title=title, chart_id=chart_id, rtl=_rtl())
    return Markup(svg)  # noqa: S704 - built by app.reports.charts, every text escaped there


def _share_bar(value: float | None) -> Markup:
    svg = charts.share_bar(
        value,
        share(value),
        title=_("Closed within the legal deadline"),
        chart_id="chart-in-time",
        rtl=_rtl(),
    )
    return Markup(svg)  # noqa: S704 - built by app.reports.charts, every text escaped there


@bp.get("")
@login_required
def index():
    view = _view()
    summary = dashboards.summary(db.session, view.scope, view.today)
    points = dashboards.volumes(db.session, view.scope, view.period.grain)
    by_department, by_type = breakdowns(view)
    department_names, type_names = _names(view.organisation.id)
    return render_template(
        "dashboard/index.html",
        view=view,
        summary=summary,
        points=points,
        by_department=by_department,
        by_type=by_type,
        department_names=department_names,
        type_names=type_names,
        volume_chart=_volume_chart(points, view.period.grain),
        department_chart=(
            _breakdown_chart(
                by_department,
                department_names,
                "chart-departments",
                _("Received by department"),
                _("No department"),
            )
            if by_department
            else None
        ),
        type_chart=_breakdown_chart(
            by_type, type_names, "chart-types", _("Received by letter type"), _("No letter type")
        )
        if by_type
        else None,
        share_bars={"in_time": _share_bar(summary.in_time_share)},
        labels=forms.figure_labels(),
        fmt={"count": count, "days": days, "share": share, "bucket": bucket_label},
    ), view.status


@bp.get("/letters")
@login_required
def letters():
    view = _view()
    figure = request.args.get("figure", "")
    if figure not in dashboards.FIGURES or view.status != 200:
        abort(404)
    page = figure_page(
        db.session,
        current_user,
        view.scope,
        figure,
        view.today,
        cursor=request.args.get("after"),
        limit=current_app.config["PAGE_SIZE"],
    )
    department_names, type_names = _names(view.organisation.id)
    return render_template(
        "dashboard/letters.html",
        view=view,
        figure=figure,
        page=page,
        department_names=department_names,
        type_names=type_names,
        labels=forms.figure_labels(),
        fmt={"count": count, "days": days, "share": share},
    )


@bp.get("/export.csv")
@login_required
def export():
    view = _view()
    if view.status != 200:
        abort(400)
    data = render_tables(tables(view, _names(view.organisation.id)))
    name = f"dashboard-{view.period.start.isoformat()}-{view.period.end.isoformat()}.csv"
    return Response(
        data,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
