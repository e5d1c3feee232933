"""The workspace page in a real browser: the members panel's invitation links."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import STUB_CLIPBOARD_JS

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


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
