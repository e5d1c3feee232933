"""Browser fixtures: Debian's Chromium driven by Playwright's sync API against the live stack."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from harness.browser import CHROMIUM_ARGS, CHROMIUM_PATH
from harness.live_stack import LiveStack
from harness.ws_client import session_key

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
ALLOW_ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="package")
def browser(live_stack: LiveStack) -> Iterator[Browser]:
    """One headless Chromium for the browser tests; each user gets a context (own cookies) of it.

    Package-scoped, not session-scoped: between calls Playwright's sync API marks its asyncio
    loop as running in the test thread, so while it is up pytest-asyncio cannot run async tests
    (``Runner.run() cannot be called from a running event loop``). Closing it when this package
    ends lets ``tests/test_live_assistant.py`` and the like run in the same session.

    For the same reason Django's guard against ORM calls from async code would raise
    SynchronousOnlyOperation for the (synchronous) ORM calls the tests and fixtures make between
    browser steps, so DJANGO_ALLOW_ASYNC_UNSAFE is set while Playwright is up, and only then.
    The live stack is requested first so that daphne and the worker, which copy this process's
    environment when they start, keep the guard on.
    """
    if not Path(CHROMIUM_PATH).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM_PATH}. Install it with "
            "`sudo apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM_PATH to a "
            "Chromium or Chrome executable. Playwright's own browser download is not used.",
            pytrace=False,
        )
    previous = os.environ.get(ALLOW_ASYNC_UNSAFE)
    os.environ[ALLOW_ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop(ALLOW_ASYNC_UNSAFE, None)
        else:
            os.environ[ALLOW_ASYNC_UNSAFE] = previous


# What a page must show, it may take as long to show as an action may take to happen (the
# browser contexts' default below): CI runs both tiers at once on two cores, and a live stack
# on each, so a page can be slower than Playwright's 5 s assertion default while being right.
expect.set_options(timeout=15_000)

LogIn = Callable[[object], Page]


@pytest.fixture
def logged_in_page(browser: Browser, live_stack: LiveStack) -> Iterator[LogIn]:
    """``logged_in_page(user)``: a page in a fresh browser context, logged in, on the page a
    login lands on.

    The session is made here, as the socket tests make theirs (``harness.ws_client``), and
    handed to the browser as its cookie: a login through the form costs a second of the
    browser worker's time (the password's hash is slow on purpose), and a hundred tests log
    in. The form itself has its own test (``test_workspace_in_browser.py``).
    """
    contexts = []

    def log_in(user: object) -> Page:
        context = browser.new_context(base_url=live_stack.http_url, viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        session = session_key(user)
        name, url = settings.SESSION_COOKIE_NAME, live_stack.http_url
        context.add_cookies([{"name": name, "value": session, "url": url, "httpOnly": True}])
        page = context.new_page()
        page.goto(resolve_url(settings.LOGIN_REDIRECT_URL))
        expect(page.locator(".topbar .who")).to_have_text(user.get_username())  # type: ignore[attr-defined]
        return page

    yield log_in
    for context in contexts:
        context.close()


@pytest.fixture
def log_in(logged_in_page: LogIn) -> Iterator[LogIn]:
    """``logged_in_page``, then a check that no page broke the CSP or threw an uncaught error.

    Chromium logs each CSP violation (an inline style attribute, say) as a console error.
    """
    problems: list[str] = []

    def log_in_watched(user: object) -> Page:
        page = logged_in_page(user)
        page.on("console", lambda message: problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        return page

    yield log_in_watched
    assert not [
        problem
        for problem in problems
        if "Content Security Policy" in problem or problem.startswith("uncaught")
    ]


# The clipboard, stubbed in the page only: what the page copies is kept in window.__copied.
STUB_CLIPBOARD_JS = """() => {
  window.__copied = [];
  Object.defineProperty(navigator, "clipboard", {
    configurable: true,
    value: { writeText: (text) => { window.__copied.push(text); return Promise.resolve(); } },
  });
}"""
