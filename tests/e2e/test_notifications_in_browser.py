"""Mentions and the inbox in a real browser, with two people: alice mentions bob; and turning
push on for a workspace in the browser."""

import base64
import os

import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from notifications.models import PushSubscription

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


# The push service, stubbed at the browser's boundary only (headless Chromium reaches none):
# pushManager hands out a subscription to a push service's URL with well-formed keys, and keeps
# it across pages (in localStorage) as the browser would. The service worker is the real one.
STUB_PUSH_SERVICE_JS = """
(() => {
  const subscription = (json) => json && {
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: () => { localStorage.removeItem("stub-push"); return Promise.resolve(true); },
  };
  PushManager.prototype.subscribe = function (options) {
    const json = {endpoint: "https://push.example.com/bobs-laptop", expirationTime: null,
                  keys: {p256dh: "%(p256dh)s", auth: "%(auth)s"}};
    localStorage.setItem("stub-push", JSON.stringify(json));
    localStorage.setItem("stub-push-server-key", String(options.applicationServerKey.length));
    return Promise.resolve(subscription(json));
  };
  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(subscription(JSON.parse(localStorage.getItem("stub-push"))));
  };
})();
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_push_is_turned_on_by_a_click_with_the_real_service_worker_and_off_again(
    live_stack, team, log_in
):
    bob = log_in(team.member)
    bob.context.grant_permissions(["notifications"], origin=live_stack.http_url)
    keys = {"p256dh": b64(b"\x04" + os.urandom(64)), "auth": b64(os.urandom(16))}
    bob.context.add_init_script(STUB_PUSH_SERVICE_JS % keys)
    bob.goto("/inbox/")
    toggle = bob.locator(f'.push-toggle[data-workspace="{team.workspace.pk}"]')
    expect(toggle).to_have_text("Turn on")
    expect(toggle).to_be_enabled()
    registered = (
        "() => navigator.serviceWorker.getRegistration('/').then((r) => r ? r.scope : null)"
    )
    assert bob.evaluate(registered) is None  # nothing registers or subscribes on load

    toggle.click()

    expect(toggle).to_have_text("Turn off")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert bob.evaluate(registered) == live_stack.http_url + "/"  # the whole site
    assert bob.evaluate("localStorage.getItem('stub-push-server-key')") == "65"
    subscription = PushSubscription.objects.get()
    assert (subscription.person, subscription.workspace) == (team.member, team.workspace)
    assert (subscription.p256dh, subscription.auth) == (keys["p256dh"], keys["auth"])

    bob.reload()  # the page reads what is on for this browser
    expect(toggle).to_have_text("Turn off")
    toggle.click()

    expect(toggle).to_have_text("Turn on")
    assert not PushSubscription.objects.exists()
    assert bob.evaluate("localStorage.getItem('stub-push')") is None  # the browser let go too
