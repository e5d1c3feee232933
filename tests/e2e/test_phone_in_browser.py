"""Every page on a phone: 390 px wide, nothing scrolls sideways, and the composer stays in reach."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, ViewportSize, expect

from api.services import api_token_create
from documents.services import document_create
from harness.live_stack import LiveStack
from knowledge.models import Source
from tests.factories import PASSWORD, AssistantMessageFactory, MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
LONG_WORD = "https://example.com/" + "a-very-long-address-without-breaks" * 4
CODE = "```python\nprint('" + "a line of code longer than any phone is wide " * 3 + "')\n```"

# Each page as a path made from the team's objects, and what shows that it has loaded.
PAGES: dict[str, tuple[Callable[..., str], str]] = {
    "login": (lambda objects: "/login/", "form"),
    "workspaces": (lambda objects: "/", "main"),
    "workspace": (lambda objects: f"/w/{objects['workspace']}/", "h1"),
    "thread": (lambda objects: f"/t/{objects['thread']}/", "#connection[data-state=live]"),
    "document": (lambda objects: f"/d/{objects['document']}/", "#document-editor .cm-editor"),
    "sources": (lambda objects: f"/w/{objects['workspace']}/sources/", "tr.source"),
    "search": (lambda objects: f"/w/{objects['workspace']}/search/?q=release", "main"),
    "tokens": (lambda objects: "/settings/tokens/", "main"),
}

# What sticks out on the right, outermost first: named in the failure, to know what to fix.
WIDER_THAN_THE_SCREEN_JS = """(width) => Array.from(document.querySelectorAll("body *"))
  .filter((element) => element.getBoundingClientRect().right > width + 0.5)
  .filter((element) => !element.parentElement.closest("[data-too-wide]")
    && element.setAttribute("data-too-wide", "") === undefined)
  .slice(0, 8)
  .map((element) => `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}`
    + `.${[...element.classList].join(".")} (${Math.round(element.getBoundingClientRect().right)} px)`)"""


@pytest.fixture
def phone(browser: Browser, live_stack: LiveStack) -> Iterator[Page]:
    context = browser.new_context(base_url=live_stack.http_url, viewport=PHONE, is_mobile=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


@pytest.fixture
def objects(team) -> dict[str, int]:
    """A workspace with something on every page, long words and code included; its owner is
    staff, whose top bar has the most links."""
    team.owner.is_staff = True
    team.owner.save(update_fields=["is_staff"])
    MessageFactory.create(thread=team.thread, author=team.owner, body=f"Release notes: {LONG_WORD}")
    MessageFactory.create(thread=team.thread, author=team.member, body=CODE)
    AssistantMessageFactory.create(
        thread=team.thread, status="done", body=f"The release is on Friday. {LONG_WORD}"
    )
    document = document_create(
        workspace=team.workspace, title="Release checklist for the spring", created_by=team.owner
    )
    Source.objects.create(
        workspace=team.workspace,
        kind=Source.Kind.URL,
        title=LONG_WORD,
        url=LONG_WORD,
        status=Source.Status.READY,
        added_by=team.owner,
        chunk_count=12,
    )
    api_token_create(user=team.owner, name="Release script", workspace=team.workspace)
    return {"workspace": team.workspace.pk, "thread": team.thread.pk, "document": document.pk}


@pytest.mark.parametrize("name", list(PAGES))
def test_a_page_fits_a_phone_without_scrolling_sideways(live_stack, team, objects, phone, name):
    path, loaded = PAGES[name]
    if name != "login":
        log_in(phone, team.owner.get_username())
    phone.goto(path(objects))
    expect(phone.locator(loaded).first).to_be_attached()
    if name == "workspace":  # with the members panel showing a new invitation link whole
        phone.get_by_role("button", name="Create link").click()
        expect(phone.get_by_label("Invitation link")).to_be_visible()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / f"phone-{name}.png"))
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (
        f"the {name} page is {width} px wide on a 390 px phone; too wide: "
        + ", ".join(phone.evaluate(WIDER_THAN_THE_SCREEN_JS, PHONE["width"]))
    )


def test_on_a_phone_the_menu_button_opens_the_sidebar_and_it_fits(live_stack, team, objects, phone):
    log_in(phone, team.owner.get_username())
    phone.goto(f"/t/{team.thread.pk}/")
    sidebar = phone.locator("#sidebar")
    expect(sidebar).to_be_hidden()

    phone.get_by_role("button", name="Menu").click()

    expect(sidebar.get_by_role("link", name="Release planning")).to_be_visible()
    expect(sidebar.get_by_role("link", name="API tokens")).to_be_visible()  # not in the top bar
    expect(sidebar.get_by_role("link", name="Admin")).to_be_visible()
    expect(phone.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.get_by_role("button", name="Menu").click()
    expect(sidebar).to_be_hidden()


def test_on_a_phone_the_composer_is_in_view_below_the_thread(live_stack, team, objects, phone):
    log_in(phone, team.owner.get_username())
    phone.goto(f"/t/{team.thread.pk}/")
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")

    composer = phone.locator("#composer-body")
    expect(composer).to_be_in_viewport()
    expect(phone.get_by_role("button", name="Send")).to_be_in_viewport()
