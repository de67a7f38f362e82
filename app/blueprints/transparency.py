"""The public transparency page of an administration that publishes it (no sign-in):
/transparency/<organisation code>?year=YYYY. 404 for an unknown code, one that does not
publish, or a year outside its register."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request
from flask_babel import get_locale
from sqlalchemy import select

from app.blueprints.dashboard import count, days, share
from app.extensions import db
from app.models import Department, LetterType, Organisation
from app.models.base import utcnow
from app.services import transparency
from app.timezones import to_local

bp = Blueprint("transparency", __name__, url_prefix="/transparency")


def _names(model, organisation_id: int) -> dict:
    locale = str(get_locale() or "ar")
    rows = db.session.scalars(select(model).where(model.organisation_id == organisation_id))
    return {row.id: row.name(locale) for row in rows}


@bp.get("/<org_code>")
def show(org_code: str):
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == org_code))
    if organisation is None or not organisation.publish_transparency:
        abort(404)
    g.timezone = organisation.timezone
    today = to_local(utcnow(), organisation.timezone).date()
    years = transparency.years(db.session, organisation, today)
    year = request.args.get("year", type=int) or years[0]
    if year not in years:
        abort(404)
    return render_template(
        "transparency/show.html",
        organisation=organisation,
        years=years,
        figures=transparency.figures(db.session, organisation, year, today),
        department_names=_names(Department, organisation.id),
        type_names=_names(LetterType, organisation.id),
        min_letters=transparency.MIN_LETTERS,
        fmt={"count": count, "days": days, "share": share},
    )
