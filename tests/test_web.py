"""Sign-in, languages, liveness, security headers, the register list and its exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import update

from app.extensions import db
from app.models import Letter
from tests.conftest import PASSWORD, csrf_token, login
from tests.factories import register


def test_healthz(app):
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_wrong_password_is_refused_and_throttled(app, world):
    client = app.test_client()
    for _ in range(10):
        assert login(client, "officer", "wrong password").status_code == 401
    assert login(client, "officer", PASSWORD).status_code == 429


def test_language_is_switchable_and_remembered(app, world, client_for):
    client = client_for("officer")
    token = csrf_token(client, "/registry/incoming")
    client.post("/locale", data={"locale": "fr", "csrf_token": token, "next": "/registry/incoming"})
    assert '<html lang="fr" dir="ltr">' in client.get("/registry/incoming").get_data(as_text=True)
    client.post("/locale", data={"locale": "ar", "csrf_token": token})
    assert '<html lang="ar" dir="rtl">' in client.get("/registry/incoming").get_data(as_text=True)
    assert world.officer.locale == "ar"
    # remembered on the account: a new browser gets it after signing in
    other_browser = client_for("officer")
    assert 'dir="rtl"' in other_browser.get("/registry/incoming").get_data(as_text=True)
    # an anonymous visitor's choice lives in a cookie
    anonymous = app.test_client()
    anonymous.post("/locale", data={"locale": "fr", "csrf_token": csrf_token(anonymous, "/login")})
    assert '<html lang="fr"' in anonymous.get("/login").get_data(as_text=True)


def test_locale_switch_does_not_redirect_off_site(app):
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/locale", data={"locale": "fr", "csrf_token": token, "next": "//evil.example/"}
    )
    assert response.headers["Location"] == "/"


def test_security_headers(app):
    response = app.test_client().get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_register_list_pages_through_every_letter_once(app, world, client_for):
    app.config["PAGE_SIZE"] = 4
    with app.test_request_context():
        letters = [register(world.officer, subject=f"Courrier {i}") for i in range(10)]
    client = client_for("officer")
    seen, url = [], "/registry/incoming"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += [letter.number for letter in letters if f">{letter.number}</a>" in page]
        marker = 'rel="next" href="'
        url = page.split(marker)[1].split('"')[0].replace("&amp;", "&") if marker in page else None
    assert sorted(seen) == sorted(letter.number for letter in letters)
    assert len(seen) == len(set(seen))


def test_register_list_filters_by_channel_and_day(app, world, client_for):
    with app.test_request_context():
        by_post = register(world.officer, subject="Par la poste", channel="post")
        by_mail = register(world.officer, subject="Par courriel", channel="email")
    yesterday = by_post.registered_at - timedelta(days=1)
    db.session.execute(
        update(Letter).where(Letter.id == by_post.id).values(registered_at=yesterday)
    )
    db.session.commit()
    client = client_for("officer")
    page = client.get("/registry/incoming?channel=email").get_data(as_text=True)
    assert by_mail.number in page and by_post.number not in page
    day = yesterday.date().isoformat()
    page = client.get(f"/registry/incoming?date_from={day}&date_to={day}").get_data(as_text=True)
    assert by_post.number in page and by_mail.number not in page
    # a malformed cursor or date is ignored, not an error
    assert client.get("/registry/incoming?after=%%%&date_from=notadate").status_code == 200


def test_csv_export_opens_with_arabic_intact(app, world, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="=طلب رخصة البناء", correspondent="شركة الأطلس")
    response = client_for("officer").get("/registry/incoming/export.csv")
    assert response.status_code == 200
    assert response.data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets detect UTF-8
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[1][0] == letter.number
    assert "شركة الأطلس" in rows[1]
    assert "'=طلب رخصة البناء" in rows[1]  # formula injection neutralised


def test_pdf_export_of_the_day(app, world, client_for):
    with app.test_request_context():
        letter = register(world.officer, subject="طلب رخصة البناء")
    client = client_for("officer")
    token = csrf_token(client, "/registry/incoming")
    client.post("/locale", data={"locale": "ar", "csrf_token": token})
    response = client.get("/registry/incoming/export.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert letter.number in text


def test_export_over_the_limit_is_refused_not_cut(app, world, client_for, monkeypatch):
    from app.services import register_export

    monkeypatch.setitem(register_export.MAX_ROWS, "csv", 2)
    with app.test_request_context():
        for i in range(3):
            register(world.officer, subject=f"Courrier {i}")
    client = client_for("officer")
    response = client.get("/registry/incoming/export.csv")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "More than 2 letters in this period" in page


def test_displayed_times_and_day_boundaries_use_the_same_zone_data():
    """Babel (pytz) formats the times; app.timezones cuts the days: they must agree."""
    from datetime import UTC, datetime

    import pytz
    from babel.dates import format_time

    from app.timezones import to_local

    moment = datetime(2026, 11, 23, 12, 0)
    for name in ("Africa/Casablanca", "Africa/Algiers", "Africa/Tunis"):
        shown = format_time(moment.replace(tzinfo=UTC), "HH:mm", tzinfo=pytz.timezone(name))
        assert shown == to_local(moment, name).strftime("%H:%M"), name


def test_hijri_dates_are_shown_when_the_user_chooses(app, world, client_for):
    from datetime import date

    with app.test_request_context():
        letter = register(world.officer, received_on=date(2026, 11, 23))
    client = client_for("officer")
    assert "Jumada" not in client.get(f"/letters/{letter.id}").get_data(as_text=True)
    token = csrf_token(client, "/account")
    client.post("/account/preferences", data={"csrf_token": token, "show_hijri": "y"})
    page = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert '<span class="hijri">(13 Jumada al-Akhirah 1448)</span>' in page
