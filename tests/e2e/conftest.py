"""Browser fixtures: Debian's Chromium driven by Playwright's sync API against the live stack."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test's own thread (in a greenlet), so
# Django's guard against ORM calls from async code would raise SynchronousOnlyOperation for the
# ORM queries the tests and fixtures make between browser steps. Nothing here is really async.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.factories import PASSWORD
from tests.live_stack import LiveStack

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; each user gets a context (own cookies) of it."""
    if not Path(CHROMIUM_PATH).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM_PATH}. Install it with "
            "`sudo apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM_PATH to a "
            "Chromium or Chrome executable. Playwright's own browser download is not used.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


LogIn = Callable[[object], Page]


@pytest.fixture
def logged_in_page(browser: Browser, live_stack: LiveStack) -> Iterator[LogIn]:
    """``logged_in_page(user)``: a page in a fresh browser context, logged in through the form."""
    contexts = []

    def log_in(user: object) -> Page:
        context = browser.new_context(base_url=live_stack.http_url, viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(live_stack.http_url + "/login/")
        page.fill("input[name=username]", user.get_username())  # type: ignore[attr-defined]
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        expect(page.locator(".topbar .who")).to_have_text(user.get_username())  # type: ignore[attr-defined]
        return page

    yield log_in
    for context in contexts:
        context.close()
