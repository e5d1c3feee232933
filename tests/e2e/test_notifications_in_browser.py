"""Mentions and the inbox in a real browser, with two people: alice mentions bob."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from tests.e2e.conftest import LogIn

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

# The browser's boundary, stubbed in the page only: the tab is hidden, and the Notifications
# API grants permission when asked and records what it is told to show in window.__shown.
HIDDEN_TAB_WITH_NOTIFICATIONS_JS = """() => {
  window.__shown = [];
  window.__asked = 0;
  class StubNotification {
    constructor(title, options) { window.__shown.push({title, body: options.body}); }
    static requestPermission() {
      window.__asked += 1;
      StubNotification.permission = "granted";
      return Promise.resolve("granted");
    }
  }
  StubNotification.permission = "default";
  window.Notification = StubNotification;
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
}"""


@pytest.fixture
def log_in(logged_in_page: LogIn) -> Iterator[LogIn]:
    """``logged_in_page``, failing the test if a page broke the CSP or threw an error."""
    problems: list[str] = []

    def watched(user: object) -> Page:
        page = logged_in_page(user)
        page.on("console", lambda message: problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        return page

    yield watched
    assert not [
        problem
        for problem in problems
        if "Content Security Policy" in problem or problem.startswith("uncaught")
    ]


def bell_live(page: Page) -> None:
    """Wait until the page's inbox socket has said the count: from then on it follows."""
    expect(page.locator("#inbox-bell")).to_have_attribute("data-state", "live")
    expect(page.locator("#inbox-unread")).to_have_attribute("data-count", "0")


def test_a_mention_reaches_the_other_persons_inbox_live_and_a_hidden_tab_notifies(
    live_stack, team, log_in
):
    alice, bob = log_in(team.owner), log_in(team.member)
    bob.goto("/inbox/")
    bob.evaluate(HIDDEN_TAB_WITH_NOTIFICATIONS_JS)
    assert bob.evaluate("window.__asked") == 0  # never asked on load
    bob.get_by_role("button", name="Show browser notifications").click()
    expect(bob.locator("#browser-notifications-state")).to_have_text("On in this browser.")
    bell_live(bob)

    alice.goto(f"/t/{team.thread.pk}/")
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    composer = alice.locator("#composer-body")
    composer.press_sequentially("can you look at this, @b")
    suggestion = alice.locator("#handle-suggestions [data-handle=bob]")
    expect(suggestion).to_be_visible()
    composer.press("ArrowDown")
    expect(alice.locator('#handle-suggestions [aria-selected="true"]')).to_have_count(1)
    composer.press("Tab")
    expect(composer).to_have_value("can you look at this, @bob ")
    composer.press("Enter")

    mention = alice.locator("#transcript .message.user .body a.mention")
    expect(mention).to_have_text("@bob")
    expect(mention).to_have_attribute("href", f"/people/{team.member.pk}/")
    expect(bob.locator("#inbox-unread")).to_have_text("1")
    item = bob.locator("#inbox-list .notification.unread")
    expect(item).to_contain_text("alice mentioned you in Release planning")
    bob.wait_for_function("() => window.__shown.length === 1")
    shown = bob.evaluate("window.__shown[0]")
    assert shown["body"] == (
        "alice mentioned you in Release planning: “can you look at this, @bob”"
    )
    assert team.workspace.name in shown["title"]
    expect(alice.locator("#inbox-unread")).to_be_hidden()  # nothing for the author

    with bob.expect_navigation():
        item.get_by_role("button", name="alice mentioned you").click()
    message = Message.objects.get(thread=team.thread)
    assert bob.url.endswith(f"/t/{team.thread.pk}/#message-{message.pk}")
    expect(bob.locator("#inbox-unread")).to_be_hidden()


def test_a_visible_tab_shows_no_browser_notification(live_stack, team, log_in):
    alice, bob = log_in(team.owner), log_in(team.member)
    bob.goto("/inbox/")
    bob.evaluate(HIDDEN_TAB_WITH_NOTIFICATIONS_JS)
    bob.evaluate("() => Object.defineProperty(document, 'visibilityState', {get: () => 'visible'})")
    bob.get_by_role("button", name="Show browser notifications").click()
    bell_live(bob)

    alice.goto(f"/t/{team.thread.pk}/")
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    alice.locator("#composer-body").fill("@bob look")
    alice.locator("#composer-body").press("Enter")

    expect(bob.locator("#inbox-unread")).to_have_text("1")
    expect(bob.locator("#inbox-list .notification")).to_have_count(1)
    assert bob.evaluate("window.__shown") == []
