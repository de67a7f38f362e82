"""The dashboard's figures as CSV tables: the summary, the volumes per period, and the
breakdowns per department and per letter type, headed in the reader's language."""

from __future__ import annotations

from flask_babel import gettext as _

from app.blueprints.dashboard_forms import figure_labels
from app.extensions import db
from app.reports.dashboard_csv import Table, plain_number
from app.services import dashboards


def _percent(value: float | None) -> str:
    return plain_number(None if value is None else value * 100)


def _summary_table(summary: dashboards.Summary) -> Table:
    labels = figure_labels()
    counts = {
        **{name: getattr(summary, name) for name in labels if hasattr(summary, name)},
        "late": summary.with_deadline - summary.in_time,
    }
    rows = [[str(labels[name]), plain_number(counts[name])] for name in labels]
    rows += [
        [_("Median processing time (days)"), plain_number(summary.median_days)],
        [_("90th percentile of processing time (days)"), plain_number(summary.p90_days)],
        [_("Average processing time (days)"), plain_number(summary.mean_days)],
        [_("Closed within the deadline (%)"), _percent(summary.in_time_share)],
        [_("Returned to the registry (%)"), _percent(summary.returned_rate)],
        [_("Citizen satisfaction (out of 5)"), plain_number(summary.satisfaction, 2)],
        [_("Citizen ratings"), plain_number(summary.ratings)],
    ]
    return Table(_("Summary"), [_("Figure"), _("Value")], rows)


def breakdown_header(first: str) -> list[str]:
    return [
        first,
        _("Received"),
        _("Closed"),
        _("Open"),
        _("Overdue"),
        _("Median (days)"),
        _("90th percentile (days)"),
        _("Within the deadline (%)"),
        _("Satisfaction (out of 5)"),
    ]


def _breakdown_table(title: str, first: str, none: str, rows, names: dict) -> Table:
    return Table(
        title,
        breakdown_header(first),
        [
            [
                names.get(row.key_id) or none,
                row.received,
                row.closed,
                row.open,
                row.overdue,
                plain_number(row.median_days),
                plain_number(row.p90_days),
                _percent(row.in_time_share),
                plain_number(row.satisfaction, 2),
            ]
            for row in rows
        ],
    )


def breakdowns(view) -> tuple[list, list]:
    """The rows per department (for the whole administration only) and per letter type, less
    those with nothing incoming to show (a key that only outgoing letters have)."""

    def shown(rows):
        return [r for r in rows if r.received or r.closed or r.open or r.satisfaction is not None]

    scope, today = view.scope, view.today
    departments = (
        dashboards.by_department(db.session, scope, today) if scope.department_id is None else []
    )
    return shown(departments), shown(dashboards.by_type(db.session, scope, today))


def tables(view, names: tuple[dict, dict]) -> list[Table]:
    department_names, type_names = names
    scope, today = view.scope, view.today
    summary = dashboards.summary(db.session, scope, today)
    points = dashboards.volumes(db.session, scope, view.period.grain)
    result = [
        Table(
            _("Dashboard"),
            [_("From"), _("To"), _("Department"), _("Letter type")],
            [
                [
                    scope.start.isoformat(),
                    scope.end.isoformat(),
                    department_names.get(scope.department_id) or _("The whole administration"),
                    type_names.get(scope.letter_type_id) or _("Every type"),
                ]
            ],
        ),
        _summary_table(summary),
        Table(
            _("Letters received and sent"),
            [_("Period starting"), _("Received"), _("Sent")],
            [[p.bucket.isoformat(), p.received, p.sent] for p in points],
        ),
    ]
    by_department, by_type = breakdowns(view)
    if scope.department_id is None:
        result.append(
            _breakdown_table(
                _("By department"),
                _("Department"),
                _("No department"),
                by_department,
                department_names,
            )
        )
    result.append(
        _breakdown_table(
            _("By letter type"), _("Letter type"), _("No letter type"), by_type, type_names
        )
    )
    return result
