"""Search: one box, filters, facets, highlighted snippets; results trimmed to what the user may
open (inside the index, so a confidential letter neither appears nor counts)."""

from __future__ import annotations

import re
import threading
from datetime import date

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.blueprints.choices import department_choices, letter_type_choices
from app.extensions import db
from app.labels import register_label, status_label
from app.models import Contact, Department, Letter, LetterStatus, LetterType
from app.permissions import can_view_letter
from app.services import search_index
from app.services.search_visibility import checked_hits, user_keys
from indexing.backends import DateRange, SearchQuery

bp = Blueprint("search", __name__, url_prefix="/search")

PAGE_SIZE = 20
FACET_VALUES = 15  # the largest counts of each facet
NUMBER = re.compile(r"\d{4}/[A-Za-z]{1,4}/\d{1,9}")
FACETS = ("register", "status", "department_ids", "letter_type", "correspondent")
_backends: dict[str, object] = {}
_lock = threading.Lock()


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Search"), validators=[Optional(), Length(max=500)])
    register = SelectField(_l("Register"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    department = SelectField(_l("Department"), validators=[Optional()])
    letter_type = SelectField(_l("Letter type"), validators=[Optional()])
    date_from = DateField(_l("Registered from"), validators=[Optional()])
    date_to = DateField(_l("to"), validators=[Optional()])
    sort = SelectField(
        _l("Sort"),
        choices=lambda: [("relevance", _l("Relevance")), ("date", _l("Newest first"))],
        validators=[Optional()],
    )


def shared_backend():
    """One backend per process and index (its searcher is reused and refreshed)."""
    settings = search_index.SearchSettings.from_config(current_app.config)
    key = f"{settings.backend}:{settings.index_dir}:{settings.database_url}"
    with _lock:
        if key not in _backends:
            _backends[key] = search_index.open_index(settings)
        return _backends[key]


def _choices(form: SearchForm) -> None:
    empty = [("", "—")]
    form.register.choices = empty + [
        (r, register_label(r)) for r in ("incoming", "outgoing", "internal")
    ]
    form.status.choices = empty + [(s.value, status_label(s.value)) for s in LetterStatus]
    form.department.choices = empty + [
        (str(value), label) for value, label in department_choices(current_user.organisation_id)
    ]
    form.letter_type.choices = empty + [
        (str(value), label)
        for value, label in letter_type_choices(current_user.organisation_id)
        if value is not None
    ]


def _query(form: SearchForm, page: int) -> SearchQuery:
    filters = {}
    for name, field in (
        ("register", form.register),
        ("status", form.status),
        ("department_ids", form.department),
        ("letter_type", form.letter_type),
    ):
        if field.data:
            filters[name] = [field.data]
    correspondent = request.args.get("correspondent", "")
    if correspondent.isdigit():  # from a facet link: the directory is too long for a list
        filters["correspondent"] = [correspondent]
    ranges = {}
    if form.date_from.data or form.date_to.data:
        ranges["registered_at"] = DateRange(form.date_from.data, form.date_to.data)
    return SearchQuery(
        text=(form.q.data or "").strip(),
        allowed=frozenset(user_keys(current_user, date.today())),
        filters=filters,
        date_ranges=ranges,
        sort="date" if form.sort.data == "date" else "relevance",
        page=page,
        page_size=PAGE_SIZE,
        facets=FACETS,
    )


def _facet_labels(facets: dict) -> dict[str, list[tuple[str, str, int]]]:
    """Facet counts with their names: (value, label, count), largest first."""
    locale = str(get_locale() or "ar")
    departments = {
        str(d.id): d.name(locale)
        for d in db.session.scalars(
            select(Department).where(Department.organisation_id == current_user.organisation_id)
        )
    }
    types = {
        str(t.id): t.name(locale)
        for t in db.session.scalars(
            select(LetterType).where(LetterType.organisation_id == current_user.organisation_id)
        )
    }
    contact_ids = [int(v) for v in facets.get("correspondent", {}) if v.isdigit()]
    contacts = {
        str(c.id): c.name
        for c in db.session.scalars(
            select(Contact).where(
                Contact.organisation_id == current_user.organisation_id,
                Contact.id.in_(contact_ids),
            )
        )
    }
    names = {
        "correspondent": lambda v: contacts.get(v, v),
        "register": lambda v: str(register_label(v)),
        "status": lambda v: str(status_label(v)),
        "department_ids": lambda v: departments.get(v, v),
        "letter_type": lambda v: types.get(v, v),
    }
    return {
        field: sorted(
            ((value, names[field](value), count) for value, count in counts.items() if count),
            key=lambda item: -item[2],
        )[:FACET_VALUES]
        for field, counts in facets.items()
    }


def _numbered_letter(text: str) -> Letter | None:
    """The letter whose registry number was typed as is, if the user may open it."""
    if not NUMBER.fullmatch(text):
        return None
    letter = db.session.scalar(
        select(Letter).where(
            Letter.organisation_id == current_user.organisation_id, Letter.number == text
        )
    )
    return letter if letter is not None and can_view_letter(current_user, letter) else None


def _search(form: SearchForm, page: int):
    """The index's answer, with each hit's letter (checked again against the permissions)."""
    results = shared_backend().search(_query(form, page))
    hits = checked_hits(db.session, current_user, results.hits)
    return results, hits


@bp.get("")
@login_required
def index():
    form = SearchForm(request.args)
    _choices(form)
    if not request.args:
        return render_template("search/index.html", form=form, results=None)
    if not form.validate():
        return render_template("search/index.html", form=form, results=None), 422
    letter = _numbered_letter((form.q.data or "").strip())
    if letter is not None:
        return redirect(url_for("letters.show", letter_id=letter.id))
    page = max(request.args.get("page", 1, type=int), 1)
    results, found = _search(form, page)
    # Snippets are built by indexing.query from HTML-escaped text and <mark> tags only.
    hits = [
        (letter, [Markup(s) for s in hit.highlights.values()])  # noqa: S704
        for letter, hit in found
    ]
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "search/index.html",
        form=form,
        results=results,
        hits=hits,
        facets=_facet_labels(results.facets),
        page=page,
        pages=max((results.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        args=args,
    )


@bp.get("/api")
@login_required
def api():
    """The same search as JSON (same parameters, same trimming), for scripts and the API."""
    form = SearchForm(request.args)
    _choices(form)
    if not form.validate():
        return {
            "errors": {name: [str(e) for e in errors] for name, errors in form.errors.items()}
        }, 422
    page = max(request.args.get("page", 1, type=int), 1)
    results, found = _search(form, page)
    return {
        "total": results.total,
        "total_estimated": results.estimated,  # counted on a sample; hits newest first
        "page": page,
        "page_size": PAGE_SIZE,
        "hits": [
            {
                "id": letter.id,
                "number": letter.number,
                "subject": letter.subject,
                "register": letter.register,
                "status": letter.status,
                "registered_at": letter.registered_at.isoformat(),
                "url": url_for("letters.show", letter_id=letter.id),
                "highlights": hit.highlights,
            }
            for letter, hit in found
        ],
        "facets": results.facets,
    }
