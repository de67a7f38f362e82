"""The dashboard in a real browser, in Arabic and in French: an administrator and a department
head open it from the main menu, read the figures and the chart, and follow a figure to the
letters behind it. The administrator then publishes the transparency page, which a visitor
reaches from the e-counter. Screenshots: test-artifacts/screenshots/dashboard-*.png and
transparency-ar.png.

The data set is tests/dashboards/ui_dataset.py's. As in the other browser tests, elements are
found by names, classes and data attributes, never by the interface wording.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_registry_browser import sign_in, switch_language
from tests.dashboards.ui_dataset import build
from tests.portal.conftest import _fresh_key_cache  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def data(app, world, client_for, _fresh_key_cache):  # noqa: F811
    return build(app, world, client_for)


def open_dashboard(page: Page) -> None:
    page.locator('nav.mainnav a[href="/dashboard"]').click()
    expect(page.locator("svg#chart-volumes")).to_be_visible()


def volume_bars_run_towards(page: Page, language: str) -> None:
    """The first day of the period is at the start edge: left in French, right in Arabic."""
    bars = page.locator("svg#chart-volumes rect.series-0")
    xs = bars.evaluate_all("rects => rects.map(r => r.getBoundingClientRect().x)")
    assert len(xs) > 1
    assert xs == sorted(xs, reverse=language == "ar")


def test_dashboard_in_arabic_and_french(data, page: Page, fresh_page, screenshots_dir):
    for language in ("ar", "fr"):
        sign_in(page, "admin", language) if language == "ar" else switch_language(page, "fr")
        open_dashboard(page)
        expect(page.locator('.dash-tile [data-value="received"]')).to_have_text("11")
        expect(page.locator("svg#chart-volumes")).to_have_attribute(
            "direction", "rtl" if language == "ar" else "ltr"
        )
        volume_bars_run_towards(page, language)
        page.screenshot(path=screenshots_dir / f"dashboard-{language}.png", full_page=True)
        # A figure leads to its letters: 11 received, the confidential one not shown.
        page.locator('a[data-figure="received"]').first.click()
        total = page.locator(".dash-total")
        expect(total).to_have_attribute("data-total", "11")
        expect(total).to_have_attribute("data-hidden", "1")
        expect(page.locator("table.dash-letters tbody tr")).to_have_count(10)
        page.screenshot(path=screenshots_dir / f"dashboard-letters-{language}.png")

    # The administrator publishes the transparency page; anyone can then read it.
    page.goto("/admin/transparency")
    page.locator('input[name="publish"]').check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    visitor = fresh_page()
    visitor.goto("/portal/mtn/")
    visitor.locator('a[href="/transparency/mtn"]').click()
    switch_language(visitor, "ar")
    expect(visitor.locator('.dash-tile [data-value="received"]')).to_have_text("11")
    visitor.screenshot(path=screenshots_dir / "transparency-ar.png", full_page=True)

    head = fresh_page()
    for language in ("fr", "ar"):
        sign_in(head, "head.dsi", language) if language == "fr" else switch_language(head, "ar")
        open_dashboard(head)
        # DSI alone: L4 L5 L8 L10 L11 received, L5 overdue.
        expect(head.locator('.dash-tile [data-value="received"]')).to_have_text("5")
        expect(head.locator("#table-departments")).to_have_count(0)
        head.screenshot(path=screenshots_dir / f"dashboard-head-{language}.png", full_page=True)
        head.locator('a[data-figure="overdue"]').click()
        expect(head.locator("table.dash-letters tbody tr")).to_have_count(1)
        expect(head.locator("table.dash-letters td.number")).to_have_text(data.numbers["L5"])
        head.go_back()
