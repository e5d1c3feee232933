"""Logging in, and the workspace page, in a real browser: the members panel's invitation links."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import STUB_CLIPBOARD_JS, VIEWPORT
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_a_person_logs_in_through_the_form_and_a_wrong_password_is_refused(
    live_stack, team, browser
):
    context = browser.new_context(base_url=live_stack.http_url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"/w/{team.workspace.pk}/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))

    page.get_by_label("Username").fill(team.owner.username)
    page.get_by_label("Password").fill(PASSWORD + "-wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")

    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/w/{team.workspace.pk}/$"))
    expect(page.locator(".topbar .who")).to_have_text(team.owner.username)
    context.close()


def test_an_owner_sees_a_new_invitation_link_whole_and_copies_it(live_stack, team, logged_in_page):
    alice = logged_in_page(team.owner)
    alice.goto(f"/w/{team.workspace.pk}/")

    alice.get_by_role("button", name="Create link").click()

    link = alice.get_by_label("Invitation link")
    expect(link).to_have_value(re.compile(r"^http://.+/invite/.+/$"))
    assert link.evaluate(
        "field => field.scrollWidth <= field.clientWidth && field.scrollHeight <= field.clientHeight"
    ), "the whole link shows, none of it scrolled out of sight"
    alice.evaluate(STUB_CLIPBOARD_JS)
    alice.get_by_role("button", name="Copy", exact=True).click()
    expect(alice.get_by_role("button", name="Copied")).to_be_visible()
    assert alice.evaluate("window.__copied") == [link.input_value()]
