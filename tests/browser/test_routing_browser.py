"""The routing acceptance flow in a real browser, each person in their own browser context.

The registry routes a letter to DRH for action with a copy to DSI; the head of DRH accepts it and
passes it to an agent, who annotates and closes it; DSI reads its copy without acting on it; DAJ
sees nothing; the registry finds the whole story in the letter's history.

As in test_registry_browser.py, elements are found by form field names, classes and page
structure, and the assertions are on the data typed in (and on the people's names), never on
the interface wording, which is still being translated.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import User
from tests.browser.test_registry_browser import (
    FRENCH_LETTER,
    expect_language,
    register_letter,
    sample_pdf,  # noqa: F401  (fixture)
    sign_in,
    switch_language,
)
from tests.test_routing import departments  # noqa: F401  (fixture: DRH, DSI, DAJ, heads, agents)

pytestmark = pytest.mark.browser

TABS = ("new", "in_progress", "due_soon", "overdue", "copies")
NOTE = "Dossier complet : l'intéressée remplit les conditions, réponse favorable."
CLOSING_COMMENT = "Réponse favorable envoyée par courrier le jour même."
ACTION_BUTTONS = ("accept", "pass", "return", "extend", "clock", "close", "add_note")


def letter_path(letter_id: int) -> str:
    return f"/letters/{letter_id}"


def open_inbox_tab(page: Page, tab: str) -> None:
    page.locator(f"nav.tabs a.tab-{tab}").click()
    expect(page).to_have_url(re.compile(rf"/inbox\?tab={tab}$"))
    expect(page.locator(f"nav.tabs a.tab-{tab}")).to_have_attribute("aria-current", "page")


def expect_count(page: Page, tab: str, count: int) -> None:
    expect(page.locator(f"nav.tabs a.tab-{tab} .count")).to_have_text(str(count))


def inbox_row(page: Page, letter_id: int):
    link = page.locator(f'td.number a[href$="{letter_path(letter_id)}"]')  # relative to the row
    return page.locator("table.inbox tbody tr").filter(has=link)


def open_from_inbox(page: Page, letter_id: int) -> None:
    inbox_row(page, letter_id).locator("td.number a").click()
    expect(page).to_have_url(re.compile(rf"{letter_path(letter_id)}$"))


def expect_success(page: Page) -> None:
    expect(page.locator("p.flash.flash-success")).to_be_visible()
    expect(page.locator("p.flash.flash-error")).to_have_count(0)


def action_assignment(page: Page):
    return page.locator("section.processing ul.assignments li.assignment-action")


def user_id(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def test_letter_routed_accepted_passed_annotated_and_closed(
    world,
    departments,  # noqa: F811
    fresh_page,
    sample_pdf,  # noqa: F811
    screenshots_dir,
):
    letter = FRENCH_LETTER

    # 1. The registry registers the letter with its PDF and routes it: DRH acts, DSI gets a copy.
    officer = fresh_page()
    sign_in(officer, "officer", "fr")
    letter_id = register_letter(officer, letter, sample_pdf)
    route = officer.locator("section.processing form.route-form")
    route.locator('select[name="action_department_id"]').select_option(str(departments.drh.id))
    route.locator('select[name="copy_department_ids"]').select_option([str(departments.dsi.id)])
    route.locator("button[type=submit]").click()
    expect(officer).to_have_url(re.compile(rf"{letter_path(letter_id)}$"))
    expect_success(officer)
    expect(action_assignment(officer)).to_have_class(re.compile(r"\bstate-pending\b"))
    expect(action_assignment(officer)).to_contain_text(departments.drh.name_fr)
    expect(officer.locator("ul.assignments li.assignment-copy")).to_contain_text(
        departments.dsi.name_fr
    )
    expect(officer.locator("form.route-form")).to_have_count(0)  # routed once, while open

    # 2. The head of DRH finds it in the "new" tab (in Arabic, for the screenshot), accepts it
    #    and passes it to the department's agent.
    head = fresh_page()
    sign_in(head, "head.drh", "ar")
    expect(head).to_have_url(re.compile(r"/inbox$"))  # a department's start page is its inbox
    expect(head.locator("nav.tabs a.tab-new")).to_have_attribute("aria-current", "page")
    expect_count(head, "new", 1)
    expect_count(head, "in_progress", 0)
    expect_count(head, "copies", 0)
    expect(inbox_row(head, letter_id)).to_contain_text(letter.subject)
    expect(inbox_row(head, letter_id)).to_contain_text(letter.correspondent)
    head.screenshot(path=screenshots_dir / "routing-1-head-inbox-ar.png", full_page=True)
    open_from_inbox(head, letter_id)
    expect_language(head, "ar")
    expect(head.locator("dl.meta dd.subject")).to_have_text(letter.subject)
    head.screenshot(path=screenshots_dir / "routing-2-head-letter-ar.png", full_page=True)
    head.locator('.head-actions button[name="accept"]').click()
    expect_success(head)
    expect(action_assignment(head)).to_have_class(re.compile(r"\bstate-accepted\b"))
    expect(head.locator('button[name="accept"]')).to_have_count(0)
    head.locator('.head-actions select[name="agent_id"]').select_option(str(user_id("agent.drh")))
    head.locator('.head-actions button[name="pass"]').click()
    expect_success(head)
    expect(action_assignment(head)).to_contain_text("Agent.Drh")

    # 4 (before the close, since closing empties the inboxes). The copy department reads the
    #    letter in its "copies" tab but has nothing to act with.
    copy_head = fresh_page()
    sign_in(copy_head, "head.dsi", "fr")
    expect_count(copy_head, "copies", 1)
    expect_count(copy_head, "new", 0)
    expect_count(copy_head, "in_progress", 0)
    open_inbox_tab(copy_head, "copies")
    open_from_inbox(copy_head, letter_id)
    expect(copy_head.locator("dl.meta dd.subject")).to_have_text(letter.subject)
    for name in ACTION_BUTTONS:
        expect(copy_head.locator(f'button[name="{name}"]')).to_have_count(0)
    expect(copy_head.locator("section.notes form")).to_have_count(0)
    expect(copy_head.locator('textarea[name="body"]')).to_have_count(0)
    expect(copy_head.locator("form.route-form")).to_have_count(0)

    # 3. The agent finds it "in progress", adds a department-only note, drafts the reply and
    #    dispatches it: the reply is registered as an outgoing letter and this one is closed.
    agent = fresh_page()
    sign_in(agent, "agent.drh", "fr")
    expect_count(agent, "in_progress", 1)
    expect_count(agent, "new", 0)
    open_inbox_tab(agent, "in_progress")
    expect(inbox_row(agent, letter_id)).to_contain_text("Agent.Drh")
    open_from_inbox(agent, letter_id)
    notes = agent.locator("section.notes")
    notes.locator('textarea[name="body"]').fill(NOTE)
    notes.locator('input[type="checkbox"][name="department_only"]').check()
    notes.locator('button[name="add_note"]').click()
    expect_success(agent)
    note = agent.locator("section.notes article.note")
    expect(note).to_have_count(1)
    expect(note.locator(".note-body")).to_have_text(NOTE)
    expect(note.locator(".note-meta")).to_contain_text("Agent.Drh")
    expect(note.locator(".note-meta .badge")).to_have_count(1)  # department only
    agent.locator('button[name="start_reply"]').click()
    expect(agent).to_have_url(re.compile(rf"{letter_path(letter_id)}/reply$"))
    agent.locator('textarea[name="body"]').fill(CLOSING_COMMENT)
    agent.locator('button[name="save"]').click()
    expect_success(agent)
    agent.locator('select[name="channel"]').select_option("email")
    agent.locator('button[name="dispatch"]').click()
    expect_success(agent)
    expect(agent.locator("h1 .number")).to_contain_text("/D/000001")  # the outgoing reply
    agent.goto(letter_path(letter_id))
    expect(agent.locator("section.processing > p.badge")).to_be_visible()  # closed · outcome
    expect(action_assignment(agent)).to_have_class(re.compile(r"\bstate-closed\b"))
    for name in ACTION_BUTTONS:
        expect(agent.locator(f'button[name="{name}"]')).to_have_count(0)
    agent.screenshot(path=screenshots_dir / "routing-3-letter-closed-fr.png", full_page=True)
    switch_language(agent, "ar")
    expect(agent).to_have_url(re.compile(rf"{letter_path(letter_id)}$"))
    agent.screenshot(path=screenshots_dir / "routing-4-letter-closed-ar.png", full_page=True)
    agent.goto("/inbox?tab=in_progress")
    expect_count(agent, "in_progress", 0)  # a closed letter leaves the inboxes

    # The copy department still reads the closed letter, without the DRH-only note.
    copy_head.reload()
    expect(copy_head.locator("dl.meta dd.subject")).to_have_text(letter.subject)
    expect(copy_head.locator("section.notes article.note")).to_have_count(0)

    # 5. Another department: the letter does not exist for it.
    other = fresh_page()
    sign_in(other, "head.daj", "fr")
    for tab in TABS:
        expect_count(other, tab, 0)
    for tab in TABS:
        open_inbox_tab(other, tab)
        expect(other.locator(f'table.inbox a[href$="{letter_path(letter_id)}"]')).to_have_count(0)
    response = other.goto(letter_path(letter_id))
    assert response is not None and response.status == 404
    expect(other.locator("main h1")).to_have_text("404")
    expect(other.locator("body")).not_to_contain_text(letter.subject)

    # 6. The registry reads the whole story: registered, routed, accepted, passed, note added,
    #    reply drafted, saved, letter closed, reply dispatched; each by whom, oldest first.
    officer.reload()
    expect_language(officer, "fr")
    history = officer.locator("ol.history > li")
    expect(history).to_have_count(9)
    actors = ["Officer", "Officer", "Head.Drh", "Head.Drh", *["Agent.Drh"] * 5]
    for item, actor in zip(history.all(), actors, strict=True):
        expect(item.locator("time[datetime]")).to_have_count(1)
        expect(item.locator("strong")).not_to_be_empty()
        expect(item).to_contain_text(actor)
    labels = [item.locator("strong").inner_text() for item in history.all()]
    assert len(set(labels)) == 9, labels  # nine different actions
    assert not any("." in label for label in labels), labels  # every action has a label
    expect(officer.locator("section.processing > p.badge")).to_be_visible()
    expect(officer.locator("ul.assignments li.assignment-action")).to_contain_text("Agent.Drh")
    officer.screenshot(path=screenshots_dir / "routing-5-officer-history-fr.png", full_page=True)
